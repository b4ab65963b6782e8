//! The launcher's SAML half: a member sees their team's SPs that allow a sign-on started at
//! Latchkey, each with its team-aware `/saml/init`, and nothing of any other team.

use latchkey_core::SamlSpId;
use latchkey_teams::Role;
use latchkey_testkit::Team;

use super::fixture::Fixture;
use crate::SamlError;

#[tokio::test]
async fn a_member_sees_the_teams_sps_that_may_be_opened_from_latchkey() {
    let f = Fixture::new().await;
    let helpdesk = f.sp(|_| {}).await;
    let unopenable = f
        .sp(|sp| {
            sp.entity_id = "https://crm.example.test/metadata".into();
            sp.name = Some("CRM".into());
            sp.idp_initiated = false;
        })
        .await;

    let openable = f.sps.openable_by(&f.team.id, &f.bo.user_id).await.unwrap();

    let ids: Vec<&SamlSpId> = openable.iter().map(|sp| &sp.sp_id).collect();
    assert_eq!(ids, vec![&helpdesk.sp_id]);
    assert!(!ids.contains(&&unopenable.sp_id));
    assert_eq!(openable[0].name, "Helpdesk");
    let init = url::Url::parse(&openable[0].init_url).unwrap();
    assert_eq!(init.path(), latchkey_core::urls::SAML_INIT);
    let query: Vec<(String, String)> = init.query_pairs().into_owned().collect();
    assert!(query.contains(&("sp".into(), helpdesk.entity_id.clone())));
    assert!(query.contains(&("team".into(), f.team.id.to_string())));
}

#[tokio::test]
async fn another_teams_sps_are_never_listed_nor_is_a_team_to_an_outsider() {
    let f = Fixture::new().await;
    f.sp(|_| {}).await;
    let globex = Team::found(&f.db, "Globex", "gil@globex.test", f.now).await;
    let hank = globex.add("hank@globex.test", Role::Member, f.now).await;
    f.sps
        .add(
            crate::NewServiceProvider {
                team_id: globex.id.clone(),
                entity_id: "https://globex-sp.example.test/metadata".into(),
                name: Some("Globex desk".into()),
                acs_urls: vec!["https://globex-sp.example.test/acs".into()],
                idp_initiated: true,
                ..Default::default()
            },
            &globex.admin.actor,
            f.now,
        )
        .await
        .unwrap();

    let hanks = f.sps.openable_by(&globex.id, &hank.user_id).await.unwrap();
    assert_eq!(
        hanks.iter().map(|sp| sp.name.as_str()).collect::<Vec<_>>(),
        vec!["Globex desk"]
    );
    // Hank names Acme: he is not in it, so he learns nothing of its SPs.
    let refused = f.sps.openable_by(&f.team.id, &hank.user_id).await;
    assert!(matches!(refused, Err(SamlError::Team(_))), "{refused:?}");
    // Cy is in no team.
    let refused = f.sps.openable_by(&f.team.id, &f.cy.user_id).await;
    assert!(matches!(refused, Err(SamlError::Team(_))), "{refused:?}");
}

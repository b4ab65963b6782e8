//! Tenants are walls: each team its own SAML identity provider, entity IDs a team's own
//! namespace, and SPs registered before teams had their own kept on the shared one until
//! moved. Pairwise keys sealed at rest.

use sea_orm::{ActiveModelTrait, ActiveValue, EntityTrait};

use super::certificates::TrustingSp;
use super::fixture::{ACS, Fixture, SP_ENTITY_ID, posted, redirected};
use crate::entities::service_provider;
use crate::{Identity, NewServiceProvider, SamlError, ServiceProviderChange};

/// Another team, with its own administrator.
async fn globex(f: &Fixture) -> latchkey_testkit::Team {
    latchkey_testkit::Team::found(&f.db, "Globex", "gus@globex.test", f.now).await
}

fn registration(team: &latchkey_testkit::Team) -> NewServiceProvider {
    NewServiceProvider {
        team_id: team.id.clone(),
        entity_id: SP_ENTITY_ID.to_owned(),
        acs_urls: vec![ACS.to_owned()],
        idp_initiated: true,
        ..NewServiceProvider::default()
    }
}

#[tokio::test]
async fn one_entity_id_in_two_teams_reaches_each_team_only_and_twice_in_one_is_refused() {
    let f = Fixture::new().await;
    let acme_sp = f.sp(|_| {}).await;
    let globex = globex(&f).await;
    // Another team takes the same entity ID: it neither blocks nor reaches Acme's.
    let globex_sp = f
        .sps
        .add(registration(&globex), &globex.admin.actor, f.now)
        .await
        .expect("the same entity ID in another team");
    assert_ne!(acme_sp.idp_entity_id, globex_sp.idp_entity_id);
    assert_ne!(acme_sp.idp_sso_url, globex_sp.idp_sso_url);
    for (team, sp) in [(&f.team.id, &acme_sp), (&globex.id, &globex_sp)] {
        let found = f
            .sps
            .by_entity_id(&Identity::Team(team.clone()), SP_ENTITY_ID)
            .await
            .unwrap()
            .expect("found through its own team's identity");
        assert_eq!(found.sp_id, sp.sp_id);
    }
    let shared = f.sps.by_entity_id(&Identity::Shared, SP_ENTITY_ID).await;
    assert!(
        shared.unwrap().is_none(),
        "no new SP is on the shared identity"
    );

    // The same entity ID twice in one team is refused.
    let again = f
        .sps
        .add(registration(&f.team), &f.team.admin.actor, f.now)
        .await;
    assert!(
        matches!(again, Err(SamlError::EntityIdTaken(_))),
        "{again:?}"
    );

    // Each team's responses verify only with its own metadata's certificates.
    let acme = TrustingSp::reads_metadata(&f, &f.identity).await;
    let globex_trust = TrustingSp::reads_metadata(&f, &Identity::Team(globex.id.clone())).await;
    let (_, bo) = f.signed_in(&f.bo).await;
    let response = sign_on(&f, &bo, f.now).await;
    assert!(acme.accepts(&response), "Acme's SP accepts Acme's response");
    assert!(
        !globex_trust.accepts(&response),
        "an SP set up for Globex refuses a response Latchkey signed for Acme"
    );
}

#[tokio::test]
async fn a_request_to_another_teams_identity_finds_no_sp() {
    let f = Fixture::new().await;
    f.sp(|_| {}).await;
    let globex = globex(&f).await;
    // Globex registers nothing; its identity has no SAML SP and no metadata.
    let refused = f
        .sign_ons
        .start(
            &Identity::Team(globex.id.clone()),
            SP_ENTITY_ID,
            None,
            f.now,
        )
        .await;
    assert!(
        matches!(refused, Err(crate::Refusal::UnknownSp)),
        "{refused:?}"
    );
    let metadata = f
        .sign_ons
        .metadata_xml(&Identity::Team(globex.id.clone()), f.now)
        .await;
    assert!(
        matches!(metadata, Err(crate::Refusal::Failed(SamlError::NoIdentity))),
        "{metadata:?}"
    );
}

#[tokio::test]
async fn an_sp_registered_before_teams_had_their_own_identity_keeps_the_shared_one_until_moved() {
    let f = Fixture::new().await;
    let sp = f.sp(|_| {}).await;
    // As a row written before this change: no certificate, a pairwise key in clear.
    let row = service_provider::Entity::find_by_id(sp.sp_id.as_str())
        .one(f.db.read())
        .await
        .unwrap()
        .unwrap();
    let clear_key = "ab".repeat(32);
    let mut legacy = service_provider::ActiveModel::from(row);
    legacy.certificate_id = ActiveValue::Set(None);
    legacy.pairwise_key = ActiveValue::Set(clear_key.clone());
    legacy.update(&*f.db.write().await).await.unwrap();
    f.sps.forget_copies();

    let on_shared = f
        .sps
        .by_entity_id(&Identity::Shared, SP_ENTITY_ID)
        .await
        .unwrap()
        .expect("found on the shared identity");
    assert_eq!(on_shared.identity(), Identity::Shared);
    assert!(on_shared.metadata_url.ends_with("/saml/metadata"));
    let on_team = f.sps.by_entity_id(&f.identity, SP_ENTITY_ID).await.unwrap();
    assert!(
        on_team.is_none(),
        "not reached through the team's identity yet"
    );
    // It is answered, signed with the key ring's key, as before.
    let (_, bo) = f.signed_in(&f.bo).await;
    let shared_trust = TrustingSp::reads_metadata(&f, &Identity::Shared).await;
    let response = sign_on_at(&f, &Identity::Shared, &bo, f.now).await;
    assert!(shared_trust.accepts(&response));

    // Its clear pairwise key is sealed at start; its NameIDs and SessionIndexes stay.
    let before = on_shared.session_index("sid-1");
    let sealed = crate::seal_pairwise_keys(&f.db, &f.master_key, false)
        .await
        .unwrap();
    assert_eq!(sealed, 1);
    let stored = service_provider::Entity::find_by_id(sp.sp_id.as_str())
        .one(f.db.read())
        .await
        .unwrap()
        .unwrap()
        .pairwise_key;
    assert!(stored.starts_with("sealed:") && !stored.contains(&clear_key));
    f.sps.forget_copies();
    let after = f.sps.by_id(sp.sp_id.as_str()).await.unwrap().unwrap();
    assert_eq!(after.session_index("sid-1"), before);

    // Moved, it trusts the team's identity only.
    let change = ServiceProviderChange {
        move_to_team_identity: true,
        ..ServiceProviderChange::default()
    };
    let (moved, changed) = f
        .sps
        .update(&sp.sp_id, change, &f.team.admin.actor, f.now)
        .await
        .unwrap();
    assert_eq!(changed, vec!["identity"]);
    assert_eq!(moved.identity(), f.identity);
    let shared = f.sps.by_entity_id(&Identity::Shared, SP_ENTITY_ID).await;
    assert!(shared.unwrap().is_none());
    let team_trust = TrustingSp::reads_metadata(&f, &f.identity).await;
    let response = sign_on(&f, &bo, f.now).await;
    assert!(team_trust.accepts(&response));
    assert!(!shared_trust.accepts(&response));
}

#[tokio::test]
async fn pairwise_keys_are_stored_sealed() {
    let f = Fixture::new().await;
    let sp = f.sp(|_| {}).await;
    let stored = service_provider::Entity::find_by_id(sp.sp_id.as_str())
        .one(f.db.read())
        .await
        .unwrap()
        .unwrap()
        .pairwise_key;
    assert!(stored.starts_with("sealed:"), "{stored}");
    // Opened, it gives the SP the same identifiers as the copy the registration returned.
    let read = f.sps.by_id(sp.sp_id.as_str()).await.unwrap().unwrap();
    assert_eq!(read.session_index("s"), sp.session_index("s"));
    assert_eq!(read.session_index("s").len(), 41);
}

/// A sign-on started at Latchkey for the team's SP, answered for `user`: the response XML.
pub async fn sign_on(
    f: &Fixture,
    user: &latchkey_login::SessionUser,
    at: chrono::DateTime<chrono::Utc>,
) -> String {
    sign_on_at(f, &f.identity, user, at).await
}

pub async fn sign_on_at(
    f: &Fixture,
    identity: &Identity,
    user: &latchkey_login::SessionUser,
    at: chrono::DateTime<chrono::Utc>,
) -> String {
    let started = f.sign_ons.start(identity, SP_ENTITY_ID, None, at).await;
    let id = super::fixture::kept_id(&redirected(started.expect("started")));
    let answered = f.sign_ons.resume(&id, Some(user), at).await;
    posted(answered.expect("answered")).response_xml()
}

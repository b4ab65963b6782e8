//! Teams in the authorization flow: a team-bound client admits its team's members only, and
//! a session an integration opened speaks for that integration's team only.

use chrono::TimeDelta;
use latchkey_login::Opening;
use latchkey_teams::{Role, Teams};
use latchkey_testkit::Team;

use super::fixture::{Fixture, query_param, redirect_error, redirected, sign_in_asked};
use crate::ErrorCode;

/// The issuer of an HR system that Globex trusts to open sessions.
const GLOBEX_HR: &str = "https://hr.globex.test";

#[tokio::test]
async fn a_team_bound_client_admits_its_members() {
    let f = Fixture::new().await;
    let app = f.client(|c| c.team_id = Some(f.team.id.clone())).await;
    let bo = f.signed_in(&f.bo).await;

    let to = redirected(f.authorize(&app.client, &bo).await);

    assert!(query_param(&to, "code").is_some(), "{to}");
}

#[tokio::test]
async fn a_team_bound_client_refuses_a_person_outside_its_team() {
    let f = Fixture::new().await;
    let app = f.client(|c| c.team_id = Some(f.team.id.clone())).await;
    let cy = f.signed_in(&f.cy).await;

    let next = f
        .start(f.params(&app.client, |_| {}), Some(&cy))
        .await
        .unwrap();

    assert_eq!(redirect_error(next), "access_denied");
}

#[tokio::test]
async fn an_integrations_session_signs_in_to_its_own_teams_client() {
    let f = Fixture::new().await;
    let app = f.client(|c| c.team_id = Some(f.team.id.clone())).await;
    let opening = Opening {
        team_id: Some(&f.team.id),
        opened_by: Some("https://hr.acme.test"),
        ..Opening::default()
    };
    let bo = f.signed_in_at(&f.bo, opening, f.now).await;

    let to = redirected(f.authorize(&app.client, &bo).await);

    assert!(query_param(&to, "code").is_some(), "{to}");
}

#[tokio::test]
async fn an_integrations_session_for_another_team_must_sign_in() {
    let f = Fixture::new().await;
    let acme_app = f.client(|c| c.team_id = Some(f.team.id.clone())).await;
    // Bo works at both; Globex's HR system opened this session.
    let globex = Team::found(&f.db, "Globex", "gia@globex.test", f.now).await;
    globex.add(&f.bo.email, Role::Member, f.now).await;
    let opening = Opening {
        team_id: Some(&globex.id),
        opened_by: Some(GLOBEX_HR),
        ..Opening::default()
    };
    let bo = f.signed_in_at(&f.bo, opening, f.now).await;

    let next = f.start(f.params(&acme_app.client, |_| {}), Some(&bo)).await;
    sign_in_asked(next.unwrap());

    let silent = f.params(&acme_app.client, |p| p.prompt = Some("none".to_owned()));
    let next = f.start(silent, Some(&bo)).await.unwrap();
    assert_eq!(redirect_error(next), "login_required");
}

#[tokio::test]
async fn an_integrations_session_must_sign_in_to_a_client_of_no_team() {
    let f = Fixture::new().await;
    let app = f.client(|_| {}).await;
    let opening = Opening {
        team_id: Some(&f.team.id),
        opened_by: Some("https://hr.acme.test"),
        ..Opening::default()
    };
    let bo = f.signed_in_at(&f.bo, opening, f.now).await;

    let next = f.start(f.params(&app.client, |_| {}), Some(&bo)).await;

    sign_in_asked(next.unwrap());
}

#[tokio::test]
async fn leaving_the_team_ends_a_team_clients_grant_for_good() {
    let f = Fixture::new().await;
    let app = f.client(|c| c.team_id = Some(f.team.id.clone())).await;
    let bo = f.signed_in(&f.bo).await;
    let code = f.code(&app.client, &bo, |_| {}).await;
    let tokens = f.exchange(&app.client, &code, f.now).await.unwrap();
    // Removed with nothing else done: the refresh grant must notice by itself.
    Teams::new(f.db.clone(), TimeDelta::hours(72))
        .remove_member(
            &f.team.id,
            &f.bo.user_id,
            &f.team.admin.actor,
            f.now,
            async |_| Ok(()),
        )
        .await
        .unwrap();

    let refresh = tokens.refresh_token.unwrap();
    let refused = f
        .refresh(&app.client, &refresh, None, f.now)
        .await
        .unwrap_err();
    assert_eq!(refused.code, ErrorCode::InvalidGrant);
    assert!(
        refused.description.contains("no longer a member"),
        "{refused:?}"
    );

    // Taken back later, Bo signs in anew: what the old grant gave stays revoked.
    f.team.add(&f.bo.email, Role::Member, f.now).await;
    assert!(!f.accepted(&tokens.access_token, f.now).await);
}

//! A team's OpenID applications managed from the console: administrators only, never another
//! team's, the same checks on what is registered as the command line's, every change audited,
//! and a rotated secret that keeps working through its grace period, then stops.

use chrono::TimeDelta;
use latchkey_core::ClientId;
use latchkey_keys::SigningAlgorithm;
use latchkey_teams::{Actor, AuditFilter, AuditLog, TeamError};
use latchkey_testkit::Team;

use super::fixture::{Fixture, REDIRECT_URI};
use crate::{
    ApplicationError, ApplicationSettings, Endpoint, ErrorCode, Field, Grace, Presented,
    TeamApplications, WithSecret,
};

fn settings() -> ApplicationSettings {
    ApplicationSettings {
        name: "Helpdesk".to_owned(),
        redirect_uris: vec![REDIRECT_URI.to_owned()],
        post_logout_redirect_uris: Vec::new(),
        scopes: Vec::new(),
        first_party: true,
        pkce_optional: false,
        id_token_alg: SigningAlgorithm::Rs256,
    }
}

fn applications(f: &Fixture) -> TeamApplications {
    TeamApplications::new(f.provider.clients().clone())
}

async fn registered(f: &Fixture) -> WithSecret {
    applications(f)
        .register(&f.team.id, settings(), false, &f.team.admin.actor, f.now)
        .await
        .expect("registered by the administrator")
}

/// Whether `secret` authenticates the application at the token endpoint at `at`.
async fn authenticates(
    f: &Fixture,
    id: &ClientId,
    secret: &str,
    at: chrono::DateTime<chrono::Utc>,
) -> bool {
    let presented = Presented {
        basic: Some((id.to_string(), secret.to_owned())),
        ..Presented::default()
    };
    match f
        .provider
        .authenticator()
        .authenticate(presented, Endpoint::Token, at)
        .await
    {
        Ok(_) => true,
        Err(e) => {
            assert_eq!(e.code, ErrorCode::InvalidClient);
            false
        }
    }
}

#[tokio::test]
async fn an_administrator_registers_a_team_application_that_signs_in_with_its_secret() {
    let f = Fixture::new().await;

    let created = registered(&f).await;

    let app = &created.application;
    assert_eq!(app.team_id.as_ref(), Some(&f.team.id));
    assert_eq!(app.id_token_alg, SigningAlgorithm::Rs256);
    assert!(app.require_pkce && app.first_party && !app.is_public());
    let secret = created.secret.as_deref().expect("a secret, shown once");
    assert!(authenticates(&f, &app.id, secret, f.now).await);
    let listed = applications(&f)
        .list(&f.team.id, &f.team.admin.actor)
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, app.id);
    let events = AuditLog::list(
        f.db.read(),
        Some(&f.team.id),
        &AuditFilter {
            action: Some("application.".to_owned()),
            limit: 10,
            ..AuditFilter::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].action, "application.registered");
    assert_eq!(events[0].subject_id.as_deref(), Some(app.id.as_str()));
    assert_eq!(events[0].actor, f.team.admin.email);
}

#[tokio::test]
async fn a_public_application_gets_no_secret_and_cannot_rotate_one() {
    let f = Fixture::new().await;
    let apps = applications(&f);

    let created = apps
        .register(&f.team.id, settings(), true, &f.team.admin.actor, f.now)
        .await
        .unwrap();

    assert!(created.secret.is_none());
    assert!(created.application.is_public() && created.application.require_pkce);
    let refused = apps
        .rotate_secret(
            &f.team.id,
            created.application.id.as_str(),
            Grace::None,
            &f.team.admin.actor,
            f.now,
        )
        .await
        .unwrap_err();
    assert!(matches!(refused, ApplicationError::NoSecret), "{refused:?}");
}

#[tokio::test]
async fn a_member_may_not_list_register_change_rotate_or_remove() {
    let f = Fixture::new().await;
    let apps = applications(&f);
    let id = registered(&f).await.application.id;
    let bo = &f.bo.actor;

    let forbidden = |r: Result<(), ApplicationError>| {
        assert!(
            matches!(r, Err(ApplicationError::Team(TeamError::Forbidden))),
            "{r:?}"
        );
    };
    forbidden(apps.list(&f.team.id, bo).await.map(drop));
    forbidden(apps.get(&f.team.id, id.as_str(), bo).await.map(drop));
    forbidden(
        apps.register(&f.team.id, settings(), false, bo, f.now)
            .await
            .map(drop),
    );
    forbidden(
        apps.update(&f.team.id, id.as_str(), settings(), bo, f.now)
            .await
            .map(drop),
    );
    forbidden(
        apps.rotate_secret(&f.team.id, id.as_str(), Grace::None, bo, f.now)
            .await
            .map(drop),
    );
    forbidden(
        apps.remove(&f.team.id, id.as_str(), bo, f.now)
            .await
            .map(drop),
    );
    // Someone outside the team learns nothing of it.
    let outside = apps.list(&f.team.id, &f.cy.actor).await.unwrap_err();
    assert!(
        matches!(outside, ApplicationError::Team(TeamError::NotFound)),
        "{outside:?}"
    );
    assert!(
        apps.get(&f.team.id, id.as_str(), &f.team.admin.actor)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn another_teams_application_is_never_found_changed_or_removed() {
    let f = Fixture::new().await;
    let apps = applications(&f);
    let ours = registered(&f).await;
    let globex = Team::found(&f.db, "Globex", "gil@globex.test", f.now).await;
    let gil: &Actor = &globex.admin.actor;
    let id = ours.application.id.as_str();

    let not_found = |r: Result<(), ApplicationError>| {
        assert!(matches!(r, Err(ApplicationError::NotFound)), "{r:?}");
    };
    not_found(apps.get(&globex.id, id, gil).await.map(drop));
    not_found(
        apps.update(&globex.id, id, settings(), gil, f.now)
            .await
            .map(drop),
    );
    not_found(
        apps.rotate_secret(&globex.id, id, Grace::None, gil, f.now)
            .await
            .map(drop),
    );
    not_found(apps.remove(&globex.id, id, gil, f.now).await.map(drop));
    // Unknown ids answer the same.
    not_found(
        apps.get(&f.team.id, "no-such-client", &f.team.admin.actor)
            .await
            .map(drop),
    );
    assert!(apps.list(&globex.id, gil).await.unwrap().is_empty());

    // Ours is untouched: same name, same secret.
    let secret = ours.secret.as_deref().unwrap();
    assert!(authenticates(&f, &ours.application.id, secret, f.now).await);
    let still = apps.get(&f.team.id, id, &f.team.admin.actor).await.unwrap();
    assert_eq!(still.name, "Helpdesk");
}

#[tokio::test]
async fn redirect_uris_must_be_https_or_loopback_without_fragment_and_of_a_sane_length() {
    let f = Fixture::new().await;
    let apps = applications(&f);
    let long = format!("https://app.example.test/{}", "a".repeat(10 * 1024));
    let refused_uris = [
        "https://app.example.test/callback#fragment",
        "http://app.example.test/callback",
        long.as_str(),
        "not a uri",
        "/relative/callback",
    ];
    for uri in refused_uris {
        let mut bad = settings();
        bad.redirect_uris = vec![uri.to_owned()];
        let refused = apps
            .register(&f.team.id, bad, false, &f.team.admin.actor, f.now)
            .await
            .unwrap_err();
        assert!(
            matches!(
                refused,
                ApplicationError::Invalid {
                    field: Field::RedirectUris,
                    ..
                }
            ),
            "{uri:.60}: {refused:?}"
        );
    }
    let mut none = settings();
    none.redirect_uris.clear();
    let refused = apps
        .register(&f.team.id, none, false, &f.team.admin.actor, f.now)
        .await
        .unwrap_err();
    assert!(matches!(
        refused,
        ApplicationError::Invalid {
            field: Field::RedirectUris,
            ..
        }
    ));
    let mut logout = settings();
    logout.post_logout_redirect_uris = vec!["http://app.example.test/bye".to_owned()];
    let refused = apps
        .register(&f.team.id, logout, false, &f.team.admin.actor, f.now)
        .await
        .unwrap_err();
    assert!(
        matches!(
            refused,
            ApplicationError::Invalid {
                field: Field::PostLogoutRedirectUris,
                ..
            }
        ),
        "{refused:?}"
    );
    // Nothing refused was stored; loopback over http is fine (a developer's machine).
    assert!(
        apps.list(&f.team.id, &f.team.admin.actor)
            .await
            .unwrap()
            .is_empty()
    );
    let mut loopback = settings();
    loopback.redirect_uris = vec!["http://127.0.0.1:8080/callback".to_owned()];
    assert!(
        apps.register(&f.team.id, loopback, false, &f.team.admin.actor, f.now)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn names_are_checked_and_kept_as_typed_for_the_page_to_escape() {
    let f = Fixture::new().await;
    let apps = applications(&f);
    for bad in ["", "   ", &"x".repeat(101), "line\nbreak"] {
        let mut named = settings();
        named.name = bad.to_owned();
        let refused = apps
            .register(&f.team.id, named, false, &f.team.admin.actor, f.now)
            .await
            .unwrap_err();
        assert!(
            matches!(
                refused,
                ApplicationError::Invalid {
                    field: Field::Name,
                    ..
                }
            ),
            "{bad:?}"
        );
    }
    let mut html = settings();
    html.name = "<script>alert(1)</script> Desk".to_owned();
    let created = apps
        .register(&f.team.id, html, false, &f.team.admin.actor, f.now)
        .await
        .unwrap();
    assert_eq!(created.application.name, "<script>alert(1)</script> Desk");
}

#[tokio::test]
async fn an_edit_changes_what_is_set_and_keeps_the_id_and_secret() {
    let f = Fixture::new().await;
    let apps = applications(&f);
    let created = registered(&f).await;
    let id = created.application.id.as_str();
    let mut changed = settings();
    changed.name = "Support desk".to_owned();
    changed
        .redirect_uris
        .push("https://app.example.test/other".to_owned());
    changed.scopes = vec!["openid".to_owned(), "email".to_owned()];
    changed.pkce_optional = true;

    let after = apps
        .update(&f.team.id, id, changed, &f.team.admin.actor, f.now)
        .await
        .unwrap();

    assert_eq!(after.name, "Support desk");
    assert_eq!(after.redirect_uris.len(), 2);
    assert_eq!(after.scopes.to_vec(), vec!["openid", "email"]);
    assert!(!after.require_pkce);
    // The token endpoint sees the change at once, and the secret still works.
    let seen = f.provider.clients().find(&after.id).await.unwrap().unwrap();
    assert_eq!(seen.name, "Support desk");
    assert!(authenticates(&f, &after.id, created.secret.as_deref().unwrap(), f.now).await);
    let mut bad = settings();
    bad.redirect_uris = vec!["https://app.example.test/cb#x".to_owned()];
    assert!(
        apps.update(&f.team.id, id, bad, &f.team.admin.actor, f.now)
            .await
            .is_err()
    );
    let kept = apps.get(&f.team.id, id, &f.team.admin.actor).await.unwrap();
    assert_eq!(
        kept.redirect_uris.len(),
        2,
        "a refused edit changes nothing"
    );
}

#[tokio::test]
async fn a_removed_application_stops_at_once() {
    let f = Fixture::new().await;
    let apps = applications(&f);
    let created = registered(&f).await;
    let id = created.application.id.clone();

    apps.remove(&f.team.id, id.as_str(), &f.team.admin.actor, f.now)
        .await
        .unwrap();

    assert!(!authenticates(&f, &id, created.secret.as_deref().unwrap(), f.now).await);
    assert!(
        apps.list(&f.team.id, &f.team.admin.actor)
            .await
            .unwrap()
            .is_empty()
    );
    let again = apps
        .remove(&f.team.id, id.as_str(), &f.team.admin.actor, f.now)
        .await;
    assert!(matches!(again, Err(ApplicationError::NotFound)));
}

#[tokio::test]
async fn tokens_through_the_old_secret_keep_working_for_the_grace_period_then_stop() {
    let f = Fixture::new().await;
    let apps = applications(&f);
    let created = registered(&f).await;
    let app = created.application.clone();
    let old = created.secret.unwrap();
    let ada = f.signed_in(&f.team.admin).await;
    let code = f.code(&app, &ada, |_| {}).await;
    let tokens = f.exchange(&app, &code, f.now).await.unwrap();
    let refresh_token = tokens.refresh_token.clone().expect("a refresh token");

    let rotated = apps
        .rotate_secret(
            &f.team.id,
            app.id.as_str(),
            Grace::Day,
            &f.team.admin.actor,
            f.now,
        )
        .await
        .unwrap();
    let new = rotated.secret.unwrap();
    assert_ne!(new, old);

    // Within the day both secrets get tokens.
    let during = f.later(TimeDelta::hours(23));
    assert!(authenticates(&f, &app.id, &old, during).await);
    let client = f.provider.clients().find(&app.id).await.unwrap().unwrap();
    let refreshed = f
        .refresh(&client, &refresh_token, None, during)
        .await
        .unwrap();
    assert!(authenticates(&f, &app.id, &new, during).await);
    // After it, only the new one does.
    let after = f.later(TimeDelta::days(1) + TimeDelta::seconds(1));
    assert!(!authenticates(&f, &app.id, &old, after).await);
    assert!(authenticates(&f, &app.id, &new, after).await);
    let next = refreshed.refresh_token.expect("a rotated refresh token");
    assert!(f.refresh(&client, &next, None, after).await.is_ok());
}

#[tokio::test]
async fn a_rotation_without_grace_stops_the_old_secret_now_and_a_second_ends_the_first() {
    let f = Fixture::new().await;
    let apps = applications(&f);
    let created = registered(&f).await;
    let id = created.application.id.clone();
    let first = created.secret.unwrap();
    let admin = &f.team.admin.actor;

    let second = apps
        .rotate_secret(&f.team.id, id.as_str(), Grace::Week, admin, f.now)
        .await
        .unwrap();
    let third = apps
        .rotate_secret(&f.team.id, id.as_str(), Grace::None, admin, f.now)
        .await
        .unwrap();

    assert!(!authenticates(&f, &id, &first, f.now).await);
    assert!(!authenticates(&f, &id, second.secret.as_deref().unwrap(), f.now).await);
    assert!(authenticates(&f, &id, third.secret.as_deref().unwrap(), f.now).await);
    let events = AuditLog::list(
        f.db.read(),
        Some(&f.team.id),
        &AuditFilter {
            action: Some("application.secret_rotated".to_owned()),
            limit: 10,
            ..AuditFilter::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].details["grace"], "none");
}

//! The teams domain on its own: an in-memory SQLite database with the real migrations, and a
//! fixed time, so each rule is checked without a server.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use latchkey_core::{Db, TeamId, UserId};
use latchkey_migrations::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, Database};

use crate::{Actor, Role, TeamError, TeamName, Teams, ensure_user};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 30, 9, 0, 0).unwrap()
}

async fn database() -> Db {
    // One connection: every connection to `sqlite::memory:` is a database of its own.
    let mut options = ConnectOptions::new("sqlite::memory:");
    options.max_connections(1).sqlx_logging(false);
    let db = Database::connect(options).await.unwrap();
    Migrator::up(&db, None).await.unwrap();
    Db::new(db)
}

/// A team founded by `ada@acme.test`, with `bo@acme.test` in it as a member.
struct Acme {
    db: Db,
    teams: Teams,
    team: TeamId,
    ada: Actor,
    bo: Actor,
    bo_id: UserId,
    ada_id: UserId,
}

async fn acme() -> Acme {
    let db = database().await;
    let teams = Teams::new(db.clone(), TimeDelta::hours(72));
    let name = TeamName::parse("Acme").unwrap();
    let team = teams
        .create(&name, "ada@acme.test", &Actor::operator(), now())
        .await
        .unwrap()
        .id;
    let (ada, _) = ensure_user(&*db.write().await, "ada@acme.test", now())
        .await
        .unwrap();
    let (bo, _) = ensure_user(&*db.write().await, "bo@acme.test", now())
        .await
        .unwrap();
    Teams::add_member_in(&*db.write().await, &team, &bo, Role::Member, None, now())
        .await
        .unwrap();
    Acme {
        db,
        teams,
        team,
        ada: Actor::person(&ada.id.as_str().into(), &ada.email, "192.0.2.1", "test"),
        bo: Actor::person(&bo.id.as_str().into(), &bo.email, "192.0.2.2", "test"),
        bo_id: bo.id.into(),
        ada_id: ada.id.into(),
    }
}

/// Fails unless `result` is the refusal `expected`.
fn refused<T: std::fmt::Debug>(result: Result<T, TeamError>, expected: TeamError) {
    assert_eq!(
        format!("{:?}", result.unwrap_err()),
        format!("{expected:?}")
    );
}

#[tokio::test]
async fn the_last_administrator_can_neither_be_demoted_nor_removed_nor_leave() {
    let acme = acme().await;
    let t = &acme.teams;
    refused(
        t.change_role(&acme.team, &acme.ada_id, Role::Member, &acme.ada, now())
            .await,
        TeamError::LastAdministrator,
    );
    refused(
        t.remove_member(&acme.team, &acme.ada_id, &acme.ada, now(), async |_| Ok(()))
            .await,
        TeamError::LastAdministrator,
    );
    // With a second administrator, the first may step down.
    t.change_role(
        &acme.team,
        &acme.bo_id,
        Role::Administrator,
        &acme.ada,
        now(),
    )
    .await
    .unwrap();
    t.change_role(&acme.team, &acme.ada_id, Role::Member, &acme.ada, now())
        .await
        .unwrap();
    let roles: Vec<(String, Role)> = t
        .members(&acme.team, &acme.bo)
        .await
        .unwrap()
        .into_iter()
        .map(|m| (m.email, m.role))
        .collect();
    assert!(roles.contains(&("ada@acme.test".into(), Role::Member)));
    assert!(roles.contains(&("bo@acme.test".into(), Role::Administrator)));
}

#[tokio::test]
async fn a_member_may_not_manage_and_an_outsider_may_not_even_see_the_team() {
    let acme = acme().await;
    let t = &acme.teams;
    let name = TeamName::parse("Taken over").unwrap();
    refused(
        t.rename(&acme.team, &name, &acme.bo, now()).await,
        TeamError::Forbidden,
    );
    let outsider = Actor::person(
        &"no-such-user".into(),
        "eve@elsewhere.test",
        "192.0.2.9",
        "test",
    );
    refused(
        t.rename(&acme.team, &name, &outsider, now()).await,
        TeamError::NotFound,
    );
    refused(t.members(&acme.team, &outsider).await, TeamError::NotFound);
    assert_eq!(t.get(&acme.team).await.unwrap().unwrap().name, "Acme");
}

#[tokio::test]
async fn a_member_may_leave_and_the_removal_is_audited_with_what_ran_beside_it() {
    let acme = acme().await;
    let t = &acme.teams;
    let mut ran = false;
    t.remove_member(&acme.team, &acme.bo_id, &acme.bo, now(), async |_| {
        ran = true;
        Ok(())
    })
    .await
    .unwrap();
    assert!(
        ran,
        "what ends the member's access runs in the same transaction"
    );
    let left = t
        .audit_log(
            &acme.team,
            &acme.ada,
            &crate::AuditFilter {
                action: Some("member.left".into()),
                person: None,
                before: None,
                limit: 10,
            },
        )
        .await
        .unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].subject, "bo@acme.test");
}

#[tokio::test]
async fn an_integration_identity_is_its_teams_alone_and_never_an_administrator() {
    let db = database().await;
    let teams = Teams::new(db.clone(), TimeDelta::hours(72));
    let name = TeamName::parse("Acme").unwrap();
    let team = teams
        .create(&name, "ada@acme.test", &Actor::operator(), now())
        .await
        .unwrap()
        .id;
    let writer = db.write().await;
    let identity = crate::provision_identity(&*writer, team.as_str(), "cy@acme.test", now())
        .await
        .unwrap();
    // Another team's integration may name the same address: a second identity, no clash.
    let other = crate::provision_identity(&*writer, team.as_str(), "cy@acme.test", now())
        .await
        .unwrap();
    assert_ne!(identity.id, other.id);
    assert!(identity.email.ends_with("@integration.invalid"));
    assert!(
        latchkey_core::Email::parse(&identity.email).is_err(),
        "nobody signs in as it"
    );
    Teams::add_member_in(&*writer, &team, &identity, Role::Member, None, now())
        .await
        .unwrap();
    drop(writer);
    // The person's own account is a different one.
    let (cy, created) = ensure_user(&*db.write().await, "cy@acme.test", now())
        .await
        .unwrap();
    assert!(created && cy.id != identity.id);

    let members = teams.members(&team, &Actor::operator()).await.unwrap();
    let shown = members
        .iter()
        .find(|m| m.user_id.as_str() == identity.id)
        .unwrap();
    assert_eq!(
        (shown.email.as_str(), shown.unclaimed),
        ("cy@acme.test", true)
    );
    refused(
        teams
            .change_role(
                &team,
                &identity.id.as_str().into(),
                Role::Administrator,
                &Actor::operator(),
                now(),
            )
            .await,
        TeamError::IntegrationIdentityAdmin,
    );
}

#[tokio::test]
async fn an_asserted_role_never_demotes_the_last_administrator() {
    let acme = acme().await;
    let integration = Actor {
        user_id: None,
        label: "integration https://helpdesk.example".into(),
        ip: String::new(),
        user_agent: String::new(),
    };
    let assert = async |user: &UserId, role: Role| {
        let txn = acme.db.transaction().await.unwrap();
        let details = serde_json::json!({ "via": "admin_claim" });
        let changed =
            crate::assert_role(&*txn, &acme.team, user, role, &integration, details, now()).await;
        txn.commit().await.unwrap();
        changed
    };
    refused(
        assert(&acme.ada_id, Role::Member).await,
        TeamError::LastAdministrator,
    );
    assert!(assert(&acme.bo_id, Role::Administrator).await.unwrap());
    assert!(!assert(&acme.bo_id, Role::Administrator).await.unwrap());
    assert!(assert(&acme.ada_id, Role::Member).await.unwrap());
    refused(
        assert(&acme.bo_id, Role::Member).await,
        TeamError::LastAdministrator,
    );
    let changes = acme
        .teams
        .audit_log(
            &acme.team,
            &acme.bo,
            &crate::AuditFilter {
                action: Some("member.role_changed".into()),
                limit: 50,
                ..crate::AuditFilter::default()
            },
        )
        .await
        .unwrap();
    let changed: Vec<_> = changes.iter().collect();
    assert_eq!(changed.len(), 2);
    assert_eq!(changed[0].details["via"], "admin_claim");
}

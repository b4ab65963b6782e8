//! What a session may do to the account behind it: a session bound to one team (opened by an
//! integration or a team's identity provider) neither renames a person's own account nor
//! signs it out everywhere; a session of the person's own, or one for an identity that is the
//! team's alone, may.

use chrono::{DateTime, TimeDelta, Utc};
use latchkey_core::{Db, TeamId, UserId};
use latchkey_teams::PersonName;
use latchkey_teams::entities::user;
use sea_orm::EntityTrait;

use crate::{AccountError, Opening, SessionUser, Sessions};

struct Ground {
    db: Db,
    sessions: Sessions,
    now: DateTime<Utc>,
    team: TeamId,
}

async fn ground() -> Ground {
    let now = latchkey_testkit::start_of_test();
    let db = latchkey_testkit::memory_db().await;
    let team = latchkey_testkit::Team::found(&db, "Acme", "ada@acme.test", now)
        .await
        .id;
    Ground {
        sessions: Sessions::new(db.clone(), TimeDelta::days(1), TimeDelta::days(7)),
        db,
        now,
        team,
    }
}

impl Ground {
    /// A session of `user_id`'s, opened by the helpdesk for the team when `bound`.
    async fn session(&self, user_id: &UserId, bound: bool) -> SessionUser {
        let opening = Opening {
            team_id: Some(&self.team),
            opened_by: bound.then_some("https://helpdesk.acme.test"),
            ..Opening::default()
        };
        let secret = self
            .sessions
            .open(&*self.db.write().await, user_id, opening, self.now)
            .await
            .unwrap();
        self.sessions
            .current(&secret, self.now)
            .await
            .unwrap()
            .unwrap()
    }

    async fn name_of(&self, user_id: &UserId) -> Option<String> {
        user::Entity::find_by_id(user_id.as_str())
            .one(self.db.read())
            .await
            .unwrap()
            .unwrap()
            .name
    }

    /// An identity the team's integration made, the team's alone.
    async fn teams_own_identity(&self) -> UserId {
        let row = latchkey_teams::identity_row(self.team.as_str(), "pat@acme.test", None, self.now);
        let sea_orm::ActiveValue::Set(id) = row.id.clone() else {
            panic!("an identity row has an id");
        };
        latchkey_teams::provision_many(&*self.db.write().await, vec![row], vec![])
            .await
            .unwrap();
        UserId::from(id.as_str())
    }
}

fn name(raw: &str) -> PersonName {
    PersonName::parse(raw).unwrap()
}

#[tokio::test]
async fn a_team_bound_session_cannot_rename_a_persons_own_account() {
    let g = ground().await;
    let bob = latchkey_testkit::account(&g.db, "bob@bob.test", g.now).await;
    let bound = g.session(&bob.user_id, true).await;

    let renamed = g
        .sessions
        .rename_account(&bound, &name("IT Security Desk"), g.now)
        .await;

    assert!(
        matches!(renamed, Err(AccountError::BoundToTeam)),
        "{renamed:?}"
    );
    assert_eq!(g.name_of(&bob.user_id).await, None);
}

#[tokio::test]
async fn a_team_bound_session_cannot_sign_a_persons_own_account_out_everywhere() {
    let g = ground().await;
    let bob = latchkey_testkit::account(&g.db, "bob@bob.test", g.now).await;
    let own = g.session(&bob.user_id, false).await;
    let bound = g.session(&bob.user_id, true).await;

    let ended = g.sessions.end_everywhere(&bound, g.now).await;

    assert!(matches!(ended, Err(AccountError::BoundToTeam)), "{ended:?}");
    let live = g
        .sessions
        .live_matching(&bob.user_id, |sid| sid == own.sid, g.now)
        .await
        .unwrap();
    assert_eq!(live, vec![own.sid.clone()], "Bob's own session lives on");
}

#[tokio::test]
async fn the_persons_own_session_renames_and_signs_out_everywhere() {
    let g = ground().await;
    let bob = latchkey_testkit::account(&g.db, "bob@bob.test", g.now).await;
    let own = g.session(&bob.user_id, false).await;
    g.session(&bob.user_id, true).await;

    g.sessions
        .rename_account(&own, &name("Bob Jones"), g.now)
        .await
        .unwrap();
    let ended = g.sessions.end_everywhere(&own, g.now).await.unwrap();

    assert_eq!(g.name_of(&bob.user_id).await.as_deref(), Some("Bob Jones"));
    assert_eq!(ended, 2);
}

#[tokio::test]
async fn a_session_of_an_identity_that_is_the_teams_alone_may_change_it() {
    let g = ground().await;
    let pat = g.teams_own_identity().await;
    let bound = g.session(&pat, true).await;

    g.sessions
        .rename_account(&bound, &name("Pat Q. Jones"), g.now)
        .await
        .unwrap();
    let ended = g.sessions.end_everywhere(&bound, g.now).await.unwrap();

    assert_eq!(g.name_of(&pat).await.as_deref(), Some("Pat Q. Jones"));
    assert_eq!(ended, 1);
}

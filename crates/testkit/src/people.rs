//! Teams, their members, and people signed in.

use chrono::{DateTime, TimeDelta, Utc};
use latchkey_core::secret::SecretToken;
use latchkey_core::{Db, TeamId, UserId};
use latchkey_login::{Opening, SessionUser, Sessions};
use latchkey_teams::{Actor, Role, TeamName, Teams, ensure_user};

/// A person with an account.
#[derive(Clone, Debug)]
pub struct Member {
    pub user_id: UserId,
    pub email: String,
    /// The person as the audit log records them.
    pub actor: Actor,
}

/// A team and the administrator who founded it.
#[derive(Clone)]
pub struct Team {
    pub id: TeamId,
    pub admin: Member,
    db: Db,
}

impl Team {
    /// A team named `name`, founded by `admin_email`.
    pub async fn found(db: &Db, name: &str, admin_email: &str, now: DateTime<Utc>) -> Self {
        let teams = Teams::new(db.clone(), TimeDelta::hours(72));
        let name = TeamName::parse(name).expect("a team name");
        let id = teams
            .create(&name, admin_email, &Actor::operator(), now)
            .await
            .expect("team created")
            .id;
        let admin = account(db, admin_email, now).await;
        Self {
            id,
            admin,
            db: db.clone(),
        }
    }

    /// Adds `email` (an account made if it has none) with `role`.
    pub async fn add(&self, email: &str, role: Role, now: DateTime<Utc>) -> Member {
        let writer = self.db.write().await;
        let (user, _) = ensure_user(&*writer, email, now).await.expect("an account");
        Teams::add_member_in(&*writer, &self.id, &user, role, None, now)
            .await
            .expect("member added");
        Member::of(user)
    }
}

/// The people most tests start from: Acme, founded by Ada (its administrator), with Bo as a
/// member, and Cy, who is in no team.
pub struct Acme {
    pub team: Team,
    pub bo: Member,
    pub cy: Member,
}

impl Acme {
    pub async fn found(db: &Db, now: DateTime<Utc>) -> Self {
        let team = Team::found(db, "Acme", "ada@acme.test", now).await;
        let bo = team.add("bo@acme.test", Role::Member, now).await;
        let cy = account(db, "cy@elsewhere.test", now).await;
        Self { team, bo, cy }
    }
}

/// The account of `email`, made if there is none (in no team).
pub async fn account(db: &Db, email: &str, now: DateTime<Utc>) -> Member {
    let (user, _) = ensure_user(&*db.write().await, email, now)
        .await
        .expect("an account");
    Member::of(user)
}

/// Sessions as the provider keeps them: a day idle, a week at most.
pub fn sessions(db: &Db) -> Sessions {
    Sessions::new(db.clone(), TimeDelta::days(1), TimeDelta::days(7))
}

impl Member {
    fn of(user: latchkey_teams::entities::user::Model) -> Self {
        let user_id = UserId::from(user.id.as_str());
        Self {
            actor: Actor::person(&user_id, &user.email, "192.0.2.1", "test"),
            email: user.email,
            user_id,
        }
    }

    /// Signs the person in at `now`, as `opening` says (working in a team, opened by an
    /// integration…), and returns the session's secret and the person as requests see them.
    pub async fn sign_in(
        &self,
        db: &Db,
        opening: Opening<'_>,
        now: DateTime<Utc>,
    ) -> (SecretToken, SessionUser) {
        let sessions = sessions(db);
        let secret = sessions
            .open(&*db.write().await, &self.user_id, opening, now)
            .await
            .expect("session opened");
        let user = sessions
            .current(&secret, now)
            .await
            .expect("session read")
            .expect("session live");
        (secret, user)
    }
}

use chrono::{DateTime, TimeDelta, Utc};
use latchkey_core::{TeamId, UserId};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use crate::entities::{session, user};
use latchkey_core::secret::{SecretToken, sha256_hex};

/// How often a session's last-seen time is written, at most: every request would be a write.
const TOUCH_EVERY: TimeDelta = TimeDelta::seconds(60);

/// Sessions: a random id in a cookie, stored as its SHA-256, with idle and absolute lifetimes.
#[derive(Clone)]
pub struct Sessions {
    db: latchkey_core::Db,
    idle_ttl: TimeDelta,
    max_ttl: TimeDelta,
}

/// The person a request's session belongs to.
#[derive(Clone, Debug)]
pub struct SessionUser {
    pub user_id: UserId,
    pub email: String,
    /// The address to show: the person's own, or the one an integration gave for an identity
    /// it made.
    pub shown_email: String,
    pub name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub signed_in_at: DateTime<Utc>,
    /// The session's public identifier (the `sid` claim): derived from the stored hash, so it
    /// reveals nothing that could open the session.
    pub sid: String,
    /// The team the person is working in, if they are in any.
    pub team_id: Option<TeamId>,
    /// The trusted issuer whose token opened the session: it is bound to `team_id`.
    pub opened_by: Option<String>,
    /// The origins that may frame its pages (space-separated), when it was opened in a frame.
    pub frame_ancestors: Option<String>,
    /// The team whose integration or identity provider made the account, when it is that
    /// team's alone (no one signs in to it any other way).
    pub account_team: Option<TeamId>,
}

impl SessionUser {
    /// Whether this session may act in `team`: one an integration's token (or a team's own
    /// identity provider, bound to it) opened acts for that team only, so any other team's
    /// pages, applications and service providers need the person to sign in themselves.
    pub fn acts_for(&self, team: &TeamId) -> bool {
        self.opened_by.is_none() || self.team_id.as_ref() == Some(team)
    }

    /// Whether this session may change what the account is in every team (its name) or end
    /// all its sessions and grants ("sign out everywhere"). A session bound to a team (opened
    /// by an integration's token, or a team's identity provider for an identity of its own)
    /// speaks for that team only: it may not, since an integration of one team would
    /// otherwise rename a person for all their teams and sign them out of them all. Unless
    /// the account is that team's own: then nothing outside the team is touched, and there is
    /// no other session that could do it.
    pub fn may_change_account(&self) -> bool {
        self.opened_by.is_none()
            || self
                .account_team
                .as_ref()
                .is_some_and(|team| self.team_id.as_ref() == Some(team))
    }

    /// Whether this session may sign in to an application of `team`, or of no team when none.
    pub fn acts_for_application_of(&self, team: Option<&TeamId>) -> bool {
        match team {
            Some(team) => self.acts_for(team),
            None => self.opened_by.is_none(),
        }
    }
}

/// How a session came to be, beyond whose it is.
#[derive(Clone, Copy, Debug, Default)]
pub struct Opening<'a> {
    pub team_id: Option<&'a TeamId>,
    /// The trusted issuer whose token opened it.
    pub opened_by: Option<&'a str>,
    /// The origins that may frame its pages.
    pub frame_ancestors: Option<&'a str>,
    /// The team's identity provider it was opened through.
    pub connection: Option<&'a str>,
}

impl Sessions {
    pub fn new(db: latchkey_core::Db, idle_ttl: TimeDelta, max_ttl: TimeDelta) -> Self {
        Self {
            db,
            idle_ttl,
            max_ttl,
        }
    }

    pub(crate) fn db(&self) -> &latchkey_core::Db {
        &self.db
    }

    /// Opens a new session; the caller puts the secret in the cookie.
    pub async fn create<C: ConnectionTrait>(
        &self,
        conn: &C,
        user_id: &UserId,
        team_id: Option<&TeamId>,
        now: DateTime<Utc>,
    ) -> Result<SecretToken, sea_orm::DbErr> {
        let opening = Opening {
            team_id,
            ..Opening::default()
        };
        self.open(conn, user_id, opening, now).await
    }

    /// Opens a new session as `opening` says; the caller puts the secret in the cookie.
    pub async fn open<C: ConnectionTrait>(
        &self,
        conn: &C,
        user_id: &UserId,
        opening: Opening<'_>,
        now: DateTime<Utc>,
    ) -> Result<SecretToken, sea_orm::DbErr> {
        let (secret, row) = self.row(user_id, opening, now);
        session::Entity::insert(row)
            .exec_without_returning(conn)
            .await?;
        Ok(secret)
    }

    /// Opens a new session for a person who presented their credential at `authenticated_at`
    /// (a team's identity provider's `auth_time`), not now: its sign-in time, which
    /// `max_age`, `prompt=login` and ID tokens' `auth_time` read, is then, never later than
    /// now. Its lifetimes run from now.
    pub async fn open_authenticated<C: ConnectionTrait>(
        &self,
        conn: &C,
        user_id: &UserId,
        opening: Opening<'_>,
        authenticated_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<SecretToken, sea_orm::DbErr> {
        let (secret, mut row) = self.row(user_id, opening, now);
        row.created_at = Set(authenticated_at.min(now));
        session::Entity::insert(row)
            .exec_without_returning(conn)
            .await?;
        Ok(secret)
    }

    /// Opens sessions made with [`Sessions::row`], many in one statement.
    pub async fn open_many<C: ConnectionTrait>(
        conn: &C,
        rows: Vec<session::ActiveModel>,
    ) -> Result<(), sea_orm::DbErr> {
        if rows.is_empty() {
            return Ok(());
        }
        session::Entity::insert_many(rows)
            .exec_without_returning(conn)
            .await?;
        Ok(())
    }

    /// A new session as a row, with its secret, for a caller that writes many at once.
    pub fn row(
        &self,
        user_id: &UserId,
        opening: Opening<'_>,
        now: DateTime<Utc>,
    ) -> (SecretToken, session::ActiveModel) {
        let secret = SecretToken::generate();
        let row = session::ActiveModel {
            id_hash: Set(secret.hash()),
            user_id: Set(user_id.into()),
            created_at: Set(now),
            last_seen_at: Set(now),
            expires_at: Set(now + self.max_ttl),
            revoked_at: Set(None),
            team_id: Set(opening.team_id.map(String::from)),
            opened_by: Set(opening.opened_by.map(str::to_owned)),
            frame_ancestors: Set(opening.frame_ancestors.map(str::to_owned)),
            connection_id: Set(opening.connection.map(str::to_owned)),
        };
        (secret, row)
    }

    /// The signed-in person, if the session is live (not revoked, idle or past its lifetime).
    pub async fn current(
        &self,
        secret: &SecretToken,
        now: DateTime<Utc>,
    ) -> Result<Option<SessionUser>, sea_orm::DbErr> {
        // One query for the session and its person: this runs on every signed-in request.
        let Some((found, Some(account))) = session::Entity::find_by_id(secret.hash())
            .find_also_related(user::Entity)
            .one(self.db.read())
            .await?
        else {
            return Ok(None);
        };
        if found.revoked_at.is_some()
            || found.expires_at <= now
            || found.last_seen_at + self.idle_ttl <= now
        {
            return Ok(None);
        }
        if now - found.last_seen_at >= TOUCH_EVERY {
            session::Entity::update_many()
                .col_expr(session::Column::LastSeenAt, Expr::value(now))
                .filter(session::Column::IdHash.eq(found.id_hash.as_str()))
                .exec(&*self.db.write().await)
                .await?;
        }
        Ok(Some(SessionUser {
            shown_email: account.shown_email().to_owned(),
            user_id: account.id.into(),
            email: account.email,
            name: account.name,
            given_name: account.given_name,
            family_name: account.family_name,
            signed_in_at: found.created_at,
            sid: session_id(&found.id_hash),
            team_id: found.team_id.map(TeamId::from),
            opened_by: found.opened_by,
            frame_ancestors: found.frame_ancestors,
            account_team: account.provisioned_by.map(TeamId::from),
        }))
    }

    /// Ends one session.
    pub async fn revoke(
        &self,
        secret: &SecretToken,
        now: DateTime<Utc>,
    ) -> Result<(), sea_orm::DbErr> {
        session::Entity::update_many()
            .col_expr(session::Column::RevokedAt, Expr::value(now))
            .filter(session::Column::IdHash.eq(secret.hash()))
            .filter(session::Column::RevokedAt.is_null())
            .exec(&*self.db.write().await)
            .await?;
        Ok(())
    }

    /// Makes `team_id` the team this session works in. The caller checks membership.
    pub async fn switch_team(
        &self,
        secret: &SecretToken,
        team_id: &TeamId,
    ) -> Result<(), sea_orm::DbErr> {
        session::Entity::update_many()
            .col_expr(session::Column::TeamId, Expr::value(team_id))
            .filter(session::Column::IdHash.eq(secret.hash()))
            .exec(&*self.db.write().await)
            .await?;
        Ok(())
    }

    /// Takes a team away from a person's sessions (they were removed from it), and ends those
    /// an integration opened for it: they were for that team alone.
    pub async fn drop_team<C: ConnectionTrait>(
        conn: &C,
        user_id: &UserId,
        team_id: &TeamId,
        now: DateTime<Utc>,
    ) -> Result<(), sea_orm::DbErr> {
        session::Entity::update_many()
            .col_expr(session::Column::RevokedAt, Expr::value(now))
            .filter(session::Column::UserId.eq(user_id))
            .filter(session::Column::TeamId.eq(team_id))
            .filter(session::Column::OpenedBy.is_not_null())
            .filter(session::Column::RevokedAt.is_null())
            .exec(conn)
            .await?;
        session::Entity::update_many()
            .col_expr(session::Column::TeamId, Expr::value(Option::<String>::None))
            .filter(session::Column::UserId.eq(user_id))
            .filter(session::Column::TeamId.eq(team_id))
            .exec(conn)
            .await?;
        Ok(())
    }

    /// Ends the sessions an issuer's tokens opened in a team (the team stopped trusting it).
    pub async fn end_opened_by<C: ConnectionTrait>(
        conn: &C,
        team_id: &str,
        issuer: &str,
        now: DateTime<Utc>,
    ) -> Result<u64, sea_orm::DbErr> {
        let ended = session::Entity::update_many()
            .col_expr(session::Column::RevokedAt, Expr::value(now))
            .filter(session::Column::TeamId.eq(team_id))
            .filter(session::Column::OpenedBy.eq(issuer))
            .filter(session::Column::RevokedAt.is_null())
            .exec(conn)
            .await?;
        Ok(ended.rows_affected)
    }

    /// Ends the sessions opened through a team's identity provider (the connection was
    /// removed, or a domain it had proven is no longer proven).
    pub async fn end_through_connection<C: ConnectionTrait>(
        conn: &C,
        connection_id: &str,
        now: DateTime<Utc>,
    ) -> Result<u64, sea_orm::DbErr> {
        let ended = session::Entity::update_many()
            .col_expr(session::Column::RevokedAt, Expr::value(now))
            .filter(session::Column::ConnectionId.eq(connection_id))
            .filter(session::Column::RevokedAt.is_null())
            .exec(conn)
            .await?;
        Ok(ended.rows_affected)
    }

    /// Ends every session of a person ("sign out everywhere").
    pub async fn revoke_all(
        &self,
        user_id: &UserId,
        now: DateTime<Utc>,
    ) -> Result<u64, sea_orm::DbErr> {
        let result = session::Entity::update_many()
            .col_expr(session::Column::RevokedAt, Expr::value(now))
            .filter(session::Column::UserId.eq(user_id))
            .filter(session::Column::RevokedAt.is_null())
            .exec(&*self.db.write().await)
            .await?;
        Ok(result.rows_affected)
    }
}

impl Sessions {
    /// The `sid`s of the live sessions of `user_id` that `matches` says, ending none: a
    /// logout that names sessions learns whether it names any before it writes anything.
    pub async fn live_matching(
        &self,
        user_id: &UserId,
        matches: impl Fn(&str) -> bool,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>, sea_orm::DbErr> {
        Ok(session::Entity::find()
            .filter(session::Column::UserId.eq(user_id))
            .filter(session::Column::RevokedAt.is_null())
            .filter(session::Column::ExpiresAt.gt(now))
            .all(self.db.read())
            .await?
            .into_iter()
            .map(|row| session_id(&row.id_hash))
            .filter(|sid| matches(sid))
            .collect())
    }

    /// Ends the live sessions of `user_id` whose `sid` `matches` says: for a logout that
    /// names sessions by an identifier derived from their `sid` (SAML's `SessionIndex`).
    pub async fn end_matching(
        &self,
        user_id: &UserId,
        matches: impl Fn(&str) -> bool,
        now: DateTime<Utc>,
    ) -> Result<u64, sea_orm::DbErr> {
        let live = session::Entity::find()
            .filter(session::Column::UserId.eq(user_id))
            .filter(session::Column::RevokedAt.is_null())
            .filter(session::Column::ExpiresAt.gt(now))
            .all(self.db.read())
            .await?;
        let ended: Vec<String> = live
            .into_iter()
            .filter(|row| matches(&session_id(&row.id_hash)))
            .map(|row| row.id_hash)
            .collect();
        if ended.is_empty() {
            return Ok(0);
        }
        let result = session::Entity::update_many()
            .col_expr(session::Column::RevokedAt, Expr::value(now))
            .filter(session::Column::IdHash.is_in(ended))
            .filter(session::Column::RevokedAt.is_null())
            .exec(&*self.db.write().await)
            .await?;
        Ok(result.rows_affected)
    }
}

/// The `sid` of a session, from the hash that is its key.
fn session_id(id_hash: &str) -> String {
    let mut sid = sha256_hex(format!("sid:{id_hash}").as_bytes());
    sid.truncate(32);
    sid
}

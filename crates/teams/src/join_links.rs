//! Join links: an administrator hands one out; a person who opens it and then completes the
//! magic link sent to their address becomes a member. The link alone grants nothing.

use chrono::{DateTime, TimeDelta, Utc};
use latchkey_core::{JoinLinkId, TeamId};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
};
use serde::Serialize;
use serde_json::json;

use crate::audit::{Actor, AuditLog, Subject};
use crate::entities::{join_link, membership, team, user};
use crate::error::{JoinError, TeamError};
use crate::role::Role;
use crate::teams::{Team, Teams, administer};

/// What an administrator asks for. The caller makes the token and passes only its hash.
#[derive(Clone, Debug)]
pub struct NewJoinLink {
    pub team_id: TeamId,
    pub role: Role,
    pub ttl: TimeDelta,
    pub max_uses: Option<i32>,
    pub token_hash: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JoinLinkState {
    Active,
    Expired,
    Revoked,
    UsedUp,
}

/// A join link as administrators see it. The token is not here: it is shown once.
#[derive(Clone, Debug, Serialize)]
pub struct JoinLink {
    pub id: JoinLinkId,
    pub team_id: TeamId,
    pub role: Role,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub max_uses: Option<i32>,
    pub uses: i32,
    pub revoked_at: Option<DateTime<Utc>>,
    pub state: JoinLinkState,
}

impl JoinLink {
    fn from_row(row: join_link::Model, now: DateTime<Utc>) -> Self {
        let state = if row.revoked_at.is_some() {
            JoinLinkState::Revoked
        } else if row.expires_at <= now {
            JoinLinkState::Expired
        } else if row.max_uses.is_some_and(|max| row.uses >= max) {
            JoinLinkState::UsedUp
        } else {
            JoinLinkState::Active
        };
        Self {
            id: row.id.into(),
            team_id: row.team_id.into(),
            role: Role::from_stored(&row.role),
            created_by: row.created_by,
            created_at: row.created_at,
            expires_at: row.expires_at,
            max_uses: row.max_uses,
            uses: row.uses,
            revoked_at: row.revoked_at,
            state,
        }
    }

    /// Why the link cannot be used now, if it cannot.
    pub fn unusable(&self) -> Option<JoinError> {
        match self.state {
            JoinLinkState::Active => None,
            JoinLinkState::Expired => Some(JoinError::Expired),
            JoinLinkState::Revoked => Some(JoinError::Revoked),
            JoinLinkState::UsedUp => Some(JoinError::UsedUp),
        }
    }
}

/// The outcome of completing a join: the team the person is now in (or already was, in
/// which case no use of the link was counted).
#[derive(Clone, Debug)]
pub struct Joined {
    pub team: Team,
}

impl Teams {
    /// Creates a join link (administrators). Its lifetime may not exceed
    /// `teams.join_link_max_ttl`.
    pub async fn create_join_link(
        &self,
        new: NewJoinLink,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<JoinLink, TeamError> {
        if new.ttl > self.join_link_max_ttl {
            return Err(TeamError::TtlTooLong {
                max: describe(self.join_link_max_ttl),
            });
        }
        if new.ttl < TimeDelta::seconds(1) {
            return Err(TeamError::TtlTooShort);
        }
        if new.max_uses.is_some_and(|max| max < 1) {
            return Err(TeamError::MaxUses);
        }
        let txn = administer(&self.db, &new.team_id, actor, now).await?;
        let row = join_link::Model {
            id: uuid::Uuid::now_v7().to_string(),
            team_id: new.team_id.clone().into_string(),
            token_hash: new.token_hash,
            role: new.role.as_str().to_owned(),
            created_by: actor.label.clone(),
            created_at: now,
            expires_at: now + new.ttl,
            max_uses: new.max_uses,
            uses: 0,
            revoked_at: None,
        };
        join_link::Entity::insert(join_link::ActiveModel::from(row.clone()))
            .exec_without_returning(&*txn)
            .await?;
        AuditLog::record(
            &*txn,
            Some(&new.team_id),
            "join_link.created",
            actor,
            &Subject::new(&row.id, format!("join link {}", short(&row.id))),
            json!({
                "join_link_id": row.id,
                "role": new.role,
                "expires_at": row.expires_at,
                "max_uses": row.max_uses,
            }),
            now,
        )
        .await?;
        txn.commit().await?;
        Ok(JoinLink::from_row(row, now))
    }

    /// The team's join links, newest first (administrators).
    pub async fn join_links(
        &self,
        team_id: &TeamId,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Vec<JoinLink>, TeamError> {
        Self::require_admin(self.db.read(), team_id, actor).await?;
        let rows = join_link::Entity::find()
            .filter(join_link::Column::TeamId.eq(team_id))
            .order_by_desc(join_link::Column::CreatedAt)
            .all(self.db.read())
            .await?;
        Ok(rows
            .into_iter()
            .map(|row| JoinLink::from_row(row, now))
            .collect())
    }

    /// Revokes a join link (administrators); it stops working at once.
    pub async fn revoke_join_link(
        &self,
        team_id: &TeamId,
        link_id: &JoinLinkId,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<(), TeamError> {
        let txn = administer(&self.db, team_id, actor, now).await?;
        let revoked = join_link::Entity::update_many()
            .col_expr(join_link::Column::RevokedAt, Expr::value(now))
            .filter(join_link::Column::Id.eq(link_id))
            .filter(join_link::Column::TeamId.eq(team_id))
            .filter(join_link::Column::RevokedAt.is_null())
            .exec(&*txn)
            .await?;
        if revoked.rows_affected == 0 {
            let exists = join_link::Entity::find_by_id(link_id)
                .filter(join_link::Column::TeamId.eq(team_id))
                .one(&*txn)
                .await?
                .is_some();
            // Revoking twice is not an error, and writes no second event.
            return if exists {
                Ok(())
            } else {
                Err(TeamError::JoinLinkNotFound)
            };
        }
        AuditLog::record(
            &*txn,
            Some(team_id),
            "join_link.revoked",
            actor,
            &Subject::new(link_id, format!("join link {}", short(link_id.as_str()))),
            json!({ "join_link_id": link_id }),
            now,
        )
        .await?;
        txn.commit().await?;
        Ok(())
    }

    /// The link a token opens and its team, if the link can still be used. Consumes nothing.
    pub async fn find_join_link(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<(JoinLink, Team), JoinError> {
        let row = join_link::Entity::find()
            .filter(join_link::Column::TokenHash.eq(token_hash))
            .one(self.db.read())
            .await?
            .ok_or(JoinError::NotFound)?;
        let team = team::Entity::find_by_id(row.team_id.as_str())
            .one(self.db.read())
            .await?
            .ok_or(JoinError::NotFound)?;
        let link = JoinLink::from_row(row, now);
        match link.unusable() {
            Some(error) => Err(error),
            None => Ok((link, team.into())),
        }
    }

    /// The link by its id, usable or not (the login flow carries the id, not the token).
    pub async fn join_link_in<C: ConnectionTrait>(
        conn: &C,
        link_id: &JoinLinkId,
        now: DateTime<Utc>,
    ) -> Result<(JoinLink, Team), JoinError> {
        let row = join_link::Entity::find_by_id(link_id)
            .one(conn)
            .await?
            .ok_or(JoinError::NotFound)?;
        let team = team::Entity::find_by_id(row.team_id.as_str())
            .one(conn)
            .await?
            .ok_or(JoinError::NotFound)?;
        Ok((JoinLink::from_row(row, now), team.into()))
    }

    /// Makes the person a member through the link, in the caller's transaction (the one that
    /// spends their magic link). The membership is written first and the use counted only if
    /// it was new, with one conditional update, so concurrent joins never exceed the link's
    /// maximum uses. On an error the caller rolls back, which undoes the membership.
    pub async fn join_in<C: ConnectionTrait>(
        conn: &C,
        link_id: &JoinLinkId,
        account: &user::Model,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Joined, JoinError> {
        let link = join_link::Entity::find_by_id(link_id)
            .one(conn)
            .await?
            .ok_or(JoinError::NotFound)?;
        let team: Team = team::Entity::find_by_id(link.team_id.as_str())
            .one(conn)
            .await?
            .ok_or(JoinError::NotFound)?
            .into();
        let role = Role::from_stored(&link.role);
        let inserted = membership::Entity::insert(membership::ActiveModel {
            team_id: Set(link.team_id.clone()),
            user_id: Set(account.id.clone()),
            role: Set(role.as_str().to_owned()),
            joined_at: Set(now),
            join_link_id: Set(Some(link.id.clone())),
            external_issuer: Set(None),
            external_id: Set(None),
        })
        .on_conflict(
            OnConflict::columns([membership::Column::TeamId, membership::Column::UserId])
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(conn)
        .await?;
        if inserted == 0 {
            return Ok(Joined { team });
        }
        let counted = join_link::Entity::update_many()
            .col_expr(
                join_link::Column::Uses,
                ExprTrait::add(Expr::col(join_link::Column::Uses), 1),
            )
            .filter(join_link::Column::Id.eq(link_id))
            .filter(join_link::Column::RevokedAt.is_null())
            .filter(join_link::Column::ExpiresAt.gt(now))
            .filter(
                Condition::any()
                    .add(join_link::Column::MaxUses.is_null())
                    .add(ExprTrait::lt(
                        Expr::col(join_link::Column::Uses),
                        Expr::col(join_link::Column::MaxUses),
                    )),
            )
            .exec(conn)
            .await?;
        if counted.rows_affected != 1 {
            let now_row = JoinLink::from_row(link, now);
            return Err(now_row.unusable().unwrap_or(JoinError::UsedUp));
        }
        AuditLog::record(
            conn,
            Some(&TeamId::from(link.team_id.as_str())),
            "member.joined",
            actor,
            &Subject::new(&account.id, &account.email),
            json!({
                "join_link_id": link.id,
                "join_link_created_by": link.created_by,
                "role": role,
            }),
            now,
        )
        .await?;
        tracing::info!(team = %team.id, user = %account.id, link = %link.id, "member joined");
        Ok(Joined { team })
    }
}

/// The first characters of an id, enough to tell links apart in a list.
fn short(id: &str) -> &str {
    id.get(id.len().saturating_sub(8)..).unwrap_or(id)
}

/// A lifetime as people write it: `72h`, `90m`, `30s`.
fn describe(ttl: TimeDelta) -> String {
    let seconds = ttl.num_seconds();
    if seconds % 3600 == 0 {
        format!("{}h", seconds / 3600)
    } else if seconds % 60 == 0 {
        format!("{}m", seconds / 60)
    } else {
        format!("{seconds}s")
    }
}

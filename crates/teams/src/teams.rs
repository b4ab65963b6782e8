//! Teams themselves: creating, finding and renaming them, their audit log, and the lock and
//! role check every change to a team starts with (its members are in `members`). Every change
//! checks the actor's role here, so no caller can forget to, and writes its audit event in the
//! same transaction as the change.

use chrono::{DateTime, TimeDelta, Utc};
use latchkey_core::{Db, TeamId, WriteTxn};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use serde::Serialize;
use serde_json::json;

use crate::audit::{Actor, AuditEvent, AuditFilter, AuditLog, Subject};
use crate::entities::{membership, team, user};
use crate::error::TeamError;
use crate::name::TeamName;
use crate::people::ensure_user;
use crate::role::Role;

#[derive(Clone, Debug, Serialize)]
pub struct Team {
    #[serde(rename = "team_id")]
    pub id: TeamId,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

impl From<team::Model> for Team {
    fn from(row: team::Model) -> Self {
        Self {
            id: row.id.into(),
            name: row.name,
            created_at: row.created_at,
        }
    }
}

/// Teams and their members.
#[derive(Clone)]
pub struct Teams {
    pub(crate) db: Db,
    pub(crate) join_link_max_ttl: TimeDelta,
}

impl Teams {
    pub fn new(db: Db, join_link_max_ttl: TimeDelta) -> Self {
        Self {
            db,
            join_link_max_ttl,
        }
    }

    pub fn join_link_max_ttl(&self) -> TimeDelta {
        self.join_link_max_ttl
    }

    /// Creates a team with `admin` as its administrator, in the caller's transaction (sign-up
    /// creates the account, the team and the session together).
    pub async fn create_in<C: ConnectionTrait>(
        conn: &C,
        name: &TeamName,
        admin: &user::Model,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Team, TeamError> {
        let id = TeamId::from(uuid::Uuid::now_v7().to_string());
        team::Entity::insert(team::ActiveModel {
            id: Set(id.clone().into_string()),
            name: Set(name.as_str().to_owned()),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .exec_without_returning(conn)
        .await?;
        membership::Entity::insert(membership::ActiveModel {
            team_id: Set(id.clone().into_string()),
            user_id: Set(admin.id.clone()),
            role: Set(Role::Administrator.as_str().to_owned()),
            joined_at: Set(now),
            join_link_id: Set(None),
            external_issuer: Set(None),
            external_id: Set(None),
        })
        .exec_without_returning(conn)
        .await?;
        AuditLog::record(
            conn,
            Some(&id),
            "team.created",
            actor,
            &Subject::new(id.as_str(), name.as_str()),
            json!({ "name": name.as_str(), "administrator": admin.email, "administrator_id": admin.id }),
            now,
        )
        .await?;
        tracing::info!(team = %id, "team created");
        Ok(Team {
            id,
            name: name.as_str().to_owned(),
            created_at: now,
        })
    }

    /// `latchkey team create`: the administrator's account is created if it does not exist;
    /// they sign in with a magic link like anyone else.
    pub async fn create(
        &self,
        name: &TeamName,
        admin_email: &str,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Team, TeamError> {
        let txn = self.db.transaction().await?;
        let (admin, _) = ensure_user(&*txn, admin_email, now).await?;
        let team = Self::create_in(&*txn, name, &admin, actor, now).await?;
        txn.commit().await?;
        Ok(team)
    }

    pub async fn get(&self, team_id: &TeamId) -> Result<Option<Team>, TeamError> {
        Ok(team::Entity::find_by_id(team_id)
            .one(self.db.read())
            .await?
            .map(Team::from))
    }

    /// Refuses anyone but the team's administrators (and the operator): someone outside the
    /// team gets [`TeamError::NotFound`], a member [`TeamError::Forbidden`].
    pub async fn require_admin<C: ConnectionTrait>(
        conn: &C,
        team_id: &TeamId,
        actor: &Actor,
    ) -> Result<(), TeamError> {
        match &actor.user_id {
            None => match team::Entity::find_by_id(team_id).one(conn).await? {
                Some(_) => Ok(()),
                None => Err(TeamError::NotFound),
            },
            Some(user_id) => match Self::role_of(conn, team_id, user_id).await? {
                Some(Role::Administrator) => Ok(()),
                Some(Role::Member) => Err(TeamError::Forbidden),
                None => Err(TeamError::NotFound),
            },
        }
    }

    /// Renames the team (administrators).
    pub async fn rename(
        &self,
        team_id: &TeamId,
        name: &TeamName,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<(), TeamError> {
        let txn = administer(&self.db, team_id, actor, now).await?;
        let before = team::Entity::find_by_id(team_id)
            .one(&*txn)
            .await?
            .ok_or(TeamError::NotFound)?;
        team::Entity::update_many()
            .col_expr(team::Column::Name, Expr::value(name.as_str()))
            .col_expr(team::Column::UpdatedAt, Expr::value(now))
            .filter(team::Column::Id.eq(team_id))
            .exec(&*txn)
            .await?;
        AuditLog::record(
            &*txn,
            Some(team_id),
            "team.renamed",
            actor,
            &Subject::new(team_id, name.as_str()),
            json!({ "from": before.name, "to": name.as_str() }),
            now,
        )
        .await?;
        txn.commit().await?;
        Ok(())
    }

    /// A page of the team's audit log (administrators).
    pub async fn audit_log(
        &self,
        team_id: &TeamId,
        actor: &Actor,
        filter: &AuditFilter,
    ) -> Result<Vec<AuditEvent>, TeamError> {
        Self::require_admin(self.db.read(), team_id, actor).await?;
        Ok(AuditLog::list(self.db.read(), Some(team_id), filter).await?)
    }
}

/// A write transaction on the team for one of its administrators (or the operator): the team
/// is locked first (see [`lock_team`]), then the actor is checked.
pub async fn administer<'a>(
    db: &'a Db,
    team_id: &TeamId,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<WriteTxn<'a>, TeamError> {
    let txn = db.transaction().await?;
    lock_team(&*txn, team_id, now).await?;
    Teams::require_admin(&*txn, team_id, actor).await?;
    Ok(txn)
}

/// Takes the team's row lock (PostgreSQL; SQLite has one writer anyway), so changes of
/// membership in one team happen one at a time and the administrator count stays true. It is
/// the first statement of every change: a SQLite transaction that reads before its first
/// write fails when another connection commits in between.
pub async fn lock_team<C: ConnectionTrait>(
    conn: &C,
    team_id: &TeamId,
    now: DateTime<Utc>,
) -> Result<(), TeamError> {
    let touched = team::Entity::update_many()
        .col_expr(team::Column::UpdatedAt, Expr::value(now))
        .filter(team::Column::Id.eq(team_id))
        .exec(conn)
        .await?;
    if touched.rows_affected == 0 {
        return Err(TeamError::NotFound);
    }
    Ok(())
}

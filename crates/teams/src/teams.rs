//! Teams, their members and roles. Every change checks the actor's role here, so no caller
//! can forget to, and writes its audit event in the same transaction as the change.

use chrono::{DateTime, TimeDelta, Utc};
use latchkey_core::{Db, JoinLinkId, TeamId, UserId, WriteTxn};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder,
};
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

/// One of a person's teams, with their role in it.
#[derive(Clone, Debug, Serialize)]
pub struct Membership {
    pub team: Team,
    pub role: Role,
}

/// A member as the team lists them (`latchkey team members --json` prints these).
#[derive(Clone, Debug, Serialize)]
pub struct Member {
    pub user_id: UserId,
    pub email: String,
    pub role: Role,
    pub joined_at: DateTime<Utc>,
    pub join_link_id: Option<JoinLinkId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    pub last_sign_in_at: Option<DateTime<Utc>>,
    /// An identity the team's integration created: its address is the integration's word,
    /// and it can be signed in only by that integration.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub unclaimed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
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

    /// The person's role in the team, if they are in it.
    pub async fn role_of<C: ConnectionTrait>(
        conn: &C,
        team_id: &TeamId,
        user_id: &UserId,
    ) -> Result<Option<Role>, TeamError> {
        Ok(
            membership::Entity::find_by_id((team_id.into(), user_id.into()))
                .one(conn)
                .await?
                .map(|m| Role::from_stored(&m.role)),
        )
    }

    /// The team and the person's role in it: what any page of the team first asks.
    /// Someone outside the team learns nothing, not even that it exists.
    pub async fn open(&self, team_id: &TeamId, user_id: &UserId) -> Result<Membership, TeamError> {
        Self::membership_in(self.db.read(), team_id, user_id)
            .await?
            .ok_or(TeamError::NotFound)
    }

    /// The team and the person's role in it, if they are in it: one query.
    pub async fn membership_in<C: ConnectionTrait>(
        conn: &C,
        team_id: &TeamId,
        user_id: &UserId,
    ) -> Result<Option<Membership>, TeamError> {
        let found = membership::Entity::find_by_id((team_id.into(), user_id.into()))
            .find_also_related(team::Entity)
            .one(conn)
            .await?;
        Ok(match found {
            Some((member, Some(team))) => Some(Membership {
                team: team.into(),
                role: Role::from_stored(&member.role),
            }),
            _ => None,
        })
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

    /// Every team the person is in, oldest membership first.
    pub async fn memberships(&self, user_id: &UserId) -> Result<Vec<Membership>, TeamError> {
        Self::memberships_in(self.db.read(), user_id).await
    }

    pub async fn memberships_in<C: ConnectionTrait>(
        conn: &C,
        user_id: &UserId,
    ) -> Result<Vec<Membership>, TeamError> {
        let rows = membership::Entity::find()
            .filter(membership::Column::UserId.eq(user_id))
            .order_by_asc(membership::Column::JoinedAt)
            .find_also_related(team::Entity)
            .all(conn)
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(member, team)| {
                team.map(|team| Membership {
                    team: team.into(),
                    role: Role::from_stored(&member.role),
                })
            })
            .collect())
    }

    /// The team's members; anyone in the team may see who else is.
    pub async fn members(&self, team_id: &TeamId, actor: &Actor) -> Result<Vec<Member>, TeamError> {
        if let Some(user_id) = &actor.user_id
            && Self::role_of(self.db.read(), team_id, user_id)
                .await?
                .is_none()
        {
            return Err(TeamError::NotFound);
        }
        if actor.user_id.is_none() && self.get(team_id).await?.is_none() {
            return Err(TeamError::NotFound);
        }
        let rows = membership::Entity::find()
            .filter(membership::Column::TeamId.eq(team_id))
            .order_by_asc(membership::Column::JoinedAt)
            .find_also_related(user::Entity)
            .all(self.db.read())
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(member, account)| {
                account.map(|account| Member {
                    unclaimed: account.provisioned_by.is_some(),
                    name: account.name.clone(),
                    email: account.shown_email().to_owned(),
                    user_id: account.id.into(),
                    role: Role::from_stored(&member.role),
                    joined_at: member.joined_at,
                    join_link_id: member.join_link_id.map(JoinLinkId::from),
                    external_id: member.external_id,
                    issuer: member.external_issuer,
                    last_sign_in_at: account.last_sign_in_at,
                })
            })
            .collect())
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

    /// Changes a member's role (administrators). The last administrator cannot be demoted.
    pub async fn change_role(
        &self,
        team_id: &TeamId,
        user_id: &UserId,
        role: Role,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<(), TeamError> {
        let txn = administer(&self.db, team_id, actor, now).await?;
        let (member, account) = member_row(&*txn, team_id, user_id).await?;
        let from = Role::from_stored(&member.role);
        if from == role {
            return Ok(());
        }
        if from == Role::Administrator && administrators(&*txn, team_id).await? <= 1 {
            return Err(TeamError::LastAdministrator);
        }
        if role == Role::Administrator && account.provisioned_by.is_some() {
            return Err(TeamError::IntegrationIdentityAdmin);
        }
        membership::Entity::update_many()
            .col_expr(membership::Column::Role, Expr::value(role.as_str()))
            .filter(membership::Column::TeamId.eq(team_id))
            .filter(membership::Column::UserId.eq(user_id))
            .exec(&*txn)
            .await?;
        AuditLog::record(
            &*txn,
            Some(team_id),
            "member.role_changed",
            actor,
            &Subject::new(&account.id, account.shown_email()),
            json!({ "from": from, "to": role }),
            now,
        )
        .await?;
        txn.commit().await?;
        Ok(())
    }

    /// Removes a member (administrators; anyone may remove themselves, i.e. leave). The last
    /// administrator can do neither. `also` runs in the same transaction, so whatever ends
    /// the member's access (their grants, their sessions' hold on the team) ends with the
    /// membership or not at all.
    pub async fn remove_member<F>(
        &self,
        team_id: &TeamId,
        user_id: &UserId,
        actor: &Actor,
        now: DateTime<Utc>,
        also: F,
    ) -> Result<user::Model, TeamError>
    where
        F: AsyncFnOnce(&sea_orm::DatabaseTransaction) -> Result<(), sea_orm::DbErr>,
    {
        let txn = self.db.transaction().await?;
        lock_team(&*txn, team_id, now).await?;
        let leaving = actor.user_id.as_ref() == Some(user_id);
        if leaving {
            if Self::role_of(&*txn, team_id, user_id).await?.is_none() {
                return Err(TeamError::NotFound);
            }
        } else {
            Self::require_admin(&*txn, team_id, actor).await?;
        }
        let (member, account) = member_row(&*txn, team_id, user_id).await?;
        if Role::from_stored(&member.role) == Role::Administrator
            && administrators(&*txn, team_id).await? <= 1
        {
            return Err(TeamError::LastAdministrator);
        }
        membership::Entity::delete_many()
            .filter(membership::Column::TeamId.eq(team_id))
            .filter(membership::Column::UserId.eq(user_id))
            .exec(&*txn)
            .await?;
        also(&*txn).await?;
        AuditLog::record(
            &*txn,
            Some(team_id),
            if leaving {
                "member.left"
            } else {
                "member.removed"
            },
            actor,
            &Subject::new(&account.id, account.shown_email()),
            json!({ "role": member.role }),
            now,
        )
        .await?;
        txn.commit().await?;
        tracing::info!(team = %team_id, user = %user_id, "member removed");
        Ok(account)
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

    /// Adds a person to a team directly, in the caller's transaction (a member provisioned
    /// from an integration). Returns false when they were in it already.
    pub async fn add_member_in<C: ConnectionTrait>(
        conn: &C,
        team_id: &TeamId,
        account: &user::Model,
        role: Role,
        external: Option<(&str, &str)>,
        now: DateTime<Utc>,
    ) -> Result<bool, TeamError> {
        let row = Self::membership_row(team_id, &account.id, role, external, now);
        let inserted = membership::Entity::insert(row)
            .on_conflict(
                OnConflict::columns([membership::Column::TeamId, membership::Column::UserId])
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(conn)
            .await?;
        Ok(inserted == 1)
    }
}

impl Teams {
    /// The row of a membership added directly (see [`Teams::add_member_in`]), for a caller
    /// that writes many at once.
    pub fn membership_row(
        team_id: &TeamId,
        user_id: &str,
        role: Role,
        external: Option<(&str, &str)>,
        now: DateTime<Utc>,
    ) -> membership::ActiveModel {
        membership::ActiveModel {
            team_id: Set(team_id.into()),
            user_id: Set(user_id.to_owned()),
            role: Set(role.as_str().to_owned()),
            joined_at: Set(now),
            join_link_id: Set(None),
            external_issuer: Set(external.map(|(issuer, _)| issuer.to_owned())),
            external_id: Set(external.map(|(_, id)| id.to_owned())),
        }
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

pub(crate) async fn member_row<C: ConnectionTrait>(
    conn: &C,
    team_id: &TeamId,
    user_id: &UserId,
) -> Result<(membership::Model, user::Model), TeamError> {
    match membership::Entity::find_by_id((team_id.into(), user_id.into()))
        .find_also_related(user::Entity)
        .one(conn)
        .await?
    {
        Some((member, Some(account))) => Ok((member, account)),
        _ => Err(TeamError::NotAMember),
    }
}

pub(crate) async fn administrators<C: ConnectionTrait>(
    conn: &C,
    team_id: &TeamId,
) -> Result<u64, TeamError> {
    Ok(membership::Entity::find()
        .filter(membership::Column::TeamId.eq(team_id))
        .filter(membership::Column::Role.eq(Role::Administrator.as_str()))
        .count(conn)
        .await?)
}

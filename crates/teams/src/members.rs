//! Who is in a team and in what role: the team's members, their roles, and adding and
//! removing them. Like every change to a team, each one checks the actor's role and writes its
//! audit event in the same transaction.

use chrono::{DateTime, Utc};
use latchkey_core::{JoinLinkId, TeamId, UserId};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder,
};
use serde::Serialize;
use serde_json::json;

use crate::audit::{Actor, AuditLog, Subject};
use crate::entities::{membership, team, user};
use crate::error::TeamError;
use crate::role::Role;
use crate::teams::{Team, Teams, administer, lock_team};

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

impl Teams {
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

/// The member's row and account, or [`TeamError::NotAMember`].
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

/// How many administrators the team has: the last one may be neither demoted nor removed.
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

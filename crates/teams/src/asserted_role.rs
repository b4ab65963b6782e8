//! The role an integration's token asserts, where its issuer is configured with an
//! administrator claim: the only way a token can make an administrator, or stop being one.

use chrono::{DateTime, Utc};
use latchkey_core::{TeamId, UserId};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use serde_json::Value;

use crate::entities::membership;
use crate::members::{administrators, member_row};
use crate::teams::lock_team;
use crate::{Actor, AuditLog, Role, Subject, TeamError};

/// Gives a member the role the token asserts, in the caller's transaction, and audits the
/// change with `details` (the issuer and claim). True when the role changed. The team's last
/// administrator is never demoted ([`TeamError::LastAdministrator`]). Identities an
/// integration provisioned may be made administrators here, and only here: their team chose
/// to let this issuer say who administers it.
pub async fn assert_role<C: ConnectionTrait>(
    conn: &C,
    team_id: &TeamId,
    user_id: &UserId,
    role: Role,
    actor: &Actor,
    details: Value,
    now: DateTime<Utc>,
) -> Result<bool, TeamError> {
    lock_team(conn, team_id, now).await?;
    let (member, account) = member_row(conn, team_id, user_id).await?;
    let from = Role::from_stored(&member.role);
    if from == role {
        return Ok(false);
    }
    if from == Role::Administrator && administrators(conn, team_id).await? <= 1 {
        return Err(TeamError::LastAdministrator);
    }
    membership::Entity::update_many()
        .col_expr(membership::Column::Role, Expr::value(role.as_str()))
        .filter(membership::Column::TeamId.eq(team_id))
        .filter(membership::Column::UserId.eq(user_id))
        .exec(conn)
        .await?;
    let mut details = details;
    if let Value::Object(map) = &mut details {
        map.insert("from".into(), serde_json::json!(from));
        map.insert("to".into(), serde_json::json!(role));
    }
    AuditLog::record(
        conn,
        Some(team_id),
        "member.role_changed",
        actor,
        &Subject::new(&account.id, account.shown_email()),
        details,
        now,
    )
    .await?;
    Ok(true)
}

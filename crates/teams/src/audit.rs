//! The audit log: append-only events naming who did what to whom, when and from where.

use chrono::{DateTime, Utc};
use latchkey_core::{TeamId, UserId};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use serde::Serialize;
use serde_json::Value;

use sea_orm::sea_query::{Expr, ExprTrait, Func};

use crate::entities::audit_event;

/// Who did something, and from where.
#[derive(Clone, Debug)]
pub struct Actor {
    /// The account acting; `None` for the operator at the command line, who may do anything.
    pub user_id: Option<UserId>,
    /// How the log names them: an address, or what the operator is.
    pub label: String,
    pub ip: String,
    pub user_agent: String,
}

impl Actor {
    pub fn person(user_id: &UserId, email: &str, ip: &str, user_agent: &str) -> Self {
        Self {
            user_id: Some(user_id.to_owned()),
            label: email.to_owned(),
            ip: ip.to_owned(),
            user_agent: user_agent.to_owned(),
        }
    }

    /// An integration acting through the issuer whose token it signed (provisioning a member
    /// it names).
    pub fn integration(issuer: &str, ip: &str, user_agent: &str) -> Self {
        Self {
            user_id: None,
            label: format!("integration {issuer}"),
            ip: ip.to_owned(),
            user_agent: user_agent.to_owned(),
        }
    }

    /// The operator running `latchkey` commands on the server.
    pub fn operator() -> Self {
        Self {
            user_id: None,
            label: "operator (latchkey command)".to_owned(),
            ip: String::new(),
            user_agent: format!("latchkey {}", env!("CARGO_PKG_VERSION")),
        }
    }
}

/// What an event is about.
#[derive(Clone, Debug)]
pub struct Subject {
    pub id: Option<String>,
    pub label: String,
}

impl Subject {
    pub fn new(id: impl Into<String>, label: impl Into<String>) -> Self {
        Self {
            id: Some(id.into()),
            label: label.into(),
        }
    }
}

/// One event as the log shows it (`latchkey audit --json` prints these).
#[derive(Clone, Debug, Serialize)]
pub struct AuditEvent {
    pub id: String,
    pub at: DateTime<Utc>,
    /// A dotted name: `member.joined`, `join_link.created`, …
    pub action: String,
    pub actor: String,
    pub actor_id: Option<String>,
    pub subject: String,
    pub subject_id: Option<String>,
    pub details: Value,
    pub ip: String,
    pub user_agent: String,
}

impl From<audit_event::Model> for AuditEvent {
    fn from(row: audit_event::Model) -> Self {
        Self {
            details: serde_json::from_str(&row.details).unwrap_or(Value::Null),
            id: row.id,
            at: row.at,
            action: row.action,
            actor: row.actor,
            actor_id: row.actor_id,
            subject: row.subject,
            subject_id: row.subject_id,
            ip: row.ip,
            user_agent: row.user_agent,
        }
    }
}

/// Which events to show, newest first.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    /// Exactly this action, or every action under a prefix ending in `.` (`member.`).
    pub action: Option<String>,
    /// Events whose actor or subject contains this text.
    pub person: Option<String>,
    /// Only events older than this event id (the next page).
    pub before: Option<String>,
    pub limit: u64,
}

/// Writes and reads the log.
pub struct AuditLog;

impl AuditLog {
    /// Appends an event, in the caller's transaction, so the event exists exactly when the
    /// change it records does.
    pub async fn record<C: ConnectionTrait>(
        conn: &C,
        team_id: Option<&TeamId>,
        action: &str,
        actor: &Actor,
        subject: &Subject,
        details: Value,
        now: DateTime<Utc>,
    ) -> Result<(), DbErr> {
        audit_event::Entity::insert(Self::row(team_id, action, actor, subject, &details, now))
            .exec_without_returning(conn)
            .await?;
        Ok(())
    }

    /// Appends one event to each of several teams' logs.
    pub async fn record_for_teams<C: ConnectionTrait>(
        conn: &C,
        team_ids: &[TeamId],
        action: &str,
        actor: &Actor,
        subject: &Subject,
        details: Value,
        now: DateTime<Utc>,
    ) -> Result<(), DbErr> {
        let rows = team_ids
            .iter()
            .map(|team| Self::row(Some(team), action, actor, subject, &details, now))
            .collect();
        Self::record_rows(conn, rows).await
    }

    /// A page of one team's events (or, with `None`, of events that belong to no team).
    pub async fn list<C: ConnectionTrait>(
        conn: &C,
        team_id: Option<&TeamId>,
        filter: &AuditFilter,
    ) -> Result<Vec<AuditEvent>, DbErr> {
        use audit_event::Column;
        let mut query = audit_event::Entity::find();
        query = match team_id {
            Some(team) => query.filter(Column::TeamId.eq(team)),
            None => query.filter(Column::TeamId.is_null()),
        };
        if let Some(action) = filter.action.as_deref().filter(|a| !a.is_empty()) {
            query = if action.ends_with('.') {
                query.filter(Column::Action.starts_with(action))
            } else {
                query.filter(Column::Action.eq(action))
            };
        }
        if let Some(person) = filter
            .person
            .as_deref()
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            // Lower-cased on both sides: LIKE is case-sensitive on PostgreSQL, not on SQLite.
            let pattern = format!("%{}%", person.to_lowercase().replace(['%', '_'], ""));
            let lowered = |column: Column| {
                Expr::expr(Func::lower(Expr::col((audit_event::Entity, column))))
                    .like(pattern.as_str())
            };
            query = query.filter(
                Condition::any()
                    .add(lowered(Column::Actor))
                    .add(lowered(Column::Subject)),
            );
        }
        if let Some(before) = &filter.before {
            query = query.filter(Column::Id.lt(before.as_str()));
        }
        let rows = query
            .order_by_desc(Column::Id)
            .limit(filter.limit.clamp(1, 1000))
            .all(conn)
            .await?;
        Ok(rows.into_iter().map(AuditEvent::from).collect())
    }
}

impl AuditLog {
    /// Writes events made with [`AuditLog::row`], many in one statement.
    pub async fn record_rows<C: ConnectionTrait>(
        conn: &C,
        rows: Vec<audit_event::ActiveModel>,
    ) -> Result<(), sea_orm::DbErr> {
        if rows.is_empty() {
            return Ok(());
        }
        audit_event::Entity::insert_many(rows)
            .exec_without_returning(conn)
            .await?;
        Ok(())
    }

    /// An event as a row, for a caller that writes many at once (still one per change).
    pub fn row(
        team_id: Option<&TeamId>,
        action: &str,
        actor: &Actor,
        subject: &Subject,
        details: &Value,
        now: DateTime<Utc>,
    ) -> audit_event::ActiveModel {
        tracing::info!(team = team_id.map(TeamId::as_str), action, actor = %actor.label, subject = %subject.label, "audit");
        audit_event::ActiveModel {
            id: Set(uuid::Uuid::now_v7().to_string()),
            team_id: Set(team_id.map(String::from)),
            at: Set(now),
            action: Set(action.to_owned()),
            actor: Set(truncate(&actor.label, 320)),
            actor_id: Set(actor.user_id.as_ref().map(String::from)),
            subject: Set(truncate(&subject.label, 512)),
            subject_id: Set(subject.id.as_deref().map(|id| truncate(id, 64))),
            details: Set(details.to_string()),
            ip: Set(truncate(&actor.ip, 64)),
            user_agent: Set(truncate(&actor.user_agent, 512)),
        }
    }
}

fn truncate(value: &str, max: usize) -> String {
    value.chars().take(max).collect()
}

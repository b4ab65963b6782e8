//! Proving a connection's address domains by DNS: an administrator publishes a TXT record
//! with the connection's challenge, Latchkey looks it up and proves the domain, and looks it
//! up again every day: a proof whose record is gone ends. A proven domain sends its
//! addresses' sign-ins to the connection (home-realm discovery), so one team can never
//! prove, and so take, another's.

use chrono::{DateTime, Utc};
use latchkey_core::{ConnectionId, Email, TeamId};
use latchkey_teams::{Actor, AuditLog, Subject, Teams};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::json;

use crate::domains::{challenge_record, parse_domain};
use crate::entities::{connection, connection_domain};
use crate::model::{ConnectionDomain, ConnectionError, Offered};
use crate::registry::{Connections, admin_error, domain_view};

/// How often a proven domain's record is looked up again.
pub const RECHECK_EVERY: chrono::TimeDelta = chrono::TimeDelta::hours(24);
/// How long a proof lasts without a lookup that finds its record (DNS failing all along).
pub const UNCONFIRMED_FOR: chrono::TimeDelta = chrono::TimeDelta::days(7);

impl Connections {
    /// The connection that has proven the address's domain (home-realm discovery).
    pub async fn for_address(&self, email: &Email) -> Result<Option<Offered>, sea_orm::DbErr> {
        let Some(owner) = self.domain_owner(email).await? else {
            return Ok(None);
        };
        Ok(connection::Entity::find_by_id(&owner)
            .one(self.db.read())
            .await?
            .map(Offered::from))
    }

    /// The connection whose proof covers the address: a proven domain covers its subdomains,
    /// and the closest proof wins (`eu.acme.example` proven by one connection is that one's,
    /// even where another has proven `acme.example`).
    pub(crate) async fn domain_owner(
        &self,
        email: &Email,
    ) -> Result<Option<String>, sea_orm::DbErr> {
        domain_owner_in(self.db.read(), email.as_str()).await
    }

    /// Checks the domain's TXT record and, when it carries the challenge, proves the domain
    /// for this connection. The record must stay: `recheck_domains` ends a proof whose record
    /// is gone.
    pub async fn verify_domain(
        &self,
        id: &ConnectionId,
        domain: &str,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<ConnectionDomain, ConnectionError> {
        let domain = parse_domain(domain)
            .ok_or_else(|| ConnectionError::Domain(domain.trim().to_owned()))?;
        let row = self.find(id).await?;
        let team_id = TeamId::from(row.team_id.as_str());
        Teams::require_admin(self.db.read(), &team_id, actor)
            .await
            .map_err(|e| admin_error(e, actor))?;
        let Some(entry) = connection_domain::Entity::find_by_id((row.id.clone(), domain.clone()))
            .one(self.db.read())
            .await?
        else {
            return Err(ConnectionError::NotItsDomain(domain));
        };
        if entry.proven_at.is_some() {
            return Ok(domain_view(entry));
        }
        let (name, value) = challenge_record(&entry.domain, &entry.challenge);
        let texts = self.dns.texts(&name).await?;
        if !texts.iter().any(|text| text.trim() == value) {
            return Err(ConnectionError::NotProven { name, value });
        }
        let elsewhere = connection_domain::Entity::find()
            .filter(connection_domain::Column::Domain.eq(domain.as_str()))
            .filter(connection_domain::Column::ProvenAt.is_not_null())
            .count(self.db.read())
            .await?;
        if elsewhere > 0 {
            return Err(ConnectionError::ProvenElsewhere(domain));
        }
        let txn = latchkey_teams::administer(&self.db, &team_id, actor, now)
            .await
            .map_err(|e| admin_error(e, actor))?;
        // The partial unique index makes a race between two connections end with one proof.
        let proven = connection_domain::ActiveModel {
            connection_id: Set(entry.connection_id.clone()),
            domain: Set(entry.domain.clone()),
            proven_at: Set(Some(now)),
            checked_at: Set(Some(now)),
            ..Default::default()
        };
        if let Err(error) = connection_domain::Entity::update(proven).exec(&*txn).await {
            return Err(match error.sql_err() {
                Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => {
                    ConnectionError::ProvenElsewhere(domain)
                }
                _ => error.into(),
            });
        }
        AuditLog::record(
            &*txn,
            Some(&team_id),
            "connection.domain_proven",
            actor,
            &Subject::new(&row.id, &row.name),
            json!({ "domain": domain, "txt_name": name }),
            now,
        )
        .await?;
        txn.commit().await?;
        tracing::info!(connection = %row.id, %domain, "domain proven");
        Ok(domain_view(connection_domain::Model {
            proven_at: Some(now),
            checked_at: Some(now),
            ..entry
        }))
    }

    /// Looks up again the record of every proven domain not checked for a day, and ends the
    /// proof of those whose record is gone (a domain sold or let lapse must not stay the old
    /// team's), or that no lookup has confirmed for a week (a record that cannot be read is no
    /// proof either). Ending a proof ends the sessions the connection opened. Returns how many
    /// proofs ended.
    pub async fn recheck_domains(&self, now: DateTime<Utc>) -> Result<usize, ConnectionError> {
        let due = connection_domain::Entity::find()
            .filter(connection_domain::Column::ProvenAt.is_not_null())
            .filter(
                sea_orm::Condition::any()
                    .add(connection_domain::Column::CheckedAt.is_null())
                    .add(connection_domain::Column::CheckedAt.lt(now - RECHECK_EVERY)),
            )
            .all(self.db.read())
            .await?;
        let mut ended = 0;
        for entry in due {
            let (name, value) = challenge_record(&entry.domain, &entry.challenge);
            let why = match self.dns.texts(&name).await {
                Ok(texts) if texts.iter().any(|text| text.trim() == value) => None,
                Ok(_) => Some("the TXT record is gone"),
                Err(error) => {
                    tracing::warn!(%error, domain = %entry.domain, "a proven domain's record could not be looked up");
                    let last = entry.checked_at.or(entry.proven_at).unwrap_or(now);
                    if now - last < UNCONFIRMED_FOR {
                        continue;
                    }
                    Some("no lookup has found the TXT record for a week")
                }
            };
            // One domain's trouble does not stop the others' checks.
            match self.settle_domain(&entry, why, now).await {
                Ok(true) => ended += 1,
                Ok(false) => {}
                Err(error) => {
                    tracing::warn!(%error, domain = %entry.domain, "recording a domain check failed")
                }
            }
        }
        Ok(ended)
    }

    /// Records a check of a proven domain: found (`why` is none), or its proof ended, once
    /// across replicas, audited, and the connection's sessions ended. Whether it ended here.
    async fn settle_domain(
        &self,
        entry: &connection_domain::Model,
        why: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<bool, ConnectionError> {
        let txn = self.db.transaction().await?;
        let mut update = connection_domain::Entity::update_many()
            .col_expr(connection_domain::Column::CheckedAt, Expr::value(now))
            .filter(connection_domain::Column::ConnectionId.eq(entry.connection_id.as_str()))
            .filter(connection_domain::Column::Domain.eq(entry.domain.as_str()))
            .filter(connection_domain::Column::ProvenAt.is_not_null());
        if why.is_some() {
            update = update.col_expr(
                connection_domain::Column::ProvenAt,
                Expr::value(Option::<DateTime<Utc>>::None),
            );
        }
        let changed = update.exec(&*txn).await?.rows_affected == 1;
        let Some(why) = why.filter(|_| changed) else {
            txn.commit().await?;
            return Ok(false);
        };
        let sessions =
            latchkey_login::Sessions::end_through_connection(&*txn, &entry.connection_id, now)
                .await?;
        if let Some(row) = connection::Entity::find_by_id(entry.connection_id.as_str())
            .one(&*txn)
            .await?
        {
            AuditLog::record(
                &*txn,
                Some(&TeamId::from(row.team_id.as_str())),
                "connection.domain_unproven",
                &Actor {
                    user_id: None,
                    label: "Latchkey's daily domain check".into(),
                    ip: String::new(),
                    user_agent: String::new(),
                },
                &Subject::new(&row.id, &row.name),
                json!({ "domain": entry.domain, "why": why, "sessions_ended": sessions }),
                now,
            )
            .await?;
        }
        txn.commit().await?;
        tracing::warn!(domain = %entry.domain, connection = %entry.connection_id, %why, "a domain's proof ended");
        Ok(true)
    }
}

/// The connection whose proof covers `address` (see [`Connections::domain_owner`]), read in
/// `conn`.
pub(crate) async fn domain_owner_in<C: sea_orm::ConnectionTrait>(
    conn: &C,
    address: &str,
) -> Result<Option<String>, sea_orm::DbErr> {
    let Some((_, domain)) = address.rsplit_once('@') else {
        return Ok(None);
    };
    let proven = connection_domain::Entity::find()
        .filter(connection_domain::Column::Domain.is_in(domain_and_parents(domain)))
        .filter(connection_domain::Column::ProvenAt.is_not_null())
        .all(conn)
        .await?;
    Ok(proven
        .into_iter()
        .max_by_key(|row| row.domain.split('.').count())
        .map(|row| row.connection_id))
}

/// `mail.acme.example` → `mail.acme.example`, `acme.example` (never a bare top-level label).
pub(crate) fn domain_and_parents(domain: &str) -> Vec<String> {
    let labels: Vec<&str> = domain.split('.').collect();
    (0..labels.len().saturating_sub(1))
        .map(|skip| labels[skip..].join("."))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_domain_is_covered_by_itself_and_its_parents() {
        assert_eq!(
            domain_and_parents("eu.mail.acme.example"),
            ["eu.mail.acme.example", "mail.acme.example", "acme.example"]
        );
        assert_eq!(domain_and_parents("acme.example"), ["acme.example"]);
    }
}

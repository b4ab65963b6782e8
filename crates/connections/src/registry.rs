//! A team's connections: added (after discovering the provider, so a wrong issuer is said at
//! once), listed and removed. Their domains are proven in `domain_proof`.

use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use latchkey_core::{ConnectionId, Db, TeamId};
use latchkey_keys::MasterKey;
use latchkey_teams::{Actor, AuditLog, Subject, TeamError, Teams};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseTransaction, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder,
};
use serde_json::json;

use crate::MAX_CONNECTIONS_PER_TEAM;
use crate::client::Upstream;
use crate::domains::{TxtLookup, challenge_record};
use crate::entities::{connection, connection_domain};
use crate::model::{
    Connection, ConnectionDomain, ConnectionError, EMAIL_CLAIMS, NewConnection, Offered,
    checked_domains, checked_hosted_domain, checked_scopes,
};

/// The connections of every team, with what they need: the database, the master key that
/// seals client secrets, the HTTP client to their providers, and DNS.
#[derive(Clone)]
pub struct Connections {
    pub(crate) db: Db,
    pub(crate) master_key: Arc<MasterKey>,
    pub(crate) upstream: Upstream,
    pub(crate) dns: TxtLookup,
    /// This provider's issuer: each connection's redirect URI is under it.
    pub(crate) issuer: latchkey_core::Issuer,
}

impl Connections {
    pub fn new(
        db: Db,
        master_key: Arc<MasterKey>,
        upstream: Upstream,
        dns: TxtLookup,
        issuer: latchkey_core::Issuer,
    ) -> Self {
        Self {
            db,
            master_key,
            upstream,
            dns,
            issuer,
        }
    }

    /// Where `connection_id`'s provider sends people back.
    pub(crate) fn redirect_uri(&self, connection_id: &str) -> String {
        crate::redirect_uri(&self.issuer, connection_id)
    }

    /// Adds a connection for a team (its administrators, or the operator), once its provider
    /// answers discovery. Its domains wait to be proven.
    pub async fn add(
        &self,
        new: NewConnection,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Connection, ConnectionError> {
        let Settings {
            name,
            client_id,
            secret,
            domains,
            scopes,
            hosted_domain,
        } = Settings::checked(&new)?;
        // Only the team's administrators make Latchkey fetch anything for it.
        Teams::require_admin(self.db.read(), &new.team_id, actor)
            .await
            .map_err(|e| admin_error(e, actor))?;
        // Says a wrong issuer (or one this policy may not reach) now, not at the first sign-in.
        let metadata = self.upstream.discover(&new.issuer).await?;
        let issuer = metadata.issuer().to_string();
        let id = uuid::Uuid::now_v7().to_string();
        let sealed = self
            .master_key
            .seal(&secret_context(&id), secret.as_bytes())
            .map_err(|_| ConnectionError::Sealing)?;
        let txn = latchkey_teams::administer(&self.db, &new.team_id, actor, now)
            .await
            .map_err(|e| admin_error(e, actor))?;
        check_room(&txn, &new.team_id).await?;
        let row = connection::Model {
            id: id.clone(),
            team_id: new.team_id.as_str().to_owned(),
            name,
            issuer,
            client_id,
            client_secret_sealed: sealed,
            scopes: scopes.join(" "),
            email_claim: new.email_claim,
            require_email_verified: new.require_email_verified,
            created_at: now,
            hosted_domain,
        };
        connection::Entity::insert(connection::ActiveModel::from(row.clone()))
            .exec_without_returning(&*txn)
            .await?;
        let domain_rows = insert_domains(&txn, &id, &domains).await?;
        record_added(&txn, &new.team_id, &row, &domains, &scopes, actor, now).await?;
        txn.commit().await?;
        tracing::info!(connection = %row.id, team = %row.team_id, issuer = %row.issuer, "connection added");
        Ok(self.view(row, domain_rows))
    }

    /// The connections of one team (its administrators), or of every team (the operator).
    pub async fn list(
        &self,
        team_id: Option<&TeamId>,
        actor: &Actor,
    ) -> Result<Vec<Connection>, ConnectionError> {
        let mut query = connection::Entity::find().order_by_asc(connection::Column::CreatedAt);
        match team_id {
            Some(team) => {
                Teams::require_admin(self.db.read(), team, actor)
                    .await
                    .map_err(|e| admin_error(e, actor))?;
                query = query.filter(connection::Column::TeamId.eq(team.as_str()));
            }
            None if actor.user_id.is_some() => {
                return Err(ConnectionError::Team(TeamError::Forbidden));
            }
            None => {}
        }
        let rows = query.all(self.db.read()).await?;
        let mut listed = Vec::with_capacity(rows.len());
        for row in rows {
            let domains = self.domains_of(&row.id).await?;
            listed.push(self.view(row, domains));
        }
        Ok(listed)
    }

    /// The connections a team's people may choose on its join and login pages.
    pub async fn offered_by(&self, team_id: &TeamId) -> Result<Vec<Offered>, sea_orm::DbErr> {
        Ok(connection::Entity::find()
            .filter(connection::Column::TeamId.eq(team_id.as_str()))
            .order_by_asc(connection::Column::CreatedAt)
            .all(self.db.read())
            .await?
            .into_iter()
            .map(Offered::from)
            .collect())
    }

    /// Removes a connection: its links go with it, and every session it opened ends.
    pub async fn remove(
        &self,
        id: &ConnectionId,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Connection, ConnectionError> {
        let row = self.find(id).await?;
        let team_id = TeamId::from(row.team_id.as_str());
        let domains = self.domains_of(&row.id).await?;
        let txn = latchkey_teams::administer(&self.db, &team_id, actor, now)
            .await
            .map_err(|e| admin_error(e, actor))?;
        // Children first. Pending sign-ins stay until they expire: their callback says the
        // connection was removed.
        crate::entities::connection_link::Entity::delete_many()
            .filter(crate::entities::connection_link::Column::ConnectionId.eq(row.id.as_str()))
            .exec(&*txn)
            .await?;
        connection_domain::Entity::delete_many()
            .filter(connection_domain::Column::ConnectionId.eq(row.id.as_str()))
            .exec(&*txn)
            .await?;
        let deleted = connection::Entity::delete_by_id(row.id.as_str())
            .exec(&*txn)
            .await?;
        if deleted.rows_affected == 0 {
            return Err(ConnectionError::NotFound(id.to_string()));
        }
        let ended = latchkey_login::Sessions::end_through_connection(&*txn, &row.id, now).await?;
        AuditLog::record(
            &*txn,
            Some(&team_id),
            "connection.removed",
            actor,
            &Subject::new(&row.id, &row.name),
            json!({ "issuer": row.issuer, "sessions_ended": ended }),
            now,
        )
        .await?;
        txn.commit().await?;
        Ok(self.view(row, domains))
    }

    /// The connection's id if it is `team`'s: a page bound to one team acts on that team's
    /// connections only.
    pub async fn find_in(
        &self,
        team_id: &TeamId,
        id: &ConnectionId,
    ) -> Result<ConnectionId, ConnectionError> {
        let row = self.find(id).await?;
        if row.team_id != team_id.as_str() {
            return Err(ConnectionError::NotFound(id.to_string()));
        }
        Ok(id.clone())
    }

    pub(crate) async fn find(
        &self,
        id: &ConnectionId,
    ) -> Result<connection::Model, ConnectionError> {
        connection::Entity::find_by_id(id.as_str())
            .one(self.db.read())
            .await?
            .ok_or_else(|| ConnectionError::NotFound(id.to_string()))
    }

    pub(crate) async fn domains_of(
        &self,
        id: &str,
    ) -> Result<Vec<connection_domain::Model>, sea_orm::DbErr> {
        connection_domain::Entity::find()
            .filter(connection_domain::Column::ConnectionId.eq(id))
            .order_by_asc(connection_domain::Column::Domain)
            .all(self.db.read())
            .await
    }

    /// The connection's client secret, opened.
    pub(crate) fn client_secret(&self, row: &connection::Model) -> Result<String, ConnectionError> {
        let opened = self
            .master_key
            .open(&secret_context(&row.id), &row.client_secret_sealed)
            .map_err(|_| ConnectionError::Sealing)?;
        String::from_utf8(opened).map_err(|_| ConnectionError::Sealing)
    }

    /// Seals every connection's client secret under the current master key
    /// (`keys rotate-master`); returns how many.
    pub async fn reseal_secrets(&self) -> Result<usize, ConnectionError> {
        let rows = connection::Entity::find().all(self.db.read()).await?;
        for row in &rows {
            let secret = self.client_secret(row)?;
            let sealed = self
                .master_key
                .seal(&secret_context(&row.id), secret.as_bytes())
                .map_err(|_| ConnectionError::Sealing)?;
            connection::Entity::update(connection::ActiveModel {
                id: Set(row.id.clone()),
                client_secret_sealed: Set(sealed),
                ..Default::default()
            })
            .exec(&*self.db.write().await)
            .await?;
        }
        Ok(rows.len())
    }

    fn view(&self, row: connection::Model, domains: Vec<connection_domain::Model>) -> Connection {
        Connection {
            connection_id: ConnectionId::from(row.id.as_str()),
            team_id: TeamId::from(row.team_id.as_str()),
            name: row.name,
            issuer: row.issuer,
            client_id: row.client_id,
            redirect_uri: self.redirect_uri(&row.id),
            scopes: row.scopes.split_whitespace().map(str::to_owned).collect(),
            email_claim: row.email_claim,
            require_email_verified: row.require_email_verified,
            hosted_domain: row.hosted_domain,
            domains: domains.into_iter().map(domain_view).collect(),
            created_at: row.created_at.to_rfc3339_opts(SecondsFormat::Secs, true),
        }
    }
}

/// A new connection's settings as an administrator gave them, checked in order: its name,
/// client id and secret, domains, scopes, and the claim its addresses are read from.
struct Settings<'a> {
    name: String,
    client_id: String,
    secret: &'a str,
    domains: Vec<String>,
    scopes: Vec<String>,
    hosted_domain: Option<String>,
}

impl<'a> Settings<'a> {
    fn checked(new: &'a NewConnection) -> Result<Self, ConnectionError> {
        let name = new.name.trim().to_owned();
        if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
            return Err(ConnectionError::Name);
        }
        let client_id = new.client_id.trim().to_owned();
        if client_id.is_empty() || client_id.len() > 255 || client_id.chars().any(char::is_control)
        {
            return Err(ConnectionError::ClientId);
        }
        let secret = new.client_secret.trim();
        if secret.is_empty() {
            return Err(ConnectionError::ClientSecret);
        }
        let domains = checked_domains(&new.domains)?;
        let scopes = checked_scopes(&new.scopes)?;
        let hosted_domain = checked_hosted_domain(new.hosted_domain.as_deref())?;
        if !EMAIL_CLAIMS.contains(&new.email_claim.as_str()) {
            return Err(ConnectionError::EmailClaim);
        }
        // `email_verified` speaks of the `email` claim only.
        if new.email_claim != "email" && new.require_email_verified {
            return Err(ConnectionError::VerifiedClaim);
        }
        Ok(Self {
            name,
            client_id,
            secret,
            domains,
            scopes,
            hosted_domain,
        })
    }
}

/// Refuses another connection to a team that has as many as one may.
async fn check_room(txn: &DatabaseTransaction, team_id: &TeamId) -> Result<(), ConnectionError> {
    let existing = connection::Entity::find()
        .filter(connection::Column::TeamId.eq(team_id.as_str()))
        .count(txn)
        .await?;
    if existing >= MAX_CONNECTIONS_PER_TEAM {
        return Err(ConnectionError::TooMany);
    }
    Ok(())
}

/// Logs the new connection in its team's audit log, with the settings it was added with.
async fn record_added(
    txn: &DatabaseTransaction,
    team_id: &TeamId,
    row: &connection::Model,
    domains: &[String],
    scopes: &[String],
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<(), sea_orm::DbErr> {
    AuditLog::record(
        txn,
        Some(team_id),
        "connection.added",
        actor,
        &Subject::new(&row.id, &row.name),
        json!({
            "issuer": row.issuer,
            "client_id": row.client_id,
            "domains": domains,
            "scopes": scopes,
            "email_claim": row.email_claim,
            "require_email_verified": row.require_email_verified,
            "hosted_domain": row.hosted_domain,
        }),
        now,
    )
    .await
}

/// A new connection's domains, each with a challenge of its own, not yet proven.
async fn insert_domains(
    txn: &DatabaseTransaction,
    connection_id: &str,
    domains: &[String],
) -> Result<Vec<connection_domain::Model>, sea_orm::DbErr> {
    let mut domain_rows = Vec::new();
    for domain in domains {
        let model = connection_domain::Model {
            connection_id: connection_id.to_owned(),
            domain: domain.clone(),
            challenge: latchkey_core::secret::random_id(),
            proven_at: None,
            checked_at: None,
        };
        connection_domain::Entity::insert(connection_domain::ActiveModel::from(model.clone()))
            .exec_without_returning(txn)
            .await?;
        domain_rows.push(model);
    }
    Ok(domain_rows)
}

/// What a sealed client secret is bound to: its connection, so it cannot be moved to another.
fn secret_context(connection_id: &str) -> String {
    format!("connection-secret:{connection_id}")
}

pub(crate) fn domain_view(row: connection_domain::Model) -> ConnectionDomain {
    let (txt_name, txt_value) = challenge_record(&row.domain, &row.challenge);
    ConnectionDomain {
        domain: row.domain,
        proven: row.proven_at.is_some(),
        proven_at: row
            .proven_at
            .map(|at| at.to_rfc3339_opts(SecondsFormat::Secs, true)),
        txt_name,
        txt_value,
    }
}

pub(crate) fn admin_error(error: TeamError, actor: &Actor) -> ConnectionError {
    match error {
        TeamError::NotFound if actor.user_id.is_none() => ConnectionError::NoTeam,
        TeamError::Database(e) => ConnectionError::Database(e),
        other => ConnectionError::Team(other),
    }
}

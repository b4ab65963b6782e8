//! A team's connections: added (after discovering the provider, so a wrong issuer is said at
//! once), listed, removed, and their domains proven by DNS.

use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use latchkey_core::{ConnectionId, Db, Email, TeamId};
use latchkey_keys::MasterKey;
use latchkey_teams::{Actor, AuditLog, Subject, TeamError, Teams};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
};
use serde::Serialize;
use serde_json::json;

use super::client::{Upstream, UpstreamError};
use super::domains::{TxtLookup, challenge_record, parse_domain};
use super::entities::{connection, connection_domain};
use super::{MAX_CONNECTIONS_PER_TEAM, MAX_DOMAINS};

/// What an administrator gives to add a connection.
#[derive(Debug)]
pub struct NewConnection {
    pub team_id: TeamId,
    pub name: String,
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    pub domains: Vec<String>,
    pub scopes: Vec<String>,
    /// `email`, or `preferred_username` (Entra ID puts the sign-in address there).
    pub email_claim: String,
    pub require_email_verified: bool,
}

impl NewConnection {
    /// The usual settings: `openid email profile`, the `email` claim, verified.
    pub fn new(team_id: TeamId, name: String, issuer: String, client_id: String) -> Self {
        Self {
            team_id,
            name,
            issuer,
            client_id,
            client_secret: String::new(),
            domains: Vec::new(),
            scopes: vec!["openid".into(), "email".into(), "profile".into()],
            email_claim: "email".into(),
            require_email_verified: true,
        }
    }
}

/// How often a proven domain's record is looked up again.
pub const RECHECK_EVERY: chrono::TimeDelta = chrono::TimeDelta::hours(24);
/// How long a proof lasts without a lookup that finds its record (DNS failing all along).
pub const UNCONFIRMED_FOR: chrono::TimeDelta = chrono::TimeDelta::days(7);

/// The claims a connection may read the address from.
pub const EMAIL_CLAIMS: [&str; 2] = ["email", "preferred_username"];

/// A connection as its administrators see it; never its secret.
#[derive(Debug, Serialize)]
pub struct Connection {
    pub connection_id: ConnectionId,
    pub team_id: TeamId,
    pub name: String,
    pub issuer: String,
    pub client_id: String,
    /// Where the provider must send people back: register it there.
    pub redirect_uri: String,
    pub scopes: Vec<String>,
    pub email_claim: String,
    pub require_email_verified: bool,
    pub domains: Vec<ConnectionDomain>,
    pub created_at: String,
}

/// A connection as a sign-in page offers it: its name, chosen by the team, beside the host
/// of its provider, which no team can choose for another's (a button named "Google" leads
/// where its host says).
#[derive(Debug, Serialize)]
pub struct Offered {
    pub id: String,
    pub name: String,
    pub host: String,
}

impl From<connection::Model> for Offered {
    fn from(row: connection::Model) -> Self {
        let host = url::Url::parse(&row.issuer)
            .ok()
            .and_then(|url| url.host_str().map(str::to_owned))
            .unwrap_or_default();
        Self {
            id: row.id,
            name: row.name,
            host,
        }
    }
}

/// A domain of a connection and how to prove it.
#[derive(Debug, Serialize)]
pub struct ConnectionDomain {
    pub domain: String,
    pub proven: bool,
    pub proven_at: Option<String>,
    /// The TXT record that proves it: its name and text.
    pub txt_name: String,
    pub txt_value: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    #[error("the name must be 1 to 200 characters on one line")]
    Name,
    #[error("the client id must be 1 to 255 characters")]
    ClientId,
    #[error("the client secret is empty: give the secret the provider showed for this client")]
    ClientSecret,
    #[error("{0:?} is not a domain name (for example acme.example)")]
    Domain(String),
    #[error("a connection may sign in at most {MAX_DOMAINS} domains")]
    TooManyDomains,
    #[error(
        "the scopes must include openid, and be at most 20 words of letters, digits and . _ : -"
    )]
    Scopes,
    #[error("the email claim must be email or preferred_username")]
    EmailClaim,
    #[error(
        "providers say email_verified of the email claim only: with preferred_username, switch the check off (--require-email-verified false) and prove the domain"
    )]
    VerifiedClaim,
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    #[error("a team may have at most {MAX_CONNECTIONS_PER_TEAM} connections: remove one first")]
    TooMany,
    #[error("there is no such team: use the team_id that `latchkey team create` printed")]
    NoTeam,
    #[error(transparent)]
    Team(TeamError),
    #[error("there is no connection {0:?}")]
    NotFound(String),
    #[error("{0} is not one of this connection's domains: add it with the connection")]
    NotItsDomain(String),
    #[error("{0} is already proven by another connection: remove it there first")]
    ProvenElsewhere(String),
    #[error(
        "no TXT record {name} with the text {value} was found yet; publish it (DNS changes can take minutes) and try again"
    )]
    NotProven { name: String, value: String },
    #[error(transparent)]
    Dns(#[from] super::domains::DnsError),
    #[error("the client secret could not be sealed or opened under the master key")]
    Sealing,
    #[error("database: {0}")]
    Database(#[from] sea_orm::DbErr),
}

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
        super::redirect_uri(&self.issuer, connection_id)
    }

    /// Adds a connection for a team (its administrators, or the operator), once its provider
    /// answers discovery. Its domains wait to be proven.
    pub async fn add(
        &self,
        new: NewConnection,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Connection, ConnectionError> {
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
        if !EMAIL_CLAIMS.contains(&new.email_claim.as_str()) {
            return Err(ConnectionError::EmailClaim);
        }
        // `email_verified` speaks of the `email` claim only.
        if new.email_claim != "email" && new.require_email_verified {
            return Err(ConnectionError::VerifiedClaim);
        }
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
        let existing = connection::Entity::find()
            .filter(connection::Column::TeamId.eq(new.team_id.as_str()))
            .count(&*txn)
            .await?;
        if existing >= MAX_CONNECTIONS_PER_TEAM {
            return Err(ConnectionError::TooMany);
        }
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
        };
        connection::Entity::insert(connection::ActiveModel::from(row.clone()))
            .exec_without_returning(&*txn)
            .await?;
        let mut domain_rows = Vec::new();
        for domain in &domains {
            let model = connection_domain::Model {
                connection_id: id.clone(),
                domain: domain.clone(),
                challenge: latchkey_core::secret::random_id(),
                proven_at: None,
                checked_at: None,
            };
            connection_domain::Entity::insert(connection_domain::ActiveModel::from(model.clone()))
                .exec_without_returning(&*txn)
                .await?;
            domain_rows.push(model);
        }
        AuditLog::record(
            &*txn,
            Some(&new.team_id),
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
            }),
            now,
        )
        .await?;
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
        super::entities::connection_link::Entity::delete_many()
            .filter(super::entities::connection_link::Column::ConnectionId.eq(row.id.as_str()))
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
            domains: domains.into_iter().map(domain_view).collect(),
            created_at: row.created_at.to_rfc3339_opts(SecondsFormat::Secs, true),
        }
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

/// What a sealed client secret is bound to: its connection, so it cannot be moved to another.
fn secret_context(connection_id: &str) -> String {
    format!("connection-secret:{connection_id}")
}

fn domain_view(row: connection_domain::Model) -> ConnectionDomain {
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

/// `mail.acme.example` → `mail.acme.example`, `acme.example` (never a bare top-level label).
pub(crate) fn domain_and_parents(domain: &str) -> Vec<String> {
    let labels: Vec<&str> = domain.split('.').collect();
    (0..labels.len().saturating_sub(1))
        .map(|skip| labels[skip..].join("."))
        .collect()
}

fn checked_domains(raw: &[String]) -> Result<Vec<String>, ConnectionError> {
    let mut domains: Vec<String> = Vec::new();
    for entry in raw.iter().flat_map(|d| d.split([',', ' ', '\n'])) {
        if entry.trim().is_empty() {
            continue;
        }
        let domain =
            parse_domain(entry).ok_or_else(|| ConnectionError::Domain(entry.trim().to_owned()))?;
        if !domains.contains(&domain) {
            domains.push(domain);
        }
    }
    if domains.len() > MAX_DOMAINS {
        return Err(ConnectionError::TooManyDomains);
    }
    Ok(domains)
}

fn checked_scopes(raw: &[String]) -> Result<Vec<String>, ConnectionError> {
    let mut scopes: Vec<String> = Vec::new();
    for scope in raw.iter().flat_map(|s| s.split([',', ' '])) {
        let scope = scope.trim();
        if scope.is_empty() {
            continue;
        }
        let good = scope.len() <= 64
            && scope
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._:-/".contains(c));
        if !good {
            return Err(ConnectionError::Scopes);
        }
        if !scopes.iter().any(|s| s == scope) {
            scopes.push(scope.to_owned());
        }
    }
    if !scopes.iter().any(|s| s == "openid") || scopes.len() > 20 {
        return Err(ConnectionError::Scopes);
    }
    Ok(scopes)
}

fn admin_error(error: TeamError, actor: &Actor) -> ConnectionError {
    match error {
        TeamError::NotFound if actor.user_id.is_none() => ConnectionError::NoTeam,
        TeamError::Database(e) => ConnectionError::Database(e),
        other => ConnectionError::Team(other),
    }
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

    #[test]
    fn scopes_need_openid() {
        let words = |s: &[&str]| s.iter().map(|w| (*w).to_owned()).collect::<Vec<_>>();
        assert!(checked_scopes(&words(&["openid,email", "profile"])).is_ok());
        assert!(checked_scopes(&words(&["email profile"])).is_err());
        assert!(checked_scopes(&words(&["openid", "a\"b"])).is_err());
    }
}

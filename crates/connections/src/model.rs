//! What connections are: what an administrator gives to add one, how administrators and
//! sign-in pages see one, why a change is refused, and the checks a new one passes.

use latchkey_core::{ConnectionId, TeamId};
use serde::Serialize;

use crate::client::UpstreamError;
use crate::entities::connection;
use crate::{MAX_CONNECTIONS_PER_TEAM, MAX_DOMAINS, domains::parse_domain};
use latchkey_teams::TeamError;

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
    /// Google's hosted domain (`hd`): sent with each sign-in and required in the ID token.
    pub hosted_domain: Option<String>,
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
            hosted_domain: None,
        }
    }
}

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
    /// The Google Workspace domain (`hd`) every ID token must name, if set.
    pub hosted_domain: Option<String>,
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
    #[error(
        "the hosted domain {0:?} is not a domain name: give the Google Workspace domain, for example acme.example"
    )]
    HostedDomain(String),
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
    Dns(#[from] crate::domains::DnsError),
    #[error("the client secret could not be sealed or opened under the master key")]
    Sealing,
    #[error("database: {0}")]
    Database(#[from] sea_orm::DbErr),
}

pub(crate) fn checked_domains(raw: &[String]) -> Result<Vec<String>, ConnectionError> {
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

/// The hosted domain as given, if any: a domain name, lower case.
pub(crate) fn checked_hosted_domain(raw: Option<&str>) -> Result<Option<String>, ConnectionError> {
    match raw.map(str::trim).filter(|d| !d.is_empty()) {
        None => Ok(None),
        Some(raw) => parse_domain(raw)
            .map(Some)
            .ok_or_else(|| ConnectionError::HostedDomain(raw.to_owned())),
    }
}

pub(crate) fn checked_scopes(raw: &[String]) -> Result<Vec<String>, ConnectionError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_need_openid() {
        let words = |s: &[&str]| s.iter().map(|w| (*w).to_owned()).collect::<Vec<_>>();
        assert!(checked_scopes(&words(&["openid,email", "profile"])).is_ok());
        assert!(checked_scopes(&words(&["email profile"])).is_err());
        assert!(checked_scopes(&words(&["openid", "a\"b"])).is_err());
    }
}

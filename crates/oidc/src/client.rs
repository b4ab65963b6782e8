//! Registered clients: parsed once from their row, cached briefly, created and deleted by the
//! CLI. Secrets are stored as SHA-256 (they are 256-bit random, so a slow hash adds nothing
//! but latency) and shown once.

use latchkey_core::ClientId;
use latchkey_core::TeamId;
use latchkey_core::ttl_cache::TtlCache;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use latchkey_keys::SigningAlgorithm;
use sea_orm::{EntityTrait, IntoActiveModel, QueryOrder};
use serde::Serialize;

use super::entities::client;
pub use super::registration::{ClientError, NewClient};
use super::scope::Scopes;
use latchkey_core::secret::{SecretToken, constant_time_eq, sha256_hex};

/// How long a replica trusts its copy of a client. A client deleted on another replica (or by
/// the CLI) stops working within this time; in exchange the token endpoint reads no row.
pub const CLIENT_CACHE_TTL: Duration = Duration::from_secs(5);
/// Entries kept before the cache starts over, so unknown ids cannot grow it without bound.
const CLIENT_CACHE_CAPACITY: usize = 10_000;

/// How a client proves who it is at the token endpoint (RFC 7591 §2 names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    ClientSecretBasic,
    ClientSecretPost,
    PrivateKeyJwt,
    None,
}

impl AuthMethod {
    pub const ALL: [AuthMethod; 4] = [
        AuthMethod::ClientSecretBasic,
        AuthMethod::ClientSecretPost,
        AuthMethod::PrivateKeyJwt,
        AuthMethod::None,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::ClientSecretBasic => "client_secret_basic",
            AuthMethod::ClientSecretPost => "client_secret_post",
            AuthMethod::PrivateKeyJwt => "private_key_jwt",
            AuthMethod::None => "none",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == raw)
    }
}

/// The grants a client may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GrantType {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
    JwtBearer,
}

impl GrantType {
    pub const ALL: [GrantType; 4] = [
        GrantType::AuthorizationCode,
        GrantType::RefreshToken,
        GrantType::ClientCredentials,
        GrantType::JwtBearer,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::RefreshToken => "refresh_token",
            GrantType::ClientCredentials => "client_credentials",
            GrantType::JwtBearer => "urn:ietf:params:oauth:grant-type:jwt-bearer",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|g| g.as_str() == raw)
    }
}

/// A client as the endpoints see it.
#[derive(Clone, Debug)]
pub struct Client {
    pub id: ClientId,
    pub name: String,
    secret_hash: Option<String>,
    /// The secret before the last rotation and when it stops (see `secret_rotation`).
    previous_secret: Option<(String, DateTime<Utc>)>,
    pub auth_method: AuthMethod,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<GrantType>,
    pub scopes: Scopes,
    pub jwks_uri: Option<String>,
    pub jwks: Option<String>,
    pub team_id: Option<TeamId>,
    pub first_party: bool,
    pub require_pkce: bool,
    pub id_token_alg: SigningAlgorithm,
    pub created_at: DateTime<Utc>,
    /// Where the application starts a sign-in opened from the launcher (OpenID Connect Core
    /// §4), checked when it was registered.
    pub initiate_login_uri: Option<String>,
}

impl Client {
    pub fn is_public(&self) -> bool {
        self.auth_method == AuthMethod::None
    }

    pub fn allows(&self, grant: GrantType) -> bool {
        self.grant_types.contains(&grant)
    }

    /// `unauthorized_client` unless the client was registered for `grant`.
    pub fn require_grant(&self, grant: GrantType) -> Result<(), super::error::OAuthError> {
        if self.allows(grant) {
            return Ok(());
        }
        Err(super::error::OAuthError::unauthorized_client(format!(
            "this client is not allowed the {} grant",
            grant.as_str()
        )))
    }

    pub fn secret_hash(&self) -> Option<&str> {
        self.secret_hash.as_deref()
    }

    /// Whether `secret` is the client's: its current secret, or the one before the last
    /// rotation until its grace period ends. Both compared in constant time, both always, so
    /// the time taken does not tell which matched.
    pub fn accepts_secret(&self, secret: &str, now: DateTime<Utc>) -> bool {
        let presented = sha256_hex(secret.as_bytes());
        let matches =
            |expected: &str| !expected.is_empty() && constant_time_eq(&presented, expected);
        let current = matches(self.secret_hash.as_deref().unwrap_or_default());
        let previous = self
            .previous_secret
            .as_ref()
            .is_some_and(|(hash, until)| matches(hash) & (now < *until));
        current | previous
    }

    /// When the previous secret stops being accepted, if one still is at `now`.
    pub fn previous_secret_until(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.previous_secret
            .as_ref()
            .map(|(_, until)| *until)
            .filter(|until| now < *until)
    }

    /// A client for tests of the parsers: `public` or confidential, with one redirect URI,
    /// the default scopes, the code flow and PKCE required.
    #[cfg(test)]
    pub(crate) fn for_tests(public: bool, redirect_uri: &str) -> Self {
        Self {
            id: ClientId::from("client-1"),
            name: "Test".into(),
            secret_hash: None,
            previous_secret: None,
            auth_method: if public {
                AuthMethod::None
            } else {
                AuthMethod::ClientSecretBasic
            },
            redirect_uris: vec![redirect_uri.to_owned()],
            post_logout_redirect_uris: Vec::new(),
            grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
            scopes: Scopes::from_tokens(crate::scope::DEFAULT_SCOPES).unwrap_or_default(),
            jwks_uri: None,
            jwks: None,
            team_id: None,
            first_party: false,
            require_pkce: true,
            id_token_alg: SigningAlgorithm::Es256,
            created_at: DateTime::<Utc>::UNIX_EPOCH,
            initiate_login_uri: None,
        }
    }

    pub(crate) fn from_row(row: client::Model) -> Result<Self, ClientError> {
        let list = |raw: &str| -> Result<Vec<String>, ClientError> {
            serde_json::from_str(raw)
                .map_err(|e| ClientError::Corrupt(row.id.clone(), e.to_string()))
        };
        let corrupt = |what: &str| ClientError::Corrupt(row.id.clone(), what.to_owned());
        Ok(Self {
            auth_method: AuthMethod::parse(&row.auth_method)
                .ok_or_else(|| corrupt("auth_method"))?,
            redirect_uris: list(&row.redirect_uris)?,
            post_logout_redirect_uris: list(&row.post_logout_redirect_uris)?,
            grant_types: list(&row.grant_types)?
                .iter()
                .map(|g| GrantType::parse(g).ok_or_else(|| corrupt("grant_types")))
                .collect::<Result<_, _>>()?,
            scopes: Scopes::from_tokens(list(&row.scopes)?.iter().map(String::as_str))
                .map_err(|_| corrupt("scopes"))?,
            id_token_alg: match row.id_token_alg.as_str() {
                "RS256" => SigningAlgorithm::Rs256,
                _ => SigningAlgorithm::Es256,
            },
            id: row.id.into(),
            name: row.name,
            secret_hash: row.secret_hash,
            previous_secret: row.previous_secret_hash.zip(row.previous_secret_expires_at),
            jwks_uri: row.jwks_uri,
            jwks: row.jwks,
            team_id: row.team_id.map(TeamId::from),
            first_party: row.first_party,
            require_pkce: row.require_pkce,
            created_at: row.created_at,
            initiate_login_uri: row.initiate_login_uri,
        })
    }
}

/// A client just created: the secret is shown now and never again.
#[derive(Debug, Serialize)]
pub struct CreatedClient {
    pub client_id: String,
    pub client_secret: Option<String>,
    #[serde(flatten)]
    pub details: ClientSummary,
}

impl CreatedClient {
    /// The client whose row was just written, with the secret it was given.
    pub(crate) fn of(row: client::Model, secret: Option<SecretToken>) -> Result<Self, ClientError> {
        let created = Client::from_row(row)?;
        tracing::info!(client = %created.id, name = %created.name, "client created");
        Ok(Self {
            client_id: created.id.to_string(),
            client_secret: secret.map(|s| s.expose().to_owned()),
            details: ClientSummary::from(&created),
        })
    }
}

/// A client as `client list` shows it (no secret).
#[derive(Debug, Serialize)]
pub struct ClientSummary {
    pub name: String,
    pub token_endpoint_auth_method: &'static str,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<&'static str>,
    pub scopes: Vec<String>,
    pub team: Option<TeamId>,
    pub first_party: bool,
    pub require_pkce: bool,
    pub id_token_signed_response_alg: &'static str,
    pub jwks_uri: Option<String>,
    pub initiate_login_uri: Option<String>,
    pub created_at: String,
}

impl From<&Client> for ClientSummary {
    fn from(c: &Client) -> Self {
        Self {
            name: c.name.clone(),
            token_endpoint_auth_method: c.auth_method.as_str(),
            redirect_uris: c.redirect_uris.clone(),
            post_logout_redirect_uris: c.post_logout_redirect_uris.clone(),
            grant_types: c.grant_types.iter().map(|g| g.as_str()).collect(),
            scopes: c.scopes.to_vec(),
            team: c.team_id.clone(),
            first_party: c.first_party,
            require_pkce: c.require_pkce,
            id_token_signed_response_alg: c.id_token_alg.as_str(),
            jwks_uri: c.jwks_uri.clone(),
            initiate_login_uri: c.initiate_login_uri.clone(),
            created_at: c
                .created_at
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        }
    }
}

/// The clients, read through a short-lived cache.
#[derive(Clone)]
pub struct Clients {
    db: latchkey_core::Db,
    cache: TtlCache<Option<Arc<Client>>>,
}

impl Clients {
    pub fn new(db: latchkey_core::Db) -> Self {
        Self {
            db,
            cache: TtlCache::new(CLIENT_CACHE_TTL, CLIENT_CACHE_CAPACITY),
        }
    }

    /// The client with this id, if registered (cached for [`CLIENT_CACHE_TTL`]).
    pub async fn find(&self, id: &ClientId) -> Result<Option<Arc<Client>>, ClientError> {
        if let Some(client) = self.cache.get(id.as_str()) {
            return Ok(client);
        }
        if id.is_empty() || id.len() > 64 {
            return Ok(None);
        }
        let found = client::Entity::find_by_id(id)
            .one(self.db.read())
            .await?
            .map(Client::from_row)
            .transpose()?
            .map(Arc::new);
        self.cache
            .insert(id.to_owned().into_string(), found.clone());
        Ok(found)
    }

    /// Registers a client after checking every field, and returns its one-time secret.
    pub async fn create(
        &self,
        new: NewClient,
        now: DateTime<Utc>,
    ) -> Result<CreatedClient, ClientError> {
        let (row, secret) = new.into_row(now)?;
        client::Entity::insert(row.clone().into_active_model())
            .exec_without_returning(&*self.db.write().await)
            .await?;
        CreatedClient::of(row, secret)
    }

    /// The database the clients live in (for the team path, which writes in a team's
    /// transaction).
    pub(crate) fn db(&self) -> &latchkey_core::Db {
        &self.db
    }

    /// Forgets this replica's copy of a client just changed, so the change applies at once
    /// here (other replicas within [`CLIENT_CACHE_TTL`]).
    pub(crate) fn forget(&self, id: &str) {
        self.cache.forget(id);
    }

    /// Every client, oldest first.
    pub async fn list(&self) -> Result<Vec<(ClientId, ClientSummary)>, ClientError> {
        client::Entity::find()
            .order_by_asc(client::Column::CreatedAt)
            .all(self.db.read())
            .await?
            .into_iter()
            .map(|row| Client::from_row(row).map(|c| (c.id.clone(), ClientSummary::from(&c))))
            .collect()
    }

    /// Removes a client with everything issued to it (its grants and codes go with it).
    pub async fn delete(&self, id: &ClientId) -> Result<(), ClientError> {
        let deleted = client::Entity::delete_by_id(id)
            .exec(&*self.db.write().await)
            .await?;
        if deleted.rows_affected == 0 {
            return Err(ClientError::NotFound(id.to_owned().into_string()));
        }
        self.cache.forget(id.as_str());
        tracing::info!(client = %id, "client deleted");
        Ok(())
    }
}

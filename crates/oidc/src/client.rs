//! Registered clients: parsed once from their row, cached briefly, created and deleted by the
//! CLI. Secrets are stored as SHA-256 (they are 256-bit random, so a slow hash adds nothing
//! but latency) and shown once.

use latchkey_core::TeamId;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use latchkey_keys::SigningAlgorithm;
use sea_orm::{EntityTrait, IntoActiveModel, QueryOrder};
use serde::Serialize;

use super::entities::client;
use super::redirect::{self, RedirectUriError};
use super::scope::{DEFAULT_SCOPES, ScopeError, Scopes, USER_SCOPES};
use latchkey_core::secret::{SecretToken, random_id};

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
    pub id: String,
    pub name: String,
    secret_hash: Option<String>,
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

    fn from_row(row: client::Model) -> Result<Self, ClientError> {
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
            id: row.id,
            name: row.name,
            secret_hash: row.secret_hash,
            jwks_uri: row.jwks_uri,
            jwks: row.jwks,
            team_id: row.team_id.map(TeamId::from),
            first_party: row.first_party,
            require_pkce: row.require_pkce,
            created_at: row.created_at,
        })
    }
}

/// A client to register, with its choices already parsed where it was asked for (the command
/// line); `create` checks how they fit together.
#[derive(Clone, Debug, Default)]
pub struct NewClient {
    pub name: String,
    pub team_id: Option<TeamId>,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub public: bool,
    /// Empty: authorization_code and refresh_token.
    pub grant_types: Vec<GrantType>,
    /// None: none for a public client, client_secret_basic otherwise.
    pub auth_method: Option<AuthMethod>,
    pub jwks_uri: Option<String>,
    pub jwks: Option<String>,
    pub scopes: Vec<String>,
    pub first_party: bool,
    pub pkce_optional: bool,
    /// None: ES256.
    pub id_token_alg: Option<SigningAlgorithm>,
}

/// A client just created: the secret is shown now and never again.
#[derive(Debug, Serialize)]
pub struct CreatedClient {
    pub client_id: String,
    pub client_secret: Option<String>,
    #[serde(flatten)]
    pub details: ClientSummary,
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
            created_at: c
                .created_at
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        }
    }
}

/// Why a client could not be registered or read; each says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("--name must not be empty")]
    NoName,
    #[error("--team {0:?} is not a team id (the id `latchkey team create` prints)")]
    Team(String),
    #[error("a client allowed authorization_code needs at least one --redirect-uri")]
    RedirectUriRequired,
    #[error("redirect URI {0}")]
    RedirectUri(#[from] RedirectUriError),
    #[error("a public client authenticates with none; drop --auth-method {0} or --public")]
    PublicWithSecret(&'static str),
    #[error("--auth-method none is for public clients; add --public")]
    NoneNotPublic,
    #[error("a public client cannot use {0}: it has no credentials to keep a token for itself")]
    PublicMachineGrant(&'static str),
    #[error(
        "the jwt-bearer grant needs --team TEAM: a client exchanges only its own team's assertions"
    )]
    JwtBearerNeedsTeam,
    #[error("private_key_jwt needs the client's keys: --jwks-uri URI or --jwks-file FILE")]
    KeysRequired,
    #[error("--jwks-uri {0:?} must be an https URL (http only on a loopback address)")]
    JwksUri(String),
    #[error("the JWKS is not a valid JSON Web Key Set: {0}")]
    Jwks(String),
    #[error("scope {0}")]
    Scope(#[from] ScopeError),
    #[error("a client using client_credentials only cannot have the user scope {0:?}")]
    UserScopeForMachine(String),
    #[error("refresh_token needs authorization_code as well: refresh tokens come from a sign-in")]
    RefreshWithoutCode,
    #[error("no client {0}")]
    NotFound(String),
    #[error("client {0} is stored damaged ({1})")]
    Corrupt(String, String),
    #[error("database: {0}")]
    Database(#[from] sea_orm::DbErr),
}

type CacheEntry = (Instant, Option<Arc<Client>>);

/// The clients, read through a short-lived cache.
#[derive(Clone)]
pub struct Clients {
    db: latchkey_core::Db,
    cache: Arc<RwLock<HashMap<String, CacheEntry>>>,
}

impl Clients {
    pub fn new(db: latchkey_core::Db) -> Self {
        Self {
            db,
            cache: Arc::default(),
        }
    }

    /// The client with this id, if registered (cached for [`CLIENT_CACHE_TTL`]).
    pub async fn find(&self, id: &str) -> Result<Option<Arc<Client>>, ClientError> {
        if let Ok(cache) = self.cache.read()
            && let Some((at, client)) = cache.get(id)
            && at.elapsed() < CLIENT_CACHE_TTL
        {
            return Ok(client.clone());
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
        if let Ok(mut cache) = self.cache.write() {
            if cache.len() >= CLIENT_CACHE_CAPACITY {
                cache.clear();
            }
            cache.insert(id.to_owned(), (Instant::now(), found.clone()));
        }
        Ok(found)
    }

    /// Registers a client after checking every field, and returns its one-time secret.
    pub async fn create(
        &self,
        new: NewClient,
        now: DateTime<Utc>,
    ) -> Result<CreatedClient, ClientError> {
        let name = new.name.trim().to_owned();
        if name.is_empty() {
            return Err(ClientError::NoName);
        }
        if let Some(team) = &new.team_id
            && (team.as_str().is_empty() || team.as_str().len() > 36)
        {
            return Err(ClientError::Team(team.to_string()));
        }
        let auth_method = new.checked_auth_method()?;
        let grant_types = new.checked_grant_types()?;
        let redirect_uris = new.checked_uris(&new.redirect_uris)?;
        if grant_types.contains(&GrantType::AuthorizationCode) && redirect_uris.is_empty() {
            return Err(ClientError::RedirectUriRequired);
        }
        let post_logout_redirect_uris = new.checked_uris(&new.post_logout_redirect_uris)?;
        new.check_keys(auth_method)?;
        let scopes = new.checked_scopes(&grant_types)?;
        let id_token_alg = new.id_token_alg.unwrap_or(SigningAlgorithm::Es256);
        let secret = (auth_method == AuthMethod::ClientSecretBasic
            || auth_method == AuthMethod::ClientSecretPost)
            .then(SecretToken::generate);
        let id = random_id();
        let json =
            |items: Vec<String>| serde_json::to_string(&items).unwrap_or_else(|_| "[]".into());
        let row = client::Model {
            id: id.clone(),
            name,
            secret_hash: secret.as_ref().map(SecretToken::hash),
            auth_method: auth_method.as_str().to_owned(),
            redirect_uris: json(redirect_uris),
            post_logout_redirect_uris: json(post_logout_redirect_uris),
            grant_types: json(grant_types.iter().map(|g| g.as_str().to_owned()).collect()),
            scopes: json(scopes.to_vec()),
            jwks_uri: new.jwks_uri,
            jwks: new.jwks,
            team_id: new.team_id.map(TeamId::into_string),
            first_party: new.first_party,
            require_pkce: new.public || !new.pkce_optional,
            id_token_alg: id_token_alg.as_str().to_owned(),
            created_at: now,
        };
        client::Entity::insert(row.clone().into_active_model())
            .exec_without_returning(&*self.db.write().await)
            .await?;
        let created = Client::from_row(row)?;
        tracing::info!(client = %id, name = %created.name, "client created");
        Ok(CreatedClient {
            client_id: id,
            client_secret: secret.map(|s| s.expose().to_owned()),
            details: ClientSummary::from(&created),
        })
    }

    /// Every client, oldest first.
    pub async fn list(&self) -> Result<Vec<(String, ClientSummary)>, ClientError> {
        client::Entity::find()
            .order_by_asc(client::Column::CreatedAt)
            .all(self.db.read())
            .await?
            .into_iter()
            .map(|row| Client::from_row(row).map(|c| (c.id.clone(), ClientSummary::from(&c))))
            .collect()
    }

    /// Removes a client with everything issued to it (its grants and codes go with it).
    pub async fn delete(&self, id: &str) -> Result<(), ClientError> {
        let deleted = client::Entity::delete_by_id(id)
            .exec(&*self.db.write().await)
            .await?;
        if deleted.rows_affected == 0 {
            return Err(ClientError::NotFound(id.to_owned()));
        }
        if let Ok(mut cache) = self.cache.write() {
            cache.remove(id);
        }
        tracing::info!(client = %id, "client deleted");
        Ok(())
    }
}

/// Each field of a new client, checked on its own.
impl NewClient {
    fn checked_auth_method(&self) -> Result<AuthMethod, ClientError> {
        let auth_method = match self.auth_method {
            Some(method) => method,
            None if self.public => AuthMethod::None,
            None => AuthMethod::ClientSecretBasic,
        };
        match (self.public, auth_method) {
            (true, AuthMethod::None)
            | (
                false,
                AuthMethod::ClientSecretBasic
                | AuthMethod::ClientSecretPost
                | AuthMethod::PrivateKeyJwt,
            ) => {}
            (true, other) => return Err(ClientError::PublicWithSecret(other.as_str())),
            (false, AuthMethod::None) => return Err(ClientError::NoneNotPublic),
        }
        Ok(auth_method)
    }

    /// The grant types asked for, each once, or the default; and only those that go together.
    fn checked_grant_types(&self) -> Result<Vec<GrantType>, ClientError> {
        let mut grant_types = Vec::new();
        for grant in &self.grant_types {
            if !grant_types.contains(grant) {
                grant_types.push(*grant);
            }
        }
        if grant_types.is_empty() {
            grant_types = vec![GrantType::AuthorizationCode, GrantType::RefreshToken];
        }
        if self.public
            && let Some(machine) = grant_types
                .iter()
                .find(|g| matches!(g, GrantType::ClientCredentials | GrantType::JwtBearer))
        {
            return Err(ClientError::PublicMachineGrant(machine.as_str()));
        }
        if grant_types.contains(&GrantType::JwtBearer) && self.team_id.is_none() {
            return Err(ClientError::JwtBearerNeedsTeam);
        }
        if grant_types.contains(&GrantType::RefreshToken)
            && !grant_types.contains(&GrantType::AuthorizationCode)
        {
            return Err(ClientError::RefreshWithoutCode);
        }
        Ok(grant_types)
    }

    /// Redirect URIs, each matched exactly later, so each must parse now.
    fn checked_uris(&self, uris: &[String]) -> Result<Vec<String>, ClientError> {
        uris.iter()
            .map(|raw| redirect::parse(raw, self.public).map(|_| raw.clone()))
            .collect::<Result<_, _>>()
            .map_err(ClientError::from)
    }

    /// `private_key_jwt` needs keys to check assertions with.
    fn check_keys(&self, auth_method: AuthMethod) -> Result<(), ClientError> {
        if let Some(uri) = &self.jwks_uri
            && !crate::remote_jwks::acceptable_url(uri)
        {
            return Err(ClientError::JwksUri(uri.clone()));
        }
        if let Some(jwks) = &self.jwks {
            serde_json::from_str::<jsonwebtoken::jwk::JwkSet>(jwks)
                .map_err(|e| ClientError::Jwks(e.to_string()))?;
        }
        if auth_method == AuthMethod::PrivateKeyJwt
            && self.jwks_uri.is_none()
            && self.jwks.is_none()
        {
            return Err(ClientError::KeysRequired);
        }
        Ok(())
    }

    /// The scopes asked for, or the defaults; a machine gets none about a person.
    fn checked_scopes(&self, grant_types: &[GrantType]) -> Result<Scopes, ClientError> {
        let user_facing = grant_types.contains(&GrantType::AuthorizationCode);
        let scopes = if self.scopes.is_empty() {
            if user_facing {
                Scopes::from_tokens(DEFAULT_SCOPES)?
            } else {
                Scopes::default()
            }
        } else {
            Scopes::from_tokens(self.scopes.iter().map(String::as_str))?
        };
        if !user_facing && let Some(user_scope) = scopes.iter().find(|s| USER_SCOPES.contains(s)) {
            return Err(ClientError::UserScopeForMachine(user_scope.to_owned()));
        }
        Ok(scopes)
    }
}

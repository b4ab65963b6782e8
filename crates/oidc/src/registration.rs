//! What registering a client asks for, each field checked on its own, and why a client could
//! not be registered.

use chrono::{DateTime, Utc};
use latchkey_core::TeamId;
use latchkey_core::secret::{SecretToken, random_id};
use latchkey_keys::SigningAlgorithm;

use crate::entities::client;

use crate::client::{AuthMethod, GrantType};
use crate::initiate_login::{self, InitiateLoginUriError};
use crate::redirect::{self, RedirectUriError};
use crate::scope::{DEFAULT_SCOPES, ScopeError, Scopes, USER_SCOPES};

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
    /// Where the application starts a sign-in opened from Latchkey's launcher (OpenID
    /// Connect Core §4); none: it is not listed there.
    pub initiate_login_uri: Option<String>,
}

/// Why a client could not be registered or read; each says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("--name must not be empty")]
    NoName,
    #[error("a name must be at most {MAX_NAME_LENGTH} characters, without control characters")]
    BadName,
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
    #[error("{0}")]
    InitiateLoginUri(#[from] InitiateLoginUriError),
    #[error(
        "--initiate-login-uri needs the authorization_code grant: the application signs people in with it"
    )]
    InitiateLoginWithoutCode,
    #[error("no client {0}")]
    NotFound(String),
    #[error(
        "client {0} has no secret to rotate: it is public or authenticates with private_key_jwt"
    )]
    NoSecret(String),
    #[error("client {0} is stored damaged ({1})")]
    Corrupt(String, String),
    #[error("database: {0}")]
    Database(#[from] sea_orm::DbErr),
}

/// The longest redirect URI registered: longer ones are no one's real callback, and each is
/// compared with every request.
pub const MAX_URI_LENGTH: usize = 2000;
/// The longest client name, in characters.
pub const MAX_NAME_LENGTH: usize = 100;

impl NewClient {
    /// The row to store for this client after checking every field, and its secret (to show
    /// once) when it is confidential with a secret.
    pub(crate) fn into_row(
        self,
        now: DateTime<Utc>,
    ) -> Result<(client::Model, Option<SecretToken>), ClientError> {
        let name = checked_name(&self.name)?;
        if let Some(team) = &self.team_id
            && (team.as_str().is_empty() || team.as_str().len() > 36)
        {
            return Err(ClientError::Team(team.to_string()));
        }
        let auth_method = self.checked_auth_method()?;
        let grant_types = self.checked_grant_types()?;
        let redirect_uris = self.checked_uris(&self.redirect_uris)?;
        if grant_types.contains(&GrantType::AuthorizationCode) && redirect_uris.is_empty() {
            return Err(ClientError::RedirectUriRequired);
        }
        let post_logout_redirect_uris = self.checked_uris(&self.post_logout_redirect_uris)?;
        self.check_keys(auth_method)?;
        let scopes = self.checked_scopes(&grant_types)?;
        let initiate_login_uri = self.checked_initiate_login_uri(&grant_types)?;
        let id_token_alg = self.id_token_alg.unwrap_or(SigningAlgorithm::Es256);
        let secret = matches!(
            auth_method,
            AuthMethod::ClientSecretBasic | AuthMethod::ClientSecretPost
        )
        .then(SecretToken::generate);
        let row = client::Model {
            id: random_id(),
            name,
            secret_hash: secret.as_ref().map(SecretToken::hash),
            auth_method: auth_method.as_str().to_owned(),
            redirect_uris: json_list(redirect_uris),
            post_logout_redirect_uris: json_list(post_logout_redirect_uris),
            grant_types: json_list(grant_types.iter().map(|g| g.as_str().to_owned()).collect()),
            scopes: json_list(scopes.to_vec()),
            jwks_uri: self.jwks_uri,
            jwks: self.jwks,
            team_id: self.team_id.map(TeamId::into_string),
            first_party: self.first_party,
            require_pkce: self.public || !self.pkce_optional,
            id_token_alg: id_token_alg.as_str().to_owned(),
            created_at: now,
            previous_secret_hash: None,
            previous_secret_expires_at: None,
            initiate_login_uri,
        };
        Ok((row, secret))
    }

    pub(crate) fn checked_auth_method(&self) -> Result<AuthMethod, ClientError> {
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
    pub(crate) fn checked_grant_types(&self) -> Result<Vec<GrantType>, ClientError> {
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

    /// Redirect URIs, each matched exactly later, so each must parse now, and be of a length a
    /// real callback has.
    pub(crate) fn checked_uris(&self, uris: &[String]) -> Result<Vec<String>, ClientError> {
        uris.iter()
            .map(|raw| {
                if raw.len() > MAX_URI_LENGTH {
                    return Err(RedirectUriError::TooLong(MAX_URI_LENGTH));
                }
                redirect::parse(raw, self.public).map(|_| raw.clone())
            })
            .collect::<Result<_, _>>()
            .map_err(ClientError::from)
    }

    /// `private_key_jwt` needs keys to check assertions with.
    pub(crate) fn check_keys(&self, auth_method: AuthMethod) -> Result<(), ClientError> {
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
    pub(crate) fn checked_scopes(&self, grant_types: &[GrantType]) -> Result<Scopes, ClientError> {
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

    /// The login URI, checked as a redirect URI is; only for an application that signs
    /// people in.
    pub(crate) fn checked_initiate_login_uri(
        &self,
        grant_types: &[GrantType],
    ) -> Result<Option<String>, ClientError> {
        let Some(raw) = self.initiate_login_uri.as_deref() else {
            return Ok(None);
        };
        initiate_login::parse(raw)?;
        if !grant_types.contains(&GrantType::AuthorizationCode) {
            return Err(ClientError::InitiateLoginWithoutCode);
        }
        Ok(Some(raw.to_owned()))
    }
}

/// The name trimmed, if it is one: not empty, not too long, without control characters.
pub(crate) fn checked_name(raw: &str) -> Result<String, ClientError> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(ClientError::NoName);
    }
    if name.chars().count() > MAX_NAME_LENGTH || name.chars().any(char::is_control) {
        return Err(ClientError::BadName);
    }
    Ok(name.to_owned())
}

/// A list as the row stores it: a JSON array of strings.
pub(crate) fn json_list(items: Vec<String>) -> String {
    serde_json::to_string(&items).unwrap_or_else(|_| "[]".into())
}

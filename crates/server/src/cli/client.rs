//! `latchkey client …`: the arguments of registering applications, and the parsers of the
//! OAuth values they take.

use std::path::PathBuf;

use clap::Subcommand;
use latchkey_core::TeamId;
use latchkey_keys::SigningAlgorithm;
use latchkey_oidc::{AuthMethod, GrantType};

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register a client. Its secret is printed once; only its hash is stored.
    Create(Box<ClientCreateArgs>),
    /// List the registered clients (never their secrets).
    List,
    /// Delete a client, with every grant and token issued to it.
    Delete {
        /// The client_id to delete.
        client_id: latchkey_core::ClientId,
    },
    /// Give a client a new secret, printed once; the current one keeps working for --grace.
    RotateSecret {
        /// The client_id whose secret to replace.
        client_id: latchkey_core::ClientId,
        /// How long the current secret keeps working: none, 1h, 1d or 7d.
        #[arg(long, default_value = "1d", value_parser = parse_grace)]
        grace: latchkey_oidc::Grace,
    },
}

/// `--grace`: one of the periods the console offers too.
fn parse_grace(raw: &str) -> Result<latchkey_oidc::Grace, String> {
    latchkey_oidc::Grace::parse(raw)
        .ok_or_else(|| format!("{raw:?} is not a grace period: use none, 1h, 1d or 7d"))
}

/// Repeatable flags may be repeated or given as a comma list.
#[derive(Debug, clap::Args)]
pub struct ClientCreateArgs {
    /// A name people recognise: it is shown on the consent page.
    #[arg(long)]
    pub name: String,
    /// Admit only this team's members (a team id).
    #[arg(long)]
    pub team: Option<TeamId>,
    /// A redirect URI, matched exactly; required with authorization_code.
    #[arg(long = "redirect-uri", value_name = "URI", value_delimiter = ',')]
    pub redirect_uris: Vec<String>,
    /// A native or browser app that cannot keep a secret: it authenticates with none and must use PKCE.
    #[arg(long)]
    pub public: bool,
    /// Grants it may use [default: authorization_code,refresh_token].
    #[arg(long = "grant-type", value_name = "GRANT", value_delimiter = ',', value_parser = grant_type)]
    pub grant_types: Vec<GrantType>,
    /// client_secret_basic (default), client_secret_post, private_key_jwt, or none (public clients).
    #[arg(long = "auth-method", value_name = "METHOD", value_parser = auth_method)]
    pub auth_method: Option<AuthMethod>,
    /// Where its public keys are published, for private_key_jwt.
    #[arg(long = "jwks-uri", value_name = "URI")]
    pub jwks_uri: Option<String>,
    /// A file holding its public keys as a JWKS, for private_key_jwt.
    #[arg(long = "jwks-file", value_name = "FILE")]
    pub jwks_file: Option<PathBuf>,
    /// Where it may send people after signing out.
    #[arg(
        long = "post-logout-redirect-uri",
        value_name = "URI",
        value_delimiter = ','
    )]
    pub post_logout_redirect_uris: Vec<String>,
    /// Scopes it may ask for [default: openid profile email offline_access].
    #[arg(long = "scope", value_name = "SCOPE", value_delimiter = ',')]
    pub scopes: Vec<String>,
    /// An application of your own: people are not asked for consent.
    #[arg(long)]
    pub first_party: bool,
    /// Let this confidential client skip PKCE (for relying parties that cannot send it).
    #[arg(long)]
    pub pkce_optional: bool,
    /// ID token signature: ES256 (default) or RS256.
    #[arg(long = "id-token-alg", value_name = "ALG", value_parser = id_token_alg)]
    pub id_token_alg: Option<SigningAlgorithm>,
    /// Where the application starts a sign-in when a member opens it from /apps (OpenID
    /// Connect Core §4): https, or http on a loopback address; no fragment.
    #[arg(long = "initiate-login-uri", value_name = "URI")]
    pub initiate_login_uri: Option<String>,
}

/// `--grant-type`, parsed where it is typed.
fn grant_type(raw: &str) -> Result<GrantType, String> {
    GrantType::parse(raw).ok_or_else(|| {
        "unknown grant type; use authorization_code, refresh_token, client_credentials or urn:ietf:params:oauth:grant-type:jwt-bearer".to_owned()
    })
}

/// `--auth-method`.
fn auth_method(raw: &str) -> Result<AuthMethod, String> {
    AuthMethod::parse(raw).ok_or_else(|| {
        "unknown auth method; use client_secret_basic, client_secret_post, private_key_jwt or none"
            .to_owned()
    })
}

/// `--id-token-alg`: the algorithms ID tokens are signed with.
fn id_token_alg(raw: &str) -> Result<SigningAlgorithm, String> {
    match raw {
        "ES256" => Ok(SigningAlgorithm::Es256),
        "RS256" => Ok(SigningAlgorithm::Rs256),
        _ => Err("use ES256 or RS256".to_owned()),
    }
}

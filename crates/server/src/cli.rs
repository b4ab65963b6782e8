use latchkey_core::{ConnectionId, SamlSpId, TeamId, TrustedIssuerId};
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use latchkey_keys::SigningAlgorithm;
use latchkey_oidc::{AuthMethod, GrantType};

/// Latchkey: a passwordless OpenID Connect identity provider.
///
/// People sign in with single-use links emailed to them; integrations federate single
/// sign-on through standard OpenID Connect. Configuration is read from config/latchkey.toml
/// (or --config FILE), then from LATCHKEY_* environment variables, e.g. LATCHKEY_ISSUER or
/// LATCHKEY_KEYS__ROTATION_PERIOD.
#[derive(Debug, Parser)]
#[command(name = "latchkey", version, propagate_version = true)]
pub struct Cli {
    /// Read configuration from FILE instead of config/latchkey.toml.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Print the result as one JSON value on stdout (times as RFC 3339), and nothing else there.
    #[arg(long, global = true)]
    pub json: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the provider (applies pending migrations first). Stops gracefully on SIGTERM or Ctrl-C.
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Ask the provider this configuration runs (on `listen`) whether it is ready: exits 0 when
    /// /readyz answers 2xx within 5 s, 1 otherwise. For container health checks, where no curl is.
    Probe,
    /// Inspect and rotate the signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Register, list and delete the applications (OAuth clients) that sign people in.
    #[command(subcommand)]
    Client(ClientCommand),
    /// Create teams and list their members.
    #[command(subcommand)]
    Team(TeamCommand),
    /// Create join links: a person who opens one and completes the emailed link joins the team.
    #[command(subcommand, name = "join-link")]
    JoinLink(JoinLinkCommand),
    /// Show a team's audit log, newest first.
    Audit(AuditArgs),
    /// Trust an integration's own JWTs (RFC 7523 jwt-bearer grant) for a team.
    #[command(subcommand)]
    Issuer(IssuerCommand),
    /// Register the APIs (resource servers, RFC 8707) access tokens are issued for.
    #[command(subcommand)]
    Resource(ResourceCommand),
    /// People's accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Let a team sign in with its own OpenID provider (Okta, Entra ID, Google Workspace…).
    #[command(subcommand)]
    Connection(ConnectionCommand),
    /// Register the SAML 2.0 service providers (Genesys Cloud, Intercom…) a team signs in to.
    #[command(subcommand, name = "saml-sp")]
    SamlSp(SamlSpCommand),
}

#[derive(Debug, Subcommand)]
pub enum SamlSpCommand {
    /// Register a service provider, from flags or from its own metadata. Prints its sp_id and
    /// the identity provider metadata URL to give it.
    Add(Box<SamlSpAddArgs>),
    /// List the service providers of a team, or of every team.
    List {
        #[arg(long)]
        team: Option<TeamId>,
    },
    /// Change a service provider: a flag given replaces what is registered (a list replaces
    /// the whole list), the SP's metadata replaces what it says; the rest stays. Its sp_id,
    /// and the persistent NameIDs it was given, stay.
    Update(Box<SamlSpUpdateArgs>),
    /// Remove a service provider; sign-ons it started and has not finished are dropped.
    Remove {
        /// The sp_id `saml-sp add` printed.
        #[arg(long)]
        sp: SamlSpId,
    },
}

#[derive(Debug, clap::Args)]
pub struct SamlSpAddArgs {
    #[arg(long)]
    pub team: TeamId,
    /// The SP's entity ID (its metadata's entityID).
    #[arg(long = "entity-id", required_unless_present_any = ["metadata_file", "metadata_url"])]
    pub entity_id: Option<String>,
    /// Where the SP receives responses (its Assertion Consumer Service). Repeatable.
    #[arg(long = "acs-url", value_delimiter = ',', required_unless_present_any = ["metadata_file", "metadata_url"])]
    pub acs_urls: Vec<String>,
    #[command(flatten)]
    pub settings: SamlSpSettings,
    /// Whether a sign-on may start at Latchkey (/saml/init), unasked by the SP: false for an
    /// SP that always starts its own.
    #[arg(long = "idp-initiated", value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set)]
    pub idp_initiated: bool,
}

/// What `saml-sp update` changes: a flag given replaces what is registered.
#[derive(Debug, clap::Args)]
pub struct SamlSpUpdateArgs {
    /// The sp_id `saml-sp add` printed.
    #[arg(long)]
    pub sp: SamlSpId,
    /// Its new entity ID, when the SP's changes.
    #[arg(long = "entity-id")]
    pub entity_id: Option<String>,
    /// Where the SP receives responses. Repeatable; replaces every registered one.
    #[arg(long = "acs-url", value_delimiter = ',')]
    pub acs_urls: Vec<String>,
    #[command(flatten)]
    pub settings: SamlSpSettings,
    /// Forget the logout URL: single logout is then refused.
    #[arg(long = "no-slo-url", conflicts_with = "slo_url")]
    pub no_slo_url: bool,
    /// Stop encrypting assertions.
    #[arg(long = "no-encrypt-cert", conflicts_with = "encrypt_cert")]
    pub no_encrypt_cert: bool,
    /// Stop requiring signed requests.
    #[arg(long = "no-signing-cert", conflicts_with = "signing_cert")]
    pub no_signing_cert: bool,
    /// Whether a sign-on may start at Latchkey (/saml/init).
    #[arg(long = "idp-initiated", value_name = "BOOL")]
    pub idp_initiated: Option<bool>,
}

/// The flags `saml-sp add` and `update` share.
#[derive(Debug, clap::Args)]
pub struct SamlSpSettings {
    /// Read the entity ID, ACS URLs, logout URL, NameID format and certificates from the SP's
    /// metadata file (again, when it rotates its certificates). Flags given beside it win.
    #[arg(
        long = "metadata-file",
        value_name = "FILE",
        conflicts_with = "metadata_url"
    )]
    pub metadata_file: Option<PathBuf>,
    /// The same, fetched from the SP's metadata URL (https).
    #[arg(long = "metadata-url", value_name = "URL")]
    pub metadata_url: Option<String>,
    /// A name for people and the audit log (default: the entity ID).
    #[arg(long)]
    pub name: Option<String>,
    /// Where the SP receives logout requests and responses.
    #[arg(long = "slo-url")]
    pub slo_url: Option<String>,
    /// How the person is named: email (their address) or persistent (an opaque id for this SP).
    #[arg(long = "name-id-format")]
    pub name_id_format: Option<String>,
    /// An attribute NAME=CLAIM (claims: email, name, given_name, family_name, team, role, sub).
    /// Repeatable; replaces every attribute. Default: email, firstName, lastName, displayName.
    #[arg(long = "attribute", value_name = "NAME=CLAIM", value_delimiter = ',')]
    pub attributes: Vec<String>,
    /// Encrypt assertions to the certificate in this PEM file.
    #[arg(long = "encrypt-cert", value_name = "FILE")]
    pub encrypt_cert: Option<PathBuf>,
    /// The cipher of encrypted assertions: aes256-gcm or aes256-cbc.
    #[arg(long)]
    pub encryption: Option<String>,
    /// Verify the SP's requests with the certificate(s) in this PEM file (while it rotates its
    /// key, the current and the next one after the other); unsigned ones are then refused.
    #[arg(long = "signing-cert", value_name = "FILE")]
    pub signing_cert: Option<PathBuf>,
    /// What to sign: assertion, response or both.
    #[arg(long)]
    pub sign: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ConnectionCommand {
    /// Add a team's identity provider. Prints the redirect URI to register there, and the
    /// DNS TXT record that proves each domain.
    Add(Box<ConnectionAddArgs>),
    /// List the connections of a team, or of every team.
    List {
        #[arg(long)]
        team: Option<TeamId>,
    },
    /// Remove a connection; the sessions of the identities it made end.
    Remove {
        /// The connection_id `connection add` printed.
        #[arg(long)]
        connection: ConnectionId,
    },
    /// Check a domain's DNS TXT record and, once it carries the challenge, prove the domain:
    /// its addresses then sign in with the connection, from every sign-in page.
    #[command(name = "verify-domain")]
    VerifyDomain {
        #[arg(long)]
        connection: ConnectionId,
        #[arg(long)]
        domain: String,
    },
}

#[derive(Debug, clap::Args)]
pub struct ConnectionAddArgs {
    #[arg(long)]
    pub team: TeamId,
    /// The name on the sign-in button ("Acme Okta").
    #[arg(long)]
    pub name: String,
    /// The provider's issuer URL; its discovery document is read at once.
    #[arg(long)]
    pub issuer: String,
    #[arg(long = "client-id")]
    pub client_id: String,
    /// A file holding the client secret (kept out of the shell history and process list).
    #[arg(long = "client-secret-file", value_name = "FILE")]
    pub client_secret_file: PathBuf,
    /// An address domain it signs in, proven later with `verify-domain`. Repeatable.
    #[arg(long = "domain", value_name = "DOMAIN", value_delimiter = ',')]
    pub domains: Vec<String>,
    /// Scopes to ask for.
    #[arg(
        long = "scope",
        value_delimiter = ',',
        default_value = "openid,email,profile"
    )]
    pub scopes: Vec<String>,
    /// The claim holding the address: email, or preferred_username (Entra ID).
    #[arg(long = "email-claim", default_value = "email")]
    pub email_claim: String,
    /// Refuse an address the provider does not say is verified (Entra ID never says: false).
    #[arg(long = "require-email-verified", value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set)]
    pub require_email_verified: bool,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Set a person's name (for the profile scope); split into given and family names at the
    /// last space.
    #[command(name = "set-name")]
    SetName {
        #[arg(long, value_name = "EMAIL")]
        email: String,
        #[arg(long)]
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ResourceCommand {
    /// Register an API: tokens asked for with `resource=IDENTIFIER` carry it as `aud`, and only
    /// the scopes given here.
    Add {
        /// The API's identifier, an absolute URI (https://api.example.com); tokens' `aud`.
        #[arg(long, value_name = "URI")]
        identifier: String,
        /// A scope the API defines; repeat it or give a comma list.
        #[arg(
            long = "scope",
            value_name = "SCOPE",
            value_delimiter = ',',
            required = true
        )]
        scopes: Vec<String>,
        /// A name people recognise [default: the identifier].
        #[arg(long)]
        name: Option<String>,
        /// Only this team's clients may get tokens for it (a team id).
        #[arg(long)]
        team: Option<TeamId>,
        /// The confidential client whose credentials the API introspects tokens with.
        #[arg(long = "introspection-client", value_name = "CLIENT_ID")]
        introspection_client: Option<latchkey_core::ClientId>,
    },
    /// List the registered APIs.
    List {
        /// Only this team's.
        #[arg(long)]
        team: Option<TeamId>,
    },
    /// Remove an API: no new tokens are issued for it.
    Remove {
        #[arg(long, value_name = "URI")]
        identifier: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum IssuerCommand {
    /// Trust an issuer's signed assertions for a team's members.
    Add(Box<IssuerAddArgs>),
    /// List a team's trusted issuers.
    List {
        #[arg(long)]
        team: TeamId,
    },
    /// Stop trusting an issuer.
    Remove {
        #[arg(long)]
        team: TeamId,
        /// The id `issuer add` printed.
        id: TrustedIssuerId,
    },
}

#[derive(Debug, clap::Args)]
pub struct IssuerAddArgs {
    /// The team whose members the issuer's assertions name.
    #[arg(long)]
    pub team: TeamId,
    /// The `iss` its assertions carry.
    #[arg(long)]
    pub issuer: String,
    /// Where it publishes its public keys (https; cached, refetched for an unknown kid).
    #[arg(long = "jwks-uri", value_name = "URI")]
    pub jwks_uri: Option<String>,
    /// A file holding its public keys as a JWKS.
    #[arg(long = "jwks-file", value_name = "FILE")]
    pub jwks_file: Option<std::path::PathBuf>,
    /// A file holding one of its public keys as PEM (SPKI `PUBLIC KEY`, or `RSA PUBLIC KEY`):
    /// RSA of 2048 bits or more, or EC P-256; its kid is its RFC 7638 thumbprint. Repeatable.
    #[arg(long = "public-key-file", value_name = "PEM")]
    pub public_key_files: Vec<std::path::PathBuf>,
    /// Algorithms it may sign with: ES256, RS256, EdDSA [default: all three].
    #[arg(long = "algorithm", value_name = "ALG", value_delimiter = ',', value_parser = parse_issuer_algorithm)]
    pub algorithms: Vec<latchkey_oidc::federation::Algorithm>,
    /// The `aud` its assertions must carry [default: the token endpoint URL or the issuer].
    #[arg(long)]
    pub audience: Option<String>,
    /// The longest token lifetime (exp - iat) accepted, up to 24h.
    #[arg(long = "max-lifetime", default_value = "5m", value_parser = crate::duration::Ttl::parse)]
    pub max_lifetime: crate::duration::Ttl,
    /// Whether its tokens must carry a jti. Either way a token works once: without a jti, its
    /// SHA-256 is remembered until it expires.
    #[arg(long = "require-jti", value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set)]
    pub require_jti: bool,
    /// CLAIM=VALUE: a token carrying it (the value, or a list holding it) makes the member an
    /// administrator, and one lacking it a plain member (never the last administrator). Off
    /// by default: then its tokens never sign in an administrator.
    #[arg(long = "allow-admin-claim", value_name = "CLAIM=VALUE")]
    pub allow_admin_claim: Option<String>,
    /// An origin (https://host[:port]) that may frame the sessions its tokens open at
    /// /sso/jwt. Repeatable.
    #[arg(long = "frame-origin", value_name = "ORIGIN", value_delimiter = ',')]
    pub frame_origins: Vec<String>,
    /// The claim holding the member's email address (may be `sub`).
    #[arg(long = "email-claim", default_value = "email")]
    pub email_claim: String,
    /// The claim holding the member's name.
    #[arg(long = "name-claim", default_value = "name")]
    pub name_claim: String,
}

#[derive(Debug, Subcommand)]
pub enum TeamCommand {
    /// Create a team with its first administrator (their account is created if need be).
    Create {
        #[arg(long)]
        name: String,
        /// The administrator's email address.
        #[arg(long, value_name = "EMAIL")]
        admin: String,
    },
    /// List a team's members and roles.
    Members {
        /// The team id `team create` printed.
        #[arg(long)]
        team: TeamId,
    },
}

#[derive(Debug, Subcommand)]
pub enum JoinLinkCommand {
    /// Create a join link; its URL is printed once.
    Create(JoinLinkCreateArgs),
}

#[derive(Debug, clap::Args)]
pub struct JoinLinkCreateArgs {
    /// The team id.
    #[arg(long)]
    pub team: TeamId,
    /// The administrator the audit log names as its creator.
    #[arg(long = "created-by", value_name = "EMAIL")]
    pub created_by: String,
    /// How long it works, at most teams.join_link_max_ttl [default: that maximum, 72h].
    #[arg(long, value_parser = crate::duration::Ttl::parse)]
    pub ttl: Option<crate::duration::Ttl>,
    /// The role it grants: member (default) or administrator.
    #[arg(long, value_parser = parse_role)]
    pub role: Option<latchkey_teams::Role>,
    /// How many people may use it [default: no limit].
    #[arg(long = "max-uses", value_parser = clap::value_parser!(i32).range(1..))]
    pub max_uses: Option<i32>,
}

#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    /// The team id; without it, the events of no team (clients created without --team).
    #[arg(long)]
    pub team: Option<TeamId>,
    /// Only this action (`member.joined`), or a prefix ending in a dot (`member.`).
    #[arg(long)]
    pub action: Option<String>,
    /// Only events whose actor or subject contains this text.
    #[arg(long)]
    pub person: Option<String>,
    /// Only events older than this event id (the next page).
    #[arg(long)]
    pub before: Option<String>,
    /// At most this many events.
    #[arg(long, default_value_t = 100)]
    pub limit: u64,
}

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

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List the signing keys with their state (next, active, retired) and when it changes.
    List,
    /// Rotate now: each algorithm's next key becomes active (as soon as it has been published
    /// for keys.publish_ahead) and a new next key is published.
    Rotate,
    /// After setting keys.master_key to a new key and keys.previous_master_key to the old
    /// one: seal every signing key and waiting mail under the new key. Then remove
    /// keys.previous_master_key.
    #[command(name = "rotate-master")]
    RotateMaster,
}

/// `--role`: read as people write it (`admin` is accepted for `administrator`).
fn parse_role(raw: &str) -> Result<latchkey_teams::Role, String> {
    latchkey_teams::Role::parse(raw).map_err(|e| e.to_string())
}

/// `--algorithm`: ES256, RS256 or EdDSA.
fn parse_issuer_algorithm(raw: &str) -> Result<latchkey_oidc::federation::Algorithm, String> {
    latchkey_oidc::federation::parse_algorithm(raw).map_err(|e| e.to_string())
}

//! Configuration: `config/latchkey.toml` (or `--config FILE`), then `LATCHKEY_*` environment
//! variables, read once into [`Config`] and checked into [`Settings`], whose fields are parsed
//! values. Every error names the key and says what is wrong.

use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use serde::Deserialize;

use crate::duration::Ttl;

mod checks;
mod settings;

pub use settings::{MasterKeySource, Settings};

/// Where the configuration is read from when `--config` is not given, if it exists.
pub const DEFAULT_CONFIG_FILE: &str = "config/latchkey.toml";

/// The top-level keys, the only ones `LATCHKEY_*` variables may set, so unrelated variables
/// with the same prefix (a test's database URL, say) are not read as configuration.
const TOP_LEVEL_KEYS: [&str; 15] = [
    "issuer",
    "issuer_insecure_ok",
    "listen",
    "database_url",
    "database_max_connections",
    "keys",
    "log",
    "mail",
    "login",
    "http",
    "oauth",
    "tokens",
    "teams",
    "federation",
    "saml",
];

/// The configuration as written, before it is checked.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub issuer: String,
    /// Takes an `http` issuer for a host other than this machine (a test network only:
    /// cookies then cannot be `Secure`).
    pub issuer_insecure_ok: bool,
    pub listen: String,
    pub database_url: String,
    /// Connections this process keeps to the database; 0: 8 to SQLite, 20 to PostgreSQL.
    pub database_max_connections: u32,
    pub keys: KeysConfig,
    pub log: LogConfig,
    pub mail: MailConfig,
    pub login: LoginConfig,
    pub http: HttpConfig,
    pub oauth: OauthConfig,
    pub tokens: TokensConfig,
    pub teams: TeamsConfig,
    pub federation: FederationConfig,
    pub saml: SamlConfig,
}

/// How clients authenticate at the token, introspection and revocation endpoints.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OauthConfig {
    /// What a client's `private_key_jwt` assertion may name as `aud`: `issuer-or-endpoint`
    /// or `issuer` (FAPI 2.0).
    pub client_assertion_audience: String,
}

impl Default for OauthConfig {
    fn default() -> Self {
        Self {
            client_assertion_audience: "issuer-or-endpoint".into(),
        }
    }
}

/// The SAML identity providers of teams.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SamlConfig {
    /// How long a team's SAML signing certificate lasts (from 30 days to 20 years).
    pub certificate_lifetime: Ttl,
}

impl Default for SamlConfig {
    fn default() -> Self {
        Self {
            certificate_lifetime: Ttl::parse("5y").unwrap_or(Ttl::from_secs(5 * 365 * 86_400)),
        }
    }
}

/// Keys published by others (clients' and trusted issuers' `jwks_uri`), and teams' own
/// identity providers.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FederationConfig {
    /// Fetch keys from loopback, private and link-local addresses, and over http: for tests
    /// and closed networks only, since anyone who signs up can name a `jwks_uri`.
    pub allow_private_networks: bool,
    /// The DNS server (`ip:port`) that domain proofs are checked with; empty: the system's.
    pub dns_server: String,
    /// How long one request to a connection's identity provider may take.
    pub upstream_timeout: Ttl,
}

impl Default for FederationConfig {
    fn default() -> Self {
        Self {
            allow_private_networks: false,
            dns_server: String::new(),
            upstream_timeout: Ttl::from_secs(10),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TeamsConfig {
    pub join_link_max_ttl: Ttl,
}

impl Default for TeamsConfig {
    fn default() -> Self {
        Self {
            join_link_max_ttl: Ttl::from_secs(72 * 3600),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokensConfig {
    pub access_token_ttl: Ttl,
    pub id_token_ttl: Ttl,
    pub code_ttl: Ttl,
    pub refresh_idle_ttl: Ttl,
    pub refresh_max_ttl: Ttl,
}

impl Default for TokensConfig {
    fn default() -> Self {
        Self {
            access_token_ttl: Ttl::from_secs(600),
            id_token_ttl: Ttl::from_secs(600),
            code_ttl: Ttl::from_secs(60),
            refresh_idle_ttl: Ttl::from_secs(14 * 86_400),
            refresh_max_ttl: Ttl::from_secs(90 * 86_400),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MailConfig {
    pub smtp_url: String,
    pub from: String,
    pub outbox_dir: PathBuf,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoginConfig {
    pub magic_link_ttl: Ttl,
    pub rate_limit_per_address: u32,
    pub rate_limit_window: Ttl,
    pub session_idle_ttl: Ttl,
    pub session_max_ttl: Ttl,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    pub rate_limit_per_ip: u32,
    /// How long a client may take to send a request's headers, and a connection its first
    /// request.
    pub header_read_timeout: Ttl,
    /// How long a connection may go without a request under way before it is closed.
    pub idle_timeout: Ttl,
    /// How many connections one client address (an IPv6 /64) may hold at once; the trusted
    /// proxies are not counted.
    pub max_connections_per_ip: u32,
    /// On SIGTERM, how long to go on serving, not ready, before closing the listener.
    pub shutdown_delay: Ttl,
    /// On SIGTERM, how long requests under way may take to finish before the process exits.
    pub shutdown_grace: Ttl,
    /// The proxies (CIDRs or addresses) whose forwarding header names the client.
    pub trusted_proxies: Vec<String>,
    /// The header those proxies write: x-forwarded-for or forwarded.
    pub forwarded_header: String,
    /// The bearer token `/metrics` asks for; empty: only loopback peers may read it.
    pub metrics_token: String,
}

impl Default for MailConfig {
    fn default() -> Self {
        Self {
            smtp_url: String::new(),
            from: "Latchkey <no-reply@localhost>".into(),
            outbox_dir: PathBuf::from("var/outbox"),
        }
    }
}

impl Default for LoginConfig {
    fn default() -> Self {
        Self {
            magic_link_ttl: Ttl::from_secs(600),
            rate_limit_per_address: 5,
            rate_limit_window: Ttl::from_secs(900),
            session_idle_ttl: Ttl::from_secs(7 * 86_400),
            session_max_ttl: Ttl::from_secs(30 * 86_400),
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            rate_limit_per_ip: 120,
            header_read_timeout: Ttl::from_secs(10),
            idle_timeout: Ttl::from_secs(60),
            max_connections_per_ip: 256,
            shutdown_delay: Ttl::from_secs(0),
            shutdown_grace: Ttl::from_secs(25),
            trusted_proxies: Vec::new(),
            forwarded_header: "x-forwarded-for".into(),
            metrics_token: String::new(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeysConfig {
    pub master_key: String,
    /// A file holding the master key (a mounted secret), instead of `master_key`.
    pub master_key_file: String,
    /// The master key being replaced, while `keys rotate-master` seals everything anew.
    pub previous_master_key: String,
    /// The file holding `previous_master_key` (a mounted secret), instead of the key itself.
    pub previous_master_key_file: String,
    pub rotation_period: Ttl,
    pub publish_ahead: Ttl,
    pub retired_ttl: Ttl,
    pub jwks_cache: Ttl,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub format: LogFormat,
    pub level: String,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            issuer: "http://127.0.0.1:8080".into(),
            issuer_insecure_ok: false,
            listen: "127.0.0.1:8080".into(),
            database_url: "sqlite://var/latchkey.db?mode=rwc".into(),
            database_max_connections: 0,
            keys: KeysConfig::default(),
            log: LogConfig::default(),
            mail: MailConfig::default(),
            login: LoginConfig::default(),
            http: HttpConfig::default(),
            oauth: OauthConfig::default(),
            tokens: TokensConfig::default(),
            teams: TeamsConfig::default(),
            federation: FederationConfig::default(),
            saml: SamlConfig::default(),
        }
    }
}

impl Default for KeysConfig {
    fn default() -> Self {
        Self {
            master_key: String::new(),
            master_key_file: String::new(),
            previous_master_key_file: String::new(),
            previous_master_key: String::new(),
            rotation_period: Ttl::from_secs(30 * 86_400),
            publish_ahead: Ttl::from_secs(86_400),
            retired_ttl: Ttl::from_secs(72 * 3600),
            jwks_cache: Ttl::from_secs(300),
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            level: "info".into(),
        }
    }
}

/// A configuration problem, said so that the reader knows which key to fix and how.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("the configuration file {0} does not exist")]
    MissingFile(PathBuf),
    #[error("{0}")]
    Read(String),
    #[error("{key}: {problem}")]
    Invalid { key: &'static str, problem: String },
}

impl Config {
    /// Reads the file (the given one, which must exist, or the default one if present) and
    /// the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::new();
        match file {
            Some(path) if !path.exists() => return Err(ConfigError::MissingFile(path.to_owned())),
            Some(path) => figment = figment.merge(Toml::file_exact(path)),
            None if Path::new(DEFAULT_CONFIG_FILE).exists() => {
                figment = figment.merge(Toml::file_exact(DEFAULT_CONFIG_FILE))
            }
            None => {}
        }
        let env = Env::prefixed("LATCHKEY_").split("__").filter(|key| {
            let top = key.as_str().split('.').next().unwrap_or_default();
            TOP_LEVEL_KEYS
                .iter()
                .any(|known| top.eq_ignore_ascii_case(known))
        });
        figment
            .merge(env)
            .extract()
            .map_err(|e| ConfigError::Read(describe(e)))
    }
}

/// Figment's own message already names the key and where the value came from; say it plainly.
fn describe(error: figment::Error) -> String {
    error
        .into_iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

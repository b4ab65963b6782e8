use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::HeaderValue;
use metrics_exporter_prometheus::PrometheusHandle;

use crate::pages::Pages;
use crate::web::client_address::TrustedProxies;
use crate::web::cookies::CookiePolicy;
use latchkey_core::{Clock, Db, Issuer, SharedKeyRing};
use latchkey_login::mail::{MailTemplates, Outbox};
use latchkey_login::{Login, LoginSettings};
use latchkey_oidc::remote_jwks::RemoteJwks;
use latchkey_oidc::upstream::{Connections, TxtLookup, Upstream};
use latchkey_oidc::{ClientAuthenticator, Clients, Provider, TokenSettings};
use latchkey_teams::Teams;

/// Everything a handler needs. axum clones the state for every request, so it is one `Arc`.
#[derive(Clone)]
pub struct AppState(Arc<Services>);

/// What [`AppState`] shares; handlers reach the fields through `Deref`.
pub struct Services {
    pub(crate) issuer: Issuer,
    pub(crate) db: Db,
    pub(crate) keys: SharedKeyRing,
    /// `public, max-age=` the JWKS cache period, made once.
    pub(crate) jwks_cache_control: HeaderValue,
    pub(crate) discovery: Bytes,
    pub(crate) pages: Pages,
    pub(crate) metrics: PrometheusHandle,
    pub(crate) login: Login,
    pub(crate) login_settings: LoginSettings,
    pub(crate) provider: Provider,
    pub(crate) teams: Teams,
    /// Teams' own identity providers.
    pub(crate) connections: Connections,
    /// The SAML service providers teams registered.
    pub(crate) saml_sps: latchkey_saml::ServiceProviders,
    /// Their sign-ons and logouts.
    pub(crate) saml: latchkey_saml::SignOns,
    /// The last answer to "does the database answer?", asked when a page fails: one ask a
    /// second at most, however many pages fail at once.
    pub(crate) database_check: tokio::sync::Mutex<Option<(std::time::Instant, bool)>>,
    /// Set once the process is stopping: `/readyz` answers 503 and every response closes
    /// its connection, so load balancers move away before the listener closes.
    pub(crate) draining: std::sync::atomic::AtomicBool,
    pub(crate) cookies: CookiePolicy,
    pub(crate) rate_limit_per_ip: u32,
    pub(crate) trusted_proxies: TrustedProxies,
    /// `http.metrics_token`: who may read `/metrics` (none: this machine only).
    pub(crate) metrics_token: Option<String>,
    pub(crate) clock: Clock,
}

/// What the server hands the web application when it starts.
pub struct AppConfig {
    pub issuer: Issuer,
    pub db: Db,
    pub keys: SharedKeyRing,
    pub jwks_max_age: Duration,
    pub metrics: PrometheusHandle,
    pub outbox: Outbox,
    pub login: LoginSettings,
    pub tokens: TokenSettings,
    /// Seals authorization codes (and mail, through the outbox).
    pub master_key: Arc<latchkey_keys::MasterKey>,
    /// Requests per minute one client IP may make to the routes that send mail or sign in.
    pub rate_limit_per_ip: u32,
    /// The proxies whose `Forwarded`/`X-Forwarded-For` name the client (`http.trusted_proxies`).
    pub trusted_proxies: TrustedProxies,
    /// The bearer token `/metrics` asks for; none: only loopback peers are answered.
    pub metrics_token: Option<String>,
    /// The longest lifetime an administrator may give a join link.
    pub join_link_max_ttl: chrono::TimeDelta,
    /// What time it is, for every request.
    pub clock: Clock,
    /// `federation.allow_private_networks`.
    pub allow_private_networks: bool,
    /// `federation.dns_server`: where domain proofs are looked up (none: the system's).
    pub dns_server: Option<std::net::SocketAddr>,
    /// `federation.upstream_timeout`.
    pub upstream_timeout: Duration,
}

/// Why the application state could not be built.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("serializing the discovery document: {0}")]
    Discovery(#[from] serde_json::Error),
    #[error("loading the page templates: {0}")]
    Templates(#[from] tera::Error),
    #[error("building the HTTP client that fetches others' keys: {0}")]
    KeyFetcher(#[from] reqwest::Error),
}

impl std::ops::Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.0
    }
}

impl AppState {
    /// Builds the state once at start-up: the discovery document and templates are prepared
    /// here so requests only read them.
    pub fn new(config: AppConfig) -> Result<Self, StateError> {
        let AppConfig {
            issuer,
            db,
            keys,
            jwks_max_age,
            metrics,
            outbox,
            login: login_settings,
            tokens,
            master_key,
            rate_limit_per_ip,
            trusted_proxies,
            metrics_token,
            join_link_max_ttl,
            clock,
            allow_private_networks,
            dns_server,
            upstream_timeout,
        } = config;
        let teams = Teams::new(db.clone(), join_link_max_ttl);
        let templates = Arc::new(MailTemplates::load()?);
        let login = Login::new(
            db.clone(),
            keys.clone(),
            issuer.clone(),
            login_settings.clone(),
            outbox,
            templates,
        );
        let authenticator = ClientAuthenticator::new(
            Clients::new(db.clone()),
            RemoteJwks::new(clock.clone(), allow_private_networks)?,
            db.clone(),
            [
                issuer.to_string(),
                issuer.endpoint(latchkey_core::urls::TOKEN),
            ],
        );
        let connections = Connections::new(
            db.clone(),
            master_key.clone(),
            Upstream::new(allow_private_networks, upstream_timeout)?,
            TxtLookup::new(dns_server),
            issuer.clone(),
        );
        let provider = Provider::new(
            db.clone(),
            keys.clone(),
            issuer.clone(),
            tokens,
            authenticator,
            master_key,
        );
        let saml_sps = latchkey_saml::ServiceProviders::new(db.clone(), issuer.clone());
        let saml = latchkey_saml::SignOns::new(
            saml_sps.clone(),
            latchkey_saml::CurrentIdentityProvider::new(issuer.clone(), keys.clone()),
            login.sessions().clone(),
            login_settings.session_max_ttl,
        );
        let cookies = CookiePolicy {
            secure: issuer.is_https(),
            // Browsers keep `Secure` cookies from this machine over http, so a framed sign-on
            // can be tried on a laptop before it goes behind TLS.
            framable: issuer.is_https() || issuer.is_loopback(),
        };
        let discovery = Bytes::from(crate::discovery::document(&issuer)?);
        let jwks_cache_control =
            HeaderValue::from_str(&format!("public, max-age={}", jwks_max_age.as_secs()))
                .unwrap_or(HeaderValue::from_static("no-cache"));
        Ok(Self(Arc::new(Services {
            issuer,
            db,
            keys,
            jwks_cache_control,
            discovery,
            pages: Pages::load()?,
            metrics,
            login,
            login_settings,
            provider,
            teams,
            connections,
            saml_sps,
            saml,
            database_check: tokio::sync::Mutex::new(None),
            draining: std::sync::atomic::AtomicBool::new(false),
            cookies,
            rate_limit_per_ip,
            trusted_proxies,
            metrics_token,
            clock,
        })))
    }

    pub fn issuer(&self) -> &Issuer {
        &self.issuer
    }

    pub fn provider(&self) -> &Provider {
        &self.provider
    }

    pub fn connections(&self) -> &Connections {
        &self.connections
    }

    pub fn keys(&self) -> &SharedKeyRing {
        &self.keys
    }

    /// The process is stopping: from now on `/readyz` answers 503, and each response closes
    /// its connection.
    pub fn begin_draining(&self) {
        self.draining
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    pub(crate) fn is_draining(&self) -> bool {
        self.draining.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The time now, by the provider's clock.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }
}

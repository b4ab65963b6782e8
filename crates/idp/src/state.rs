use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::HeaderValue;
use metrics_exporter_prometheus::PrometheusHandle;

use crate::pages::Pages;
use crate::web::client_address::TrustedProxies;
use crate::web::cookies::CookiePolicy;
use latchkey_connections::Connections;
use latchkey_core::{Clock, Db, Issuer, SharedKeyRing};
use latchkey_login::{Login, LoginSettings};
use latchkey_oidc::Provider;
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

/// The domain services the web application serves: built once, by the server (its
/// `app.rs` is the one place that composes them).
pub struct Domain {
    pub issuer: Issuer,
    pub db: Db,
    pub keys: SharedKeyRing,
    /// What time it is, for every request.
    pub clock: Clock,
    pub login: Login,
    pub login_settings: LoginSettings,
    pub provider: Provider,
    pub teams: Teams,
    /// Teams' own identity providers.
    pub connections: Connections,
    pub saml_sps: latchkey_saml::ServiceProviders,
    pub saml: latchkey_saml::SignOns,
}

/// How the web layer itself behaves.
pub struct WebSettings {
    pub jwks_max_age: Duration,
    pub metrics: PrometheusHandle,
    /// Requests per minute one client IP may make to the routes that send mail or sign in.
    pub rate_limit_per_ip: u32,
    /// The proxies whose `Forwarded`/`X-Forwarded-For` name the client (`http.trusted_proxies`).
    pub trusted_proxies: TrustedProxies,
    /// The bearer token `/metrics` asks for; none: only loopback peers are answered.
    pub metrics_token: Option<String>,
}

/// Why the application state could not be built.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("serializing the discovery document: {0}")]
    Discovery(#[from] serde_json::Error),
    #[error("loading the page templates: {0}")]
    Templates(#[from] tera::Error),
}

impl std::ops::Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.0
    }
}

impl AppState {
    /// The web application over built services: the discovery document and templates are
    /// prepared here so requests only read them.
    pub fn new(domain: Domain, web: WebSettings) -> Result<Self, StateError> {
        let issuer = &domain.issuer;
        let cookies = CookiePolicy {
            secure: issuer.is_https(),
            // Browsers keep `Secure` cookies from this machine over http, so a framed sign-on
            // can be tried on a laptop before it goes behind TLS.
            framable: issuer.is_https() || issuer.is_loopback(),
        };
        let discovery = Bytes::from(crate::discovery::document(issuer)?);
        let jwks_cache_control =
            HeaderValue::from_str(&format!("public, max-age={}", web.jwks_max_age.as_secs()))
                .unwrap_or(HeaderValue::from_static("no-cache"));
        Ok(Self(Arc::new(Services {
            jwks_cache_control,
            discovery,
            pages: Pages::load()?,
            metrics: web.metrics,
            database_check: tokio::sync::Mutex::new(None),
            draining: std::sync::atomic::AtomicBool::new(false),
            cookies,
            rate_limit_per_ip: web.rate_limit_per_ip,
            trusted_proxies: web.trusted_proxies,
            metrics_token: web.metrics_token,
            issuer: domain.issuer,
            db: domain.db,
            keys: domain.keys,
            clock: domain.clock,
            login: domain.login,
            login_settings: domain.login_settings,
            provider: domain.provider,
            teams: domain.teams,
            connections: domain.connections,
            saml_sps: domain.saml_sps,
            saml: domain.saml,
        })))
    }

    pub fn issuer(&self) -> &Issuer {
        &self.issuer
    }

    pub fn provider(&self) -> &Provider {
        &self.provider
    }

    /// Teams' SAML certificates, for the workers that watch their expiry.
    pub fn saml_certificates(&self) -> &latchkey_saml::Certificates {
        self.saml_sps.certificates()
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

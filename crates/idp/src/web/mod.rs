//! Routes, handlers and the layers every response goes through.

mod assets;
mod authorize;
mod client_address;
mod connections;
mod cookies;
mod csrf;
mod dashboard;
mod discovery;
mod end_session;
mod error;
mod extract;
mod framing;
mod health;
mod integrations;
mod join;
mod jwks;
mod login;
mod oauth_response;
mod page;
mod per_ip_limit;
mod profile;
mod request_id;
mod run_to_completion;
mod saml;
mod saml_admin;
mod security_headers;
mod sso_jwt;
mod sso_oidc;
mod team;
mod token;
mod userinfo;
mod verify;

#[cfg(test)]
mod router_tests;

use axum::Router;
use axum::http::HeaderName;
use axum::routing::get;
use tower::ServiceBuilder;
use tower_http::request_id::{PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::state::AppState;
use crate::telemetry;
use run_to_completion::run_to_completion;

pub use crate::state::StateError;
pub use client_address::{ForwardedHeader, TrustedProxies};
pub(crate) use cookies::CookiePolicy;
pub use error::PageError;

/// The provider's paths; discovery publishes them as absolute URLs.
pub mod paths {
    pub const DISCOVERY: &str = "/.well-known/openid-configuration";
    pub const JWKS: &str = "/.well-known/jwks.json";
    pub const AUTHORIZE: &str = "/authorize";
    pub const AUTHORIZE_CONTINUE: &str = "/authorize/continue";
    pub const AUTHORIZE_CONSENT: &str = "/authorize/consent";
    pub const TOKEN: &str = "/token";
    pub const USERINFO: &str = "/userinfo";
    pub const REVOCATION: &str = "/revoke";
    pub const INTROSPECTION: &str = "/introspect";
    pub const END_SESSION: &str = "/end-session";
    pub const HEALTHZ: &str = "/healthz";
    pub const READYZ: &str = "/readyz";
    pub const METRICS: &str = "/metrics";
    pub const STYLESHEET: &str = "/assets/latchkey.css";
    pub const LOGIN: &str = "/login";
    pub const REGISTER: &str = "/register";
    pub const LOGIN_SENT: &str = "/login/sent";
    pub const LOGIN_CODE: &str = "/login/code";
    pub const LOGIN_VERIFY: &str = "/login/verify";
    pub const DASHBOARD: &str = "/dashboard";
    pub const LOGOUT: &str = "/logout";
    pub const LOGOUT_EVERYWHERE: &str = "/logout/everywhere";
    pub const JOIN: &str = "/join/{token}";
    pub const SSO_JWT: &str = "/sso/jwt";
    pub const SSO_OIDC_START: &str = "/sso/oidc/start";
    /// Each connection's own redirect URI (see `latchkey_oidc::upstream::CALLBACK_PATH`).
    pub const SSO_OIDC_CALLBACK: &str = "/sso/oidc/callback/{connection}";
    pub const INTEGRATIONS_CONNECTIONS: &str = "/dashboard/integrations/connections";
    pub const INTEGRATIONS_CONNECTION_REMOVE: &str = "/dashboard/integrations/connections/remove";
    pub const INTEGRATIONS_CONNECTION_VERIFY: &str = "/dashboard/integrations/connections/verify";
    pub const PROFILE: &str = "/dashboard/profile";
    pub const TEAM_SWITCH: &str = "/dashboard/team";
    pub const INTEGRATIONS: &str = "/dashboard/integrations";
    pub const INTEGRATIONS_ADD: &str = "/dashboard/integrations/issuers";
    pub const INTEGRATIONS_REMOVE: &str = "/dashboard/integrations/issuers/remove";
    pub const TEAM_SETTINGS: &str = "/dashboard/settings/team";
    pub const TEAM_RENAME: &str = "/dashboard/settings/team/rename";
    pub const TEAM_JOIN_LINKS: &str = "/dashboard/settings/team/join-links";
    pub const TEAM_JOIN_LINK_REVOKE: &str = "/dashboard/settings/team/join-links/revoke";
    pub const TEAM_MEMBER_ROLE: &str = "/dashboard/settings/team/members/role";
    pub const TEAM_MEMBER_REMOVE: &str = "/dashboard/settings/team/members/remove";
    pub const SAML_METADATA: &str = latchkey_saml::paths::METADATA;
    pub const SAML_SSO: &str = latchkey_saml::paths::SSO;
    pub const SAML_INIT: &str = latchkey_saml::paths::INIT;
    pub const SAML_SLO: &str = latchkey_saml::paths::SLO;
    pub const SAML_CONTINUE: &str = "/saml/continue";
    pub const INTEGRATIONS_SAML: &str = "/dashboard/integrations/saml";
    pub const INTEGRATIONS_SAML_REMOVE: &str = "/dashboard/integrations/saml/remove";
    pub const INTEGRATIONS_SAML_UPDATE: &str = "/dashboard/integrations/saml/update";

    /// The path of one join link (the route is `JOIN`).
    pub fn join(token: &str) -> String {
        format!("/join/{token}")
    }
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The whole application: every route, with request ids, tracing, metrics and security
/// headers. Every handler that writes to the database runs to completion even if its client
/// leaves or its route times out (see `run_to_completion`). No blanket request timeout: the
/// other handlers answer from memory, and a timer per request cost a fifth of the JWKS
/// throughput; routes that wait on the database or on mail get timeouts of their own.
pub fn router(state: AppState) -> Router {
    let https = state.issuer.is_https();
    Router::new()
        .merge(login_routes(&state))
        .merge(oauth_routes(&state))
        .merge(saml_routes(&state))
        .route(paths::HEALTHZ, get(health::healthz))
        .route(paths::READYZ, get(health::readyz))
        .route(paths::METRICS, get(health::metrics))
        .route(paths::STYLESHEET, get(assets::stylesheet))
        .fallback(error::not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            health::close_connections_when_draining,
        ))
        .layer(axum::middleware::from_fn_with_state(
            telemetry::RequestMetrics::default(),
            telemetry::record_request,
        ))
        .layer(axum::middleware::from_fn_with_state(https, security_headers::add))
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(REQUEST_ID, request_id::ProcessCounter::new()))
                .layer(
                    TraceLayer::new_for_http()
                        .make_span_with(|request: &axum::http::Request<_>| {
                            let id = request
                                .extensions()
                                .get::<RequestId>()
                                .and_then(|id| id.header_value().to_str().ok())
                                .unwrap_or("-");
                            let path = loggable_path(request.uri().path());
                            tracing::info_span!("request", method = %request.method(), %path, request_id = %id)
                        })
                        .on_response(DefaultOnResponse::new().level(Level::DEBUG)),
                )
                .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        )
        .with_state(state)
}

/// The path as logs may show it: a join link's token is a bearer credential (multi-use, up to
/// 72 hours, possibly granting administrator), so it is replaced by the route's placeholder.
/// Magic-link tokens travel in the query, which is never logged.
fn loggable_path(path: &str) -> &str {
    if path.starts_with(paths::JOIN.trim_end_matches("{token}")) {
        paths::JOIN
    } else {
        path
    }
}

/// The OpenID provider's endpoints. The browser-facing ones wait on the database, so they
/// have a timeout; the token endpoint answers `client_credentials` from memory.
fn oauth_routes(state: &AppState) -> Router<AppState> {
    use axum::routing::post;

    // A new authorization request is kept while the person signs in: a budget per client of
    // its own, apart from the sign-in pages', bounds how many anyone can make.
    let limit = per_ip_limit::PerIpLimit::new(state);
    let browser = Router::new()
        .route(
            paths::AUTHORIZE,
            limit.apply(get(authorize::authorize_get).post(authorize::authorize_post)),
        )
        .route(
            paths::AUTHORIZE_CONTINUE,
            get(authorize::authorize_continue),
        )
        .route(paths::AUTHORIZE_CONSENT, post(authorize::consent_submit))
        .route(
            paths::END_SESSION,
            get(end_session::end_session_get).post(end_session::end_session_post),
        )
        .route_layer(axum::middleware::from_fn(run_to_completion))
        .route_layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            std::time::Duration::from_secs(15),
        ))
        // Renders their `PageError`s. Only on the routes that serve pages: the token, JWKS
        // and discovery endpoints answer thousands a second and never return one.
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            error::render_page_errors,
        ));
    // Browser apps (public clients) call these from their own origin. No cookies are
    // involved, so any origin may: the credentials are in the request itself.
    let for_browser_apps = Router::new()
        .route(paths::TOKEN, post(token::token))
        .route(paths::REVOCATION, post(token::revoke))
        // These two write; the rest answer from memory or only read.
        .route_layer(axum::middleware::from_fn(run_to_completion))
        .route(
            paths::USERINFO,
            get(userinfo::userinfo_get).post(userinfo::userinfo_post),
        )
        // They may wait on the database or on a client's keys (fetched within 5 s), but never
        // for longer than this: a client trickling its body cannot hold a handler for days.
        .route_layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            TOKEN_ROUTES_TIMEOUT,
        ))
        .route(paths::DISCOVERY, get(discovery::openid_configuration))
        .route(paths::JWKS, get(jwks::jwks))
        .route_layer(cors());
    Router::new().merge(browser).merge(for_browser_apps).route(
        paths::INTROSPECTION,
        post(token::introspect).layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            TOKEN_ROUTES_TIMEOUT,
        )),
    )
}

/// The SAML identity provider. Keeping a sign-on writes a row, so the routes that do are
/// limited per client IP, as `/authorize` is; they wait on the database, so they time out.
fn saml_routes(state: &AppState) -> Router<AppState> {
    let limit = per_ip_limit::PerIpLimit::new(state);
    Router::new()
        .route(paths::SAML_METADATA, get(saml::metadata))
        .route(
            paths::SAML_SSO,
            limit.apply(get(saml::sso_redirect).post(saml::sso_post)),
        )
        .route(paths::SAML_INIT, limit.apply(get(saml::init)))
        .route(paths::SAML_CONTINUE, get(saml::continue_sign_on))
        .route(
            paths::SAML_SLO,
            get(saml::slo_redirect).post(saml::slo_post),
        )
        .route_layer(axum::middleware::from_fn(run_to_completion))
        .route_layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            std::time::Duration::from_secs(15),
        ))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            error::render_page_errors,
        ))
}

/// The longest the token, revocation, userinfo and introspection endpoints take.
const TOKEN_ROUTES_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

/// Cross-origin access for browser apps: any origin, no cookies.
fn cors() -> tower_http::cors::CorsLayer {
    use axum::http::{Method, header};
    tower_http::cors::CorsLayer::new()
        .allow_origin(tower_http::cors::Any)
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .max_age(std::time::Duration::from_secs(3600))
}

/// The sign-up and sign-in pages. The routes that send mail or sign in are limited per client
/// IP (429 with `Retry-After` past the limit), and all of them wait on the database, so they
/// have a timeout.
fn login_routes(state: &AppState) -> Router<AppState> {
    use axum::routing::post;

    // One budget per client shared by every route here that sends mail or signs in.
    let limit = per_ip_limit::PerIpLimit::new(state);
    let limited = |route| limit.apply(route);
    Router::new()
        .route(
            paths::LOGIN,
            get(login::login_page).merge(limited(post(login::login_submit))),
        )
        .route(
            paths::REGISTER,
            get(login::register_page).merge(limited(post(login::register_submit))),
        )
        .route(paths::LOGIN_SENT, get(verify::sent_page))
        .route(paths::LOGIN_CODE, limited(post(verify::code_submit)))
        .route(
            paths::LOGIN_VERIFY,
            get(verify::verify_page).merge(limited(post(verify::verify_submit))),
        )
        .route(paths::DASHBOARD, get(dashboard::dashboard))
        .route(paths::PROFILE, get(profile::page).post(profile::save))
        // Not limited per IP: a signed token is no guess, and the agents of one helpdesk
        // often share an address.
        .route(
            paths::SSO_JWT,
            get(sso_jwt::sign_on_get).post(sso_jwt::sign_on_post),
        )
        // Starting writes a pending sign-in; the callback signs in.
        .route(paths::SSO_OIDC_START, limited(post(sso_oidc::start)))
        .route(paths::SSO_OIDC_CALLBACK, limited(get(sso_oidc::callback)))
        .route(
            paths::JOIN,
            get(join::join_page).merge(limited(post(join::join_submit))),
        )
        .route(paths::TEAM_SWITCH, post(team::switch))
        .route(paths::INTEGRATIONS, get(integrations::page))
        .route(paths::INTEGRATIONS_ADD, post(integrations::add))
        .route(paths::INTEGRATIONS_REMOVE, post(integrations::remove))
        .route(paths::INTEGRATIONS_CONNECTIONS, post(connections::add))
        .route(
            paths::INTEGRATIONS_CONNECTION_REMOVE,
            post(connections::remove),
        )
        .route(
            paths::INTEGRATIONS_CONNECTION_VERIFY,
            post(connections::verify_domain),
        )
        .route(paths::INTEGRATIONS_SAML, post(saml_admin::add))
        .route(paths::INTEGRATIONS_SAML_REMOVE, post(saml_admin::remove))
        .route(paths::INTEGRATIONS_SAML_UPDATE, post(saml_admin::update))
        .route(paths::TEAM_SETTINGS, get(team::settings_page))
        .route(paths::TEAM_RENAME, post(team::rename))
        .route(paths::TEAM_JOIN_LINKS, post(team::create_join_link))
        .route(paths::TEAM_JOIN_LINK_REVOKE, post(team::revoke_join_link))
        .route(paths::TEAM_MEMBER_ROLE, post(team::change_role))
        .route(paths::TEAM_MEMBER_REMOVE, post(team::remove_member))
        .route(paths::LOGOUT, post(dashboard::logout))
        .route(paths::LOGOUT_EVERYWHERE, post(dashboard::logout_everywhere))
        .route_layer(axum::middleware::from_fn(run_to_completion))
        .route_layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            std::time::Duration::from_secs(15),
        ))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            error::render_page_errors,
        ))
}

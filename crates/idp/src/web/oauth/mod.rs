//! The OpenID provider's endpoints: discovery and keys, the authorization request and its
//! consent, the token, revocation, introspection and userinfo endpoints, and RP-initiated
//! logout. Each handler extracts, makes one call to `latchkey_oidc`, and maps the answer
//! (`oauth_response`).

mod authorize;
mod discovery;
mod end_session;
mod jwks;
mod oauth_response;
mod token;
mod userinfo;

use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use latchkey_core::urls;

use crate::state::AppState;
use crate::web::layers::page_layers;
use crate::web::per_ip_limit::PerIpLimit;

/// The longest the token, revocation, userinfo and introspection endpoints take.
const TOKEN_ROUTES_TIMEOUT: Duration = Duration::from_secs(20);

/// The browser-facing endpoints wait on the database, so they have a timeout; the token
/// endpoint answers `client_credentials` from memory.
pub(super) fn routes(state: &AppState) -> Router<AppState> {
    // A new authorization request is kept while the person signs in: a budget per client of
    // its own, apart from the sign-in pages', bounds how many anyone can make.
    let limit = PerIpLimit::new(state);
    let browser = Router::new()
        .route(
            urls::AUTHORIZE,
            limit.apply(get(authorize::authorize_get).post(authorize::authorize_post)),
        )
        .route(urls::AUTHORIZE_CONTINUE, get(authorize::authorize_continue))
        .route(urls::AUTHORIZE_CONSENT, post(authorize::consent_submit))
        .route(
            urls::END_SESSION,
            get(end_session::end_session_get).post(end_session::end_session_post),
        );
    // Browser apps (public clients) call these from their own origin. No cookies are
    // involved, so any origin may: the credentials are in the request itself.
    let for_browser_apps = Router::new()
        .route(urls::TOKEN, post(token::token))
        .route(urls::REVOCATION, post(token::revoke))
        // These two write; the rest answer from memory or only read.
        .route_layer(axum::middleware::from_fn(
            crate::web::run_to_completion::run_to_completion,
        ))
        .route(
            urls::USERINFO,
            get(userinfo::userinfo_get).post(userinfo::userinfo_post),
        )
        // They may wait on the database or on a client's keys (fetched within 5 s), but never
        // for longer than this: a client trickling its body cannot hold a handler for days.
        .route_layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            TOKEN_ROUTES_TIMEOUT,
        ))
        .route(urls::DISCOVERY, get(discovery::openid_configuration))
        .route(urls::JWKS, get(jwks::jwks))
        .route_layer(cors());
    Router::new()
        .merge(page_layers(browser, state))
        .merge(for_browser_apps)
        .route(
            urls::INTROSPECTION,
            post(token::introspect).layer(tower_http::timeout::TimeoutLayer::with_status_code(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                TOKEN_ROUTES_TIMEOUT,
            )),
        )
}

/// Cross-origin access for browser apps: any origin, no cookies.
fn cors() -> tower_http::cors::CorsLayer {
    use axum::http::{Method, header};
    tower_http::cors::CorsLayer::new()
        .allow_origin(tower_http::cors::Any)
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .max_age(Duration::from_secs(3600))
}

//! The router: every route group, with request ids, tracing, metrics and security headers.
//! Each folder holds one group of handlers and its `routes()`: sign-in (`login`), a person's
//! account (`dashboard`), a member's application launcher (`apps`), team settings (`team`), integrations (`integrations`), the OpenID
//! provider (`oauth`) and the SAML identity provider (`saml`); the files beside them are what
//! the groups share (extractors, cookies, CSRF, errors, layers). Paths are
//! `latchkey_core::urls`, so no handler imports this file.

mod applications;
mod apps;
mod assets;
pub mod client_address;
mod console;
pub(crate) mod cookies;
mod csrf;
mod dashboard;
mod error;
mod extract;
mod framing;
mod health;
mod integrations;
mod layers;
mod login;
mod oauth;
mod page;
mod per_ip_limit;
mod request_id;
mod resume;
mod run_to_completion;
mod saml;
mod security_headers;
mod team;

use axum::Router;
use axum::http::HeaderName;
use axum::routing::get;
use tower::ServiceBuilder;
use tower_http::request_id::{PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use latchkey_core::urls;

use crate::state::AppState;
use crate::telemetry;
use layers::page_layers;

pub use crate::state::StateError;
pub use client_address::{ForwardedHeader, TrustedProxies};
pub(crate) use console::Moment;
pub use error::PageError;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The whole application: every route, with request ids, tracing, metrics and security
/// headers. Every handler that writes to the database runs to completion even if its client
/// leaves or its route times out (see `run_to_completion`). No blanket request timeout: the
/// other handlers answer from memory, and a timer per request cost a fifth of the JWKS
/// throughput; routes that wait on the database or on mail get timeouts of their own.
pub fn router(state: AppState) -> Router {
    let https = state.issuer.is_https();
    Router::new()
        .merge(page_layers(pages(&state), &state))
        .merge(oauth::routes(&state))
        .route(urls::HEALTHZ, get(health::healthz))
        .route(urls::READYZ, get(health::readyz))
        .route(urls::METRICS, get(health::metrics))
        .route(urls::STYLESHEET, get(assets::stylesheet))
        .route(urls::COPY_SCRIPT, get(assets::copy_script))
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
    if path.starts_with(urls::JOIN.trim_end_matches("{token}")) {
        urls::JOIN
    } else {
        path
    }
}

/// Every route that serves pages, under the same layers.
fn pages(state: &AppState) -> Router<AppState> {
    Router::new()
        .merge(login::routes(state))
        .merge(dashboard::routes())
        .merge(apps::routes())
        .merge(team::routes())
        .merge(integrations::routes())
        .merge(applications::routes())
        .merge(saml::routes(state))
}

//! Routes, handlers and the layers every response goes through.

mod assets;
mod authorize;
mod discovery;
mod error;
mod health;
mod jwks;
mod request_id;
mod security_headers;

use axum::Router;
use axum::http::HeaderName;
use axum::routing::get;
use tower::ServiceBuilder;
use tower_http::request_id::{PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::state::AppState;
use crate::telemetry;

pub use crate::state::StateError;
pub use error::PageError;

/// The provider's paths; discovery publishes them as absolute URLs.
pub mod paths {
    pub const DISCOVERY: &str = "/.well-known/openid-configuration";
    pub const JWKS: &str = "/.well-known/jwks.json";
    pub const AUTHORIZE: &str = "/authorize";
    pub const HEALTHZ: &str = "/healthz";
    pub const READYZ: &str = "/readyz";
    pub const METRICS: &str = "/metrics";
    pub const STYLESHEET: &str = "/assets/latchkey.css";
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The whole application: every route, with request ids, tracing, metrics and security
/// headers. No blanket request timeout: these handlers answer from memory, and a timer per
/// request cost a fifth of the JWKS throughput; routes that wait on the database or on mail
/// get timeouts of their own.
pub fn router(state: AppState) -> Router {
    let https = state.issuer.is_https();
    Router::new()
        .route(paths::DISCOVERY, get(discovery::openid_configuration))
        .route(paths::JWKS, get(jwks::jwks))
        .route(paths::AUTHORIZE, get(authorize::authorize))
        .route(paths::HEALTHZ, get(health::healthz))
        .route(paths::READYZ, get(health::readyz))
        .route(paths::METRICS, get(health::metrics))
        .route(paths::STYLESHEET, get(assets::stylesheet))
        .fallback(error::not_found)
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
                            tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id = %id)
                        })
                        .on_response(DefaultOnResponse::new().level(Level::DEBUG)),
                )
                .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        )
        .with_state(state)
}

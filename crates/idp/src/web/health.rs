use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use latchkey_core::secret::constant_time_eq;

use crate::state::AppState;

/// `GET /healthz`: the process is up and serving.
pub(super) async fn healthz() -> &'static str {
    "ok\n"
}

/// `GET /readyz`: the database answers, so this replica can serve real traffic; 503 once it
/// is stopping, so that load balancers take it out before it stops accepting connections.
pub(super) async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    if state.is_draining() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n");
    }
    match state.db.read().ping().await {
        Ok(()) => (StatusCode::OK, "ready\n"),
        Err(error) => {
            tracing::warn!(%error, "readiness check: the database does not answer");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "the database does not answer\n",
            )
        }
    }
}

/// While stopping, every response says `Connection: close`: a load balancer's pooled
/// connection is then closed cleanly after its response, never cut under a request it has
/// just sent (which it could not retry for a POST).
pub(super) async fn close_connections_when_draining(
    State(state): State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let mut response = next.run(request).await;
    if state.is_draining() {
        response.headers_mut().insert(
            header::CONNECTION,
            axum::http::HeaderValue::from_static("close"),
        );
    }
    response
}

/// `GET /metrics`: Prometheus text format, for the operator alone. Request counts, revocation
/// reasons and rate-limit hits tell an attacker how an attack is going: with
/// `http.metrics_token` set, only a request bearing it is answered; without, only this
/// machine (a loopback peer that is no proxy and forwards nobody, as a local scraper or
/// sidecar is). Anyone else gets 404.
pub(super) async fn metrics(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> axum::response::Response {
    let allowed = match &state.metrics_token {
        Some(token) => headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|given| constant_time_eq(given, token)),
        // This machine itself, not a proxy on it relaying someone else's request.
        None => {
            let peer = peer.ip().to_canonical();
            peer.is_loopback()
                && !state.trusted_proxies.trusts(peer)
                && !headers.contains_key(header::FORWARDED)
                && !headers.contains_key("x-forwarded-for")
        }
    };
    if !allowed {
        return StatusCode::NOT_FOUND.into_response();
    }
    state.metrics.run_upkeep();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

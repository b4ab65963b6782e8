//! The layers route groups share.

use axum::Router;
use std::time::Duration;

use super::error;
use super::run_to_completion::run_to_completion;
use crate::state::AppState;

/// How long a page route may take before it answers 503.
const PAGE_TIMEOUT: Duration = Duration::from_secs(15);

/// What every route that serves pages goes through: a handler that writes runs to completion
/// even if its client leaves, a route that waits on the database or on mail times out, and
/// a `PageError` is rendered as a page. Only on the routes that serve pages: the token, JWKS
/// and discovery endpoints answer thousands a second and never return one.
pub(super) fn page_layers(routes: Router<AppState>, state: &AppState) -> Router<AppState> {
    routes
        .route_layer(axum::middleware::from_fn(run_to_completion))
        .route_layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            PAGE_TIMEOUT,
        ))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            error::render_page_errors,
        ))
}

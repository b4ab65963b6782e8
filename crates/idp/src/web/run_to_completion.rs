//! Handlers that touch the database run to completion, whoever stops waiting for them.
//!
//! A handler future dropped while it waits for `BEGIN` on PostgreSQL leaves the pooled
//! connection inside a transaction that nothing ends (sqlx 0.9.0, sqlx#4393: fixed upstream,
//! not yet released). The next borrower's statements then run inside it, hold their locks
//! and are never committed. A client that disconnects, or a route's timeout, drops the
//! handler; here it runs in a task of its own instead, and only the wait for it is dropped.
//! A handler then also never stops half way between two writes of different transactions.

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

pub(super) async fn run_to_completion(request: Request, next: Next) -> Response {
    match tokio::spawn(next.run(request).in_current_span()).await {
        Ok(response) => response,
        Err(error) => {
            tracing::error!(%error, "a request handler failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

//! What every action of the integrations page answers: the way back to the page, saying what
//! was done, or a refusal with what the domain said.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use latchkey_core::{TeamId, urls};

use crate::web::error::PageError;

/// A refused action on the integrations page: what the domain said, and the way back.
pub(super) fn refusal(
    status: StatusCode,
    title: &'static str,
    error: &impl std::fmt::Display,
) -> PageError {
    PageError {
        status,
        title,
        message: error.to_string(),
        hint: None,
        action: Some((urls::INTEGRATIONS, "Back to integrations")),
    }
}

/// Back to `page` (the page of the integration's kind) after an action, saying what was done,
/// at `anchor` (or the top).
pub(super) fn back_to(page: &str, team: &TeamId, done: &str, anchor: &str) -> Response {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("team", team.as_str())
        .append_pair("done", done)
        .finish();
    Redirect::to(&format!("{page}?{query}{anchor}")).into_response()
}

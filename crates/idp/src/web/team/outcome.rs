//! What the team settings forms answer: the way back to the page, or a refusal that leads
//! back to it.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use latchkey_core::TeamId;
use latchkey_teams::TeamError;

use crate::web::error::PageError;
use latchkey_core::urls;

/// How a refused team action reads.
pub(super) fn team_error(error: TeamError) -> PageError {
    let (status, title) = match &error {
        TeamError::NotFound => (StatusCode::NOT_FOUND, "Team not found"),
        TeamError::Forbidden => (StatusCode::FORBIDDEN, "Only administrators can do this"),
        TeamError::Database(_) => return PageError::internal(error),
        TeamError::LastAdministrator => (StatusCode::CONFLICT, "The team needs an administrator"),
        _ => return bad_request(error.to_string()),
    };
    PageError {
        status,
        title,
        message: error.to_string(),
        hint: None,
        action: Some((urls::TEAM_SETTINGS, "Back to the team")),
    }
}

/// A form that asked for something impossible: says what, and leads back.
pub(super) fn bad_request(message: String) -> PageError {
    PageError {
        status: StatusCode::BAD_REQUEST,
        title: "That could not be done",
        message,
        hint: None,
        action: Some((urls::TEAM_SETTINGS, "Back to the team")),
    }
}

pub(super) fn back(team: &TeamId, done: &str) -> Response {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("team", team.as_str())
        .append_pair("done", done)
        .finish();
    Redirect::to(&format!("{}?{query}", urls::TEAM_SETTINGS)).into_response()
}

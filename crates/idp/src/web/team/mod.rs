//! `/dashboard/settings/team`: members and roles, join links and the audit log (`page`), and
//! the forms that change them (`actions`). Every action is a CSRF-protected form; the teams
//! crate checks the actor's role, so a member gets 403 and someone outside the team 404
//! whatever they post.

mod actions;
mod page;

pub(super) use actions::{
    change_role, create_join_link, remove_member, rename, revoke_join_link, switch,
};
pub(super) use page::settings_page;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use latchkey_core::TeamId;
use latchkey_teams::TeamError;

use crate::web::error::PageError;
use crate::web::paths;

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
        action: Some((paths::TEAM_SETTINGS, "Back to the team")),
    }
}

/// A form that asked for something impossible: says what, and leads back.
pub(super) fn bad_request(message: String) -> PageError {
    PageError {
        status: StatusCode::BAD_REQUEST,
        title: "That could not be done",
        message,
        hint: None,
        action: Some((paths::TEAM_SETTINGS, "Back to the team")),
    }
}

pub(super) fn back(team: &TeamId, done: &str) -> Response {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("team", team.as_str())
        .append_pair("done", done)
        .finish();
    Redirect::to(&format!("{}?{query}", paths::TEAM_SETTINGS)).into_response()
}

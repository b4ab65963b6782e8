//! `/dashboard/applications`: a team's OpenID applications, managed by its administrators in
//! the browser. The list (`list`), registering one from a vendor's preset (`register`), an
//! application's page with the values to copy (`show`), and the forms that change, re-key or
//! remove it (`change`). The domain (`latchkey_oidc::TeamApplications`) checks the role and
//! the team on every action; `form` reads what was typed, `view` shapes what is shown.

mod change;
mod form;
mod list;
mod register;
mod show;
mod view;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};
use latchkey_core::{TeamId, urls};
use latchkey_login::SessionUser;
use latchkey_oidc::{ApplicationError, TeamApplications};
use latchkey_teams::TeamError;

use crate::state::AppState;
use crate::web::error::PageError;
use crate::web::extract::works_in;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(urls::APPLICATIONS, get(list::page))
        .route(
            urls::APPLICATION_NEW,
            get(register::page).post(register::submit),
        )
        .route(urls::APPLICATION, get(show::page).post(change::update))
        .route(urls::APPLICATION_SECRET, post(change::rotate))
        .route(urls::APPLICATION_REMOVE, post(change::remove))
}

/// The team's applications, through the clients the token endpoint reads (and its cache).
fn applications(state: &AppState) -> TeamApplications {
    TeamApplications::new(state.provider.clients().clone())
}

/// The team a page is about: the one named, else the person's current team; a session an
/// integration opened works in its own team only.
fn team_of(user: &SessionUser, named: Option<TeamId>) -> Result<TeamId, PageError> {
    let team = named
        .filter(|t| !t.as_str().is_empty())
        .or_else(|| user.team_id.clone())
        .ok_or_else(|| refused(ApplicationError::Team(TeamError::NotFound)))?;
    works_in(user, &team)?;
    Ok(team)
}

/// What a refused request shows: a sentence and a way on.
fn refused(error: ApplicationError) -> PageError {
    let (status, title, message) = match &error {
        ApplicationError::Team(TeamError::NotFound) => (
            StatusCode::NOT_FOUND,
            "Team not found",
            "There is no such team, or you are not in it.".to_owned(),
        ),
        ApplicationError::Team(TeamError::Forbidden) => (
            StatusCode::FORBIDDEN,
            "Only administrators can do this",
            "Only the team's administrators can see and change its applications. Ask one of them to do it, or to make you an administrator.".to_owned(),
        ),
        ApplicationError::NotFound => (
            StatusCode::NOT_FOUND,
            "No such application",
            "This team has no application with that client ID. It may have been removed.".to_owned(),
        ),
        ApplicationError::NoSecret => (
            StatusCode::BAD_REQUEST,
            "This application has no secret",
            "A public application proves itself with PKCE, not a secret, so there is none to rotate.".to_owned(),
        ),
        ApplicationError::Invalid { message, .. } => (
            StatusCode::BAD_REQUEST,
            "That could not be done",
            message.clone(),
        ),
        ApplicationError::Team(TeamError::Database(_))
        | ApplicationError::Database(_)
        | ApplicationError::Client(_)
        | ApplicationError::Team(_) => return PageError::internal(error),
    };
    PageError {
        status,
        title,
        message,
        hint: None,
        action: Some((urls::APPLICATIONS, "Back to applications")),
    }
}

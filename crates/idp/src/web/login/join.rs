//! `/join/{token}`: a team's join link. It names the team and asks for an address; the person
//! joins only when they complete the magic link sent there, so the link alone grants nothing.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use latchkey_teams::{JoinError, JoinLink, Team};
use serde::Deserialize;

use super::email::{LinkAsked, optional_name, send_link};
use crate::pages::EmailFormView;
use crate::state::AppState;
use crate::web::csrf;
use crate::web::error::PageError;
use crate::web::extract::CsrfForm;
use crate::web::page::{form_status, html};
use latchkey_core::email::Email;
use latchkey_core::secret::SecretToken;
use latchkey_login::{JoinTarget, Purpose, Requester};

#[derive(Deserialize)]
pub(super) struct JoinForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    name: String,
}

/// `GET /join/{token}`.
pub(super) async fn join_page(
    State(state): State<AppState>,
    Path(token): Path<String>,
    jar: CookieJar,
) -> Result<Response, PageError> {
    let (_, team) = open(&state, &token).await?;
    form(&state, jar, &token, &team, ("", ""), None).await
}

/// `POST /join/{token}`: sends the magic link that completes the join.
pub(super) async fn join_submit(
    State(state): State<AppState>,
    from: Requester,
    Path(token): Path<String>,
    jar: CookieJar,
    CsrfForm(input): CsrfForm<JoinForm>,
) -> Result<Response, PageError> {
    let (link, team) = open(&state, &token).await?;
    let typed = (input.email.trim(), input.name.trim());
    let Ok(email) = Email::parse(&input.email) else {
        let message = "That does not look like an email address. Check it and try again.";
        return form(&state, jar, &token, &team, typed, Some(message)).await;
    };
    let name = match optional_name(&input.name) {
        Ok(name) => name,
        Err(message) => return form(&state, jar, &token, &team, typed, Some(message)).await,
    };
    let target = JoinTarget { link_id: link.id };
    let asked = LinkAsked {
        purpose: Purpose::Join,
        continues: None,
        join: Some(&target),
        name: name.as_ref(),
    };
    send_link(&state, &from, jar, &email, asked).await
}

async fn open(state: &AppState, token: &str) -> Result<(JoinLink, Team), PageError> {
    let token = SecretToken::from_client(token).ok_or_else(|| join_error(JoinError::NotFound))?;
    state
        .teams
        .find_join_link(&token.hash(), state.now())
        .await
        .map_err(join_error)
}

async fn form(
    state: &AppState,
    jar: CookieJar,
    token: &str,
    team: &Team,
    (email, name): (&str, &str),
    error: Option<&str>,
) -> Result<Response, PageError> {
    let (jar, csrf) = csrf::token(jar, state.cookies);
    let title = format!("Join {}", team.name);
    // The team's own identity providers make the person a member as they sign in.
    let connections = super::email::connection_choices(state, &team.id).await;
    let action = latchkey_core::urls::join(token);
    let view = EmailFormView {
        signing_out: false,
        title: &title,
        lead: "Enter your email address. We will send you a link; you join the team when you open it. No password needed.",
        action: &action,
        button: "Email me a link to join",
        email,
        ask_name: true,
        name,
        csrf: &csrf,
        request: "",
        error,
        other_text: "Already in this team?",
        other_href: latchkey_core::urls::LOGIN,
        other_link: "Sign in",
        team: "",
        connections: &connections,
    };
    let status = form_status(error);
    // The token is in the path; `Referrer-Policy: same-origin` keeps it from other sites.
    Ok((jar, html(state, status, "email_form.html", &view)?).into_response())
}

/// The page for a join link that cannot be used: what happened, and what to do.
pub(super) fn join_error(error: JoinError) -> PageError {
    let (status, title, message) = match error {
        JoinError::NotFound => (
            StatusCode::NOT_FOUND,
            "This join link is not valid",
            "The link is damaged or incomplete, or it never existed.",
        ),
        JoinError::Expired => (
            StatusCode::GONE,
            "This join link has expired",
            "Join links work for a limited time, at most three days.",
        ),
        JoinError::Revoked => (
            StatusCode::GONE,
            "This join link was withdrawn",
            "An administrator of the team revoked it.",
        ),
        JoinError::UsedUp => (
            StatusCode::GONE,
            "This join link has been used up",
            "It has been used as many times as it allows.",
        ),
        JoinError::Database(e) => return PageError::internal(e),
    };
    PageError {
        status,
        title,
        message: message.into(),
        hint: Some("Ask an administrator of the team for a new join link."),
        action: Some((latchkey_core::urls::LOGIN, "Sign in instead")),
    }
}

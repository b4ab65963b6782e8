//! The page a browser sign-on shows before it replaces the browser's own session ("You are
//! signed in as X. Continue as Y through integration Z?"); why it asks is in the federation's
//! `replacing`. Its form posts the token back to the same sign-on URL with the person's answer
//! and the form token; the token is not spent until then, and cancelling spends it and keeps
//! the session.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use latchkey_core::{TeamId, urls};
use latchkey_oidc::federation::Replacing;
use serde::{Deserialize, Serialize};

use super::sso_jwt::SignOnParams;
use crate::state::AppState;
use crate::web::csrf;
use crate::web::error::PageError;
use crate::web::page::html;

/// The person's answer.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(super) enum Decision {
    /// Sign in as the token says, ending the browser's session.
    Continue,
    /// Keep the session; the token is spent.
    Cancel,
}

#[derive(Serialize)]
struct ConfirmView<'a> {
    csrf: &'a str,
    action: &'a str,
    token: &'a str,
    return_to: Option<&'a str>,
    request: Option<&'a str>,
    signed_in_as: &'a str,
    continuing_as: &'a str,
    issuer: &'a str,
}

/// The question, as a page with a form back to the sign-on URL it came to.
pub(super) fn page(
    state: &AppState,
    jar: CookieJar,
    question: &Replacing,
    params: &SignOnParams,
    team: Option<&TeamId>,
) -> Result<Response, PageError> {
    tracing::info!(issuer = %question.issuer, "browser sign-on asks before replacing a session");
    let (jar, csrf) = csrf::token(jar, state.cookies);
    let action = match team {
        Some(team) => urls::sso_jwt_team(team.as_str()),
        None => urls::SSO_JWT.to_owned(),
    };
    let view = ConfirmView {
        csrf: &csrf,
        action: &action,
        token: params.token.trim(),
        return_to: params.return_to.as_deref(),
        request: params.request.as_deref(),
        signed_in_as: &question.signed_in_as,
        continuing_as: &question.continuing_as,
        issuer: &question.issuer,
    };
    let page = html(state, StatusCode::OK, "sso_jwt_confirm.html", &view)?;
    Ok((jar, page).into_response())
}

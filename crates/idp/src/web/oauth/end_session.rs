//! RP-Initiated Logout 1.0: `GET`/`POST /end-session`. The person is signed out at once when
//! the client's `id_token_hint` names them; otherwise they confirm first, so a link on another
//! site cannot sign anyone out. The return address must be registered for the client.

use std::collections::HashMap;

use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use serde::Serialize;

use super::oauth_response::single_valued;
use crate::state::AppState;
use crate::web::cookies::Jar;
use crate::web::csrf;
use crate::web::error::PageError;
use crate::web::extract::{current_user, revoke_session};
use crate::web::page::html;
use latchkey_login::SessionUser;
use latchkey_oidc::end_session::{Logout, LogoutError, LogoutParams};

#[derive(Serialize)]
struct EndSessionView<'a> {
    title: &'a str,
    message: String,
    confirm: bool,
    csrf: &'a str,
    client_id: Option<&'a str>,
    post_logout_redirect_uri: Option<&'a str>,
    state: Option<&'a str>,
}

/// `GET /end-session`.
pub(super) async fn end_session_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, PageError> {
    let pairs = query.map(|Query(p)| p).unwrap_or_default();
    end_session(&state, &headers, jar, pairs).await
}

/// `POST /end-session`: the confirmation form, or a client's form. The client's comes from
/// its own site without the `SameSite=Lax` session cookie, so it is turned into the same GET.
pub(super) async fn end_session_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<Response, PageError> {
    let pairs = form.map(|Form(p)| p).unwrap_or_default();
    if !pairs.iter().any(|(name, _)| name == "confirm") {
        return Ok(super::authorize::same_as_get(
            latchkey_core::urls::END_SESSION,
            &pairs,
        ));
    }
    end_session(&state, &headers, jar, pairs).await
}

fn refused(message: &str) -> PageError {
    PageError {
        status: StatusCode::BAD_REQUEST,
        title: "This sign-out request cannot be completed",
        message: message.to_owned(),
        hint: Some("You can still sign out from your account page."),
        action: Some((latchkey_core::urls::DASHBOARD, "Go to your account")),
    }
}

/// The words for a refused logout request.
fn logout_refused(error: LogoutError) -> PageError {
    refused(match error {
        LogoutError::ForeignIdToken => {
            "The application sent an ID token that this service did not issue."
        }
        LogoutError::ClientMismatch => {
            "The ID token was issued to another application than the one named."
        }
        LogoutError::UnknownClient => "The application that sent you here is not registered.",
        LogoutError::UnregisteredRedirect => {
            "The application asked to send you to an address it has not registered, so you were not sent there."
        }
        LogoutError::Failed(e) => return PageError::internal(e),
    })
}

async fn end_session(
    state: &AppState,
    headers: &HeaderMap,
    jar: CookieJar,
    pairs: Vec<(String, String)>,
) -> Result<Response, PageError> {
    let params: HashMap<String, String> = single_valued(pairs)
        .map_err(|e| refused(&format!("The request is malformed: {}.", e.description)))?;
    let get = |name: &str| {
        params
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    };
    let request = LogoutParams {
        id_token_hint: get("id_token_hint"),
        client_id: get("client_id"),
        post_logout_redirect_uri: get("post_logout_redirect_uri"),
        state: get("state"),
    };
    let logout = state
        .provider
        .logout_request(&request)
        .await
        .map_err(logout_refused)?;
    let confirmed = get("confirm") == Some("yes");
    if confirmed {
        let token = get("csrf").unwrap_or_default();
        csrf::check(&jar, headers, token, state.cookies, &state.issuer)?;
    }
    let user = current_user(state, &jar).await?;
    if let Some((_, person)) = &user
        && !confirmed
        && logout.needs_confirmation(person)
    {
        return confirm_page(state, jar, &logout, person);
    }
    let jar = match user {
        Some((secret, person)) => {
            revoke_session(state, &secret).await?;
            let client = logout.client.as_ref().map(|c| c.id.as_str());
            tracing::info!(user = %person.user_id, ?client, "signed out at the client's request");
            jar.add(state.cookies.removal(Jar::Session))
        }
        None => jar,
    };
    if let Some(url) = logout.return_url() {
        return Ok((jar, Redirect::to(&url)).into_response());
    }
    let view = EndSessionView {
        title: "You are signed out",
        message: "You can close this page.".into(),
        confirm: false,
        csrf: "",
        client_id: None,
        post_logout_redirect_uri: None,
        state: None,
    };
    Ok((jar, html(state, StatusCode::OK, "end_session.html", &view)?).into_response())
}

/// "Sign out?": the form that carries the checked request along.
fn confirm_page(
    state: &AppState,
    jar: CookieJar,
    logout: &Logout,
    person: &SessionUser,
) -> Result<Response, PageError> {
    let (jar, csrf) = csrf::token(jar, state.cookies);
    let view = EndSessionView {
        title: "Sign out?",
        message: match &logout.client {
            Some(c) => format!(
                "{} asks to sign you ({}) out of Latchkey.",
                c.name, person.email
            ),
            None => format!("Do you want to sign out ({})?", person.email),
        },
        confirm: true,
        csrf: &csrf,
        client_id: logout.client.as_ref().map(|c| c.id.as_str()),
        post_logout_redirect_uri: logout.redirect_uri(),
        state: logout.state(),
    };
    Ok((jar, html(state, StatusCode::OK, "end_session.html", &view)?).into_response())
}

//! RP-Initiated Logout 1.0: `GET`/`POST /end-session`. The person is signed out at once when
//! the client's `id_token_hint` names them; otherwise they confirm first, so a link on another
//! site cannot sign anyone out. The return address must be registered for the client.

use std::collections::HashMap;

use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use chrono::Utc;
use serde::Serialize;

use super::cookies::Jar;
use super::csrf;
use super::error::PageError;
use super::extract::current_user;
use super::login::html;
use super::oauth_response::single_valued;
use crate::oauth::authorize::response_url;
use crate::state::AppState;

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
            super::paths::END_SESSION,
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
        action: Some((super::paths::DASHBOARD, "Go to your account")),
    }
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
    let hinted = match get("id_token_hint") {
        Some(hint) => Some(state.provider.id_token_audience(hint).ok_or_else(|| {
            refused("The application sent an ID token that this service did not issue.")
        })?),
        None => None,
    };
    let client_id = match (get("client_id"), &hinted) {
        (Some(id), Some((aud, _))) if id != aud => {
            return Err(refused(
                "The ID token was issued to another application than the one named.",
            ));
        }
        (Some(id), _) => Some(id.to_owned()),
        (None, Some((aud, _))) => Some(aud.clone()),
        (None, None) => None,
    };
    let client = match &client_id {
        Some(id) => Some(
            state
                .provider
                .clients()
                .find(id)
                .await
                .map_err(PageError::internal)?
                .ok_or_else(|| refused("The application that sent you here is not registered."))?,
        ),
        None => None,
    };
    let target = match get("post_logout_redirect_uri") {
        Some(uri) => {
            let registered = client
                .as_ref()
                .is_some_and(|c| c.post_logout_redirect_uris.iter().any(|r| r == uri));
            if !registered {
                return Err(refused(
                    "The application asked to send you to an address it has not registered, so you were not sent there.",
                ));
            }
            Some(uri)
        }
        None => None,
    };
    let user = current_user(state, &jar).await?;
    let confirmed = get("confirm") == Some("yes");
    if confirmed {
        csrf::check(
            &jar,
            headers,
            get("csrf").unwrap_or_default(),
            state.cookies,
            &state.issuer,
        )?;
    }
    let named = matches!((&user, &hinted), (Some((_, u)), Some((_, sub))) if u.user_id == *sub);
    if let Some((_, person)) = &user
        && !confirmed
        && !named
    {
        let (jar, csrf) = csrf::token(jar, state.cookies);
        let view = EndSessionView {
            title: "Sign out?",
            message: match &client {
                Some(c) => format!(
                    "{} asks to sign you ({}) out of Latchkey.",
                    c.name, person.email
                ),
                None => format!("Do you want to sign out ({})?", person.email),
            },
            confirm: true,
            csrf: &csrf,
            client_id: client_id.as_deref(),
            post_logout_redirect_uri: target,
            state: get("state"),
        };
        return Ok((jar, html(state, StatusCode::OK, "end_session.html", &view)?).into_response());
    }
    let jar = if let Some((secret, person)) = user {
        state
            .login
            .sessions()
            .revoke(&secret, Utc::now())
            .await
            .map_err(PageError::internal)?;
        tracing::info!(user = %person.user_id, client = ?client_id, "signed out at the client's request");
        jar.add(state.cookies.removal(Jar::Session))
    } else {
        jar
    };
    if let Some(target) = target {
        let mut response_params = Vec::new();
        if let Some(client_state) = get("state") {
            response_params.push(("state", client_state));
        }
        return Ok((jar, Redirect::to(&response_url(target, &response_params))).into_response());
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

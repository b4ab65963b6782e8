//! The authorization endpoint (OpenID Connect Core §3.1.2), its continuation after sign-in,
//! and the consent form. The checks and decisions live in `latchkey_oidc`; this maps them to
//! pages and redirects.

use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Form, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use latchkey_core::RequestId;
use serde::{Deserialize, Serialize};

use super::oauth_response::single_valued;
use crate::state::AppState;
use crate::web::csrf;
use crate::web::error::PageError;
use crate::web::extract::{CsrfForm, current_user};
use crate::web::page::html;
use latchkey_core::urls;
use latchkey_oidc::authorize::error_url;
use latchkey_oidc::scope::Scopes;
use latchkey_oidc::{AuthorizeError, AuthorizeParams, Next};

/// `GET /authorize`.
pub(super) async fn authorize_get(
    State(state): State<AppState>,
    jar: CookieJar,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Response {
    let pairs = query.map(|Query(p)| p).map_err(|e| e.to_string());
    authorize(state, jar, pairs).await
}

/// `POST /authorize` (Core §3.1.2.1 allows the parameters in a form). A form posted from
/// the client's site carries no `SameSite=Lax` session cookie, so the request is turned into
/// the same GET, which does.
pub(super) async fn authorize_post(
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Response {
    match form {
        Ok(Form(pairs)) => same_as_get(urls::AUTHORIZE, &pairs),
        Err(e) => bad_request_page(format!("The request could not be read ({e}).")),
    }
}

/// A 303 to `path` with `pairs` as its query.
pub(super) fn same_as_get(path: &str, pairs: &[(String, String)]) -> Response {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    Redirect::to(&format!("{path}?{query}")).into_response()
}

async fn authorize(
    state: AppState,
    jar: CookieJar,
    pairs: Result<Vec<(String, String)>, String>,
) -> Response {
    let params = pairs
        .map_err(|e| format!("The request could not be read ({e})."))
        .and_then(|pairs| {
            single_valued(pairs)
                .map_err(|e| format!("The request is malformed: {}.", e.description))
        })
        .and_then(|map| {
            serde_json::from_value::<AuthorizeParams>(serde_json::json!(map))
                .map_err(|e| format!("The request could not be read ({e})."))
        });
    let params = match params {
        Ok(params) => params,
        Err(message) => return bad_request_page(message),
    };
    let user = match current_user(&state, &jar).await {
        Ok(user) => user.map(|(_, u)| u),
        Err(page) => return page.into_response(),
    };
    let next = state
        .provider
        .start(params, user.as_ref(), state.now())
        .await;
    respond(&state, jar, next)
}

#[derive(Deserialize)]
pub(super) struct ContinueQuery {
    #[serde(default)]
    request: RequestId,
}

/// `GET /authorize/continue?request=…`: where sign-in returns to.
pub(super) async fn authorize_continue(
    State(state): State<AppState>,
    jar: CookieJar,
    Query(query): Query<ContinueQuery>,
) -> Response {
    let user = match current_user(&state, &jar).await {
        Ok(user) => user.map(|(_, u)| u),
        Err(page) => return page.into_response(),
    };
    let next = state
        .provider
        .resume(&query.request, user.as_ref(), state.now())
        .await;
    respond(&state, jar, next)
}

#[derive(Deserialize)]
pub(super) struct ConsentForm {
    #[serde(default)]
    request: RequestId,
    #[serde(default)]
    decision: String,
}

/// `POST /authorize/consent`: allow or deny.
pub(super) async fn consent_submit(
    State(state): State<AppState>,
    jar: CookieJar,
    CsrfForm(form): CsrfForm<ConsentForm>,
) -> Response {
    let user = match current_user(&state, &jar).await {
        Ok(Some((_, user))) => user,
        Ok(None) => return sign_in_redirect(&form.request, None),
        Err(page) => return page.into_response(),
    };
    let allow = form.decision == "allow";
    let next = state
        .provider
        .decide_consent(&form.request, &user, allow, state.now())
        .await;
    respond(&state, jar, next)
}

/// Where sign-in starts for a pending request: the login page, carrying the request along.
fn sign_in_redirect(request_id: &str, login_hint: Option<&str>) -> Response {
    let mut url = url::form_urlencoded::Serializer::new(String::new());
    url.append_pair("request", request_id);
    if let Some(hint) = login_hint {
        url.append_pair("login_hint", hint);
    }
    Redirect::to(&format!("{}?{}", urls::LOGIN, url.finish())).into_response()
}

#[derive(Serialize)]
struct ConsentView<'a> {
    title: &'a str,
    client: &'a str,
    email: &'a str,
    request: &'a str,
    csrf: &'a str,
    items: Vec<String>,
}

/// What a scope lets the client have, in words.
fn describe(scope: &str, client: &str) -> String {
    match scope {
        "openid" => "Know who you are when you sign in".into(),
        "profile" => "See your basic profile".into(),
        "email" => "See your email address".into(),
        "offline_access" => {
            format!("Stay connected to your account when you are not using {client}")
        }
        other => format!("Use the “{other}” permission"),
    }
}

fn respond(state: &AppState, jar: CookieJar, next: Result<Next, AuthorizeError>) -> Response {
    match next {
        Ok(Next::Redirect(url)) => Redirect::to(&url).into_response(),
        Ok(Next::SignIn { request_id, login_hint }) => sign_in_redirect(&request_id, login_hint.as_deref()),
        Ok(Next::Consent {
            request_id,
            client_name,
            scopes,
            email,
        }) => consent_page(state, jar, &request_id, &client_name, &email, &scopes)
            .unwrap_or_else(|e| e.into_response()),
        Err(AuthorizeError::Redirect {
            redirect_uri,
            state: client_state,
            error,
        }) => {
            tracing::info!(error = error.code.as_str(), description = %error.description, "authorization request refused");
            Redirect::to(&error_url(&redirect_uri, client_state.as_deref(), &error, state.issuer.as_str())).into_response()
        }
        Err(AuthorizeError::Page(title, message)) => PageError {
            status: StatusCode::BAD_REQUEST,
            title,
            message,
            hint: Some("Go back to the application and try again, or tell its administrator about this page."),
            action: None,
        }
        .into_response(),
        Err(AuthorizeError::Failed) => PageError::failed("authorization request").into_response(),
    }
}

fn consent_page(
    state: &AppState,
    jar: CookieJar,
    request_id: &str,
    client: &str,
    email: &str,
    scopes: &Scopes,
) -> Result<Response, PageError> {
    let (jar, csrf) = csrf::token(jar, state.cookies);
    let view = ConsentView {
        title: "Allow access?",
        client,
        email,
        request: request_id,
        csrf: &csrf,
        items: scopes.iter().map(|s| describe(s, client)).collect(),
    };
    Ok((jar, html(state, StatusCode::OK, "consent.html", &view)?).into_response())
}

fn bad_request_page(message: String) -> Response {
    PageError {
        status: StatusCode::BAD_REQUEST,
        title: "This sign-in request cannot be completed",
        message,
        hint: Some(
            "Go back to the application and try again, or tell its administrator about this page.",
        ),
        action: None,
    }
    .into_response()
}

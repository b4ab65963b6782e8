//! The UserInfo endpoint (OpenID Connect Core §5.3): a Bearer access token in the
//! `Authorization` header, or in a POST form body (RFC 6750 §2.2); never in the query.

use axum::extract::rejection::FormRejection;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;

use super::oauth_response::{bearer_error, no_store_json, single_valued};
use crate::state::AppState;
use latchkey_oidc::OAuthError;

fn header_token(headers: &HeaderMap) -> Result<Option<String>, OAuthError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| OAuthError::invalid_request("the Authorization header is not readable"))?;
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(Some(token.trim().to_owned()))
        }
        _ => Err(OAuthError::invalid_request(
            "the Authorization header must be: Bearer <access token>",
        )),
    }
}

async fn answer(state: &AppState, token: Result<Option<String>, OAuthError>) -> Response {
    let token = match token {
        Ok(Some(token)) => token,
        Ok(None) => return bearer_error(None),
        Err(error) => return bearer_error(Some(error)),
    };
    match state.provider.userinfo(&token, state.now()).await {
        Ok(claims) => no_store_json(StatusCode::OK, &claims),
        Err(error) => bearer_error(Some(error)),
    }
}

/// `GET /userinfo`.
pub(super) async fn userinfo_get(State(state): State<AppState>, headers: HeaderMap) -> Response {
    answer(&state, header_token(&headers)).await
}

/// `POST /userinfo`.
pub(super) async fn userinfo_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Response {
    let from_body = match body {
        Ok(Form(pairs)) => single_valued(pairs).map(|mut p| p.remove("access_token")),
        Err(_) => Ok(None),
    };
    let token = match (header_token(&headers), from_body) {
        (Ok(Some(_)), Ok(Some(_))) => Err(OAuthError::invalid_request(
            "send the access token once, not in both the header and the body",
        )),
        (Ok(None), body) => body,
        (header, _) => header,
    };
    answer(&state, token).await
}

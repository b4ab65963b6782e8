//! OAuth errors and token responses as HTTP: JSON bodies with `Cache-Control: no-store`
//! (RFC 6749 §5.1), the status each error code calls for, and `WWW-Authenticate` where
//! RFC 6749 §5.2 and RFC 6750 §3 require it.

use std::collections::HashMap;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use latchkey_oidc::{ErrorCode, OAuthError};

/// A JSON answer that must never be cached: it carries tokens or says something about them.
pub(super) fn no_store_json(status: StatusCode, body: &impl Serialize) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (
            status,
            [
                (header::CONTENT_TYPE, "application/json"),
                (header::CACHE_CONTROL, "no-store"),
                (header::PRAGMA, "no-cache"),
            ],
            bytes,
        )
            .into_response(),
        Err(error) => oauth_error(OAuthError::internal(error)),
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    error_description: &'a str,
}

/// An error from the token, introspection or revocation endpoint.
pub(super) fn oauth_error(error: OAuthError) -> Response {
    let status = match error.code {
        ErrorCode::InvalidClient => StatusCode::UNAUTHORIZED,
        ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_REQUEST,
    };
    let mut response = no_store_json(
        status,
        &ErrorBody {
            error: error.code.as_str(),
            error_description: &error.description,
        },
    );
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"latchkey\""),
        );
    }
    response
}

/// An error from a resource endpoint (userinfo), in the Bearer scheme's form.
pub(super) fn bearer_error(error: Option<OAuthError>) -> Response {
    let Some(error) = error else {
        // No token at all: a bare challenge, no error code (RFC 6750 §3.1).
        return (
            StatusCode::UNAUTHORIZED,
            [
                (header::WWW_AUTHENTICATE, "Bearer realm=\"latchkey\""),
                (header::CACHE_CONTROL, "no-store"),
            ],
        )
            .into_response();
    };
    let status = match error.code {
        ErrorCode::InsufficientScope => StatusCode::FORBIDDEN,
        ErrorCode::InvalidRequest => StatusCode::BAD_REQUEST,
        ErrorCode::ServerError => return oauth_error(error),
        _ => StatusCode::UNAUTHORIZED,
    };
    // The description goes in the body; quotes and backslashes would break the header.
    let challenge = format!(
        "Bearer realm=\"latchkey\", error=\"{}\"",
        error.code.as_str()
    );
    let mut response = no_store_json(
        status,
        &ErrorBody {
            error: error.code.as_str(),
            error_description: &error.description,
        },
    );
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

/// Request parameters, each at most once (RFC 6749 §3.1, §3.2).
pub(super) fn single_valued(
    pairs: Vec<(String, String)>,
) -> Result<HashMap<String, String>, OAuthError> {
    let mut params = HashMap::with_capacity(pairs.len());
    for (name, value) in pairs {
        if params.contains_key(&name) && name == "resource" {
            // RFC 8707 §2 lets a client name several; a token here is for one resource.
            return Err(OAuthError::invalid_target(
                "a token is issued for one resource at a time: send resource once",
            ));
        }
        if params.contains_key(&name) {
            return Err(OAuthError::invalid_request(format!(
                "the parameter {name} is given more than once"
            )));
        }
        params.insert(name, value);
    }
    Ok(params)
}

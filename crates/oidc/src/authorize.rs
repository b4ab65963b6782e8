//! The authorization request (RFC 6749 §4.1.1, OpenID Connect Core §3.1.2.1): checked once,
//! then kept server-side while the person signs in and consents, so the magic link can
//! continue it in whichever browser opens it.

use serde::{Deserialize, Serialize};
use url::Url;

use super::client::{Client, GrantType};
use super::error::OAuthError;
use super::pkce;
use super::redirect;
use super::scope::{OPENID, Scopes};

/// The parameters as they arrive, in the query (GET) or the form (POST).
#[derive(Debug, Default, Deserialize)]
pub struct AuthorizeParams {
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub response_type: Option<String>,
    pub response_mode: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub prompt: Option<String>,
    pub max_age: Option<String>,
    pub login_hint: Option<String>,
    pub id_token_hint: Option<String>,
    pub request: Option<String>,
    pub request_uri: Option<String>,
    /// RFC 8707: the resource server the access token is for.
    pub resource: Option<String>,
}

/// A request that passed every check, as it is stored while it waits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizationRequest {
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub prompt: Prompt,
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
    /// The token in `id_token_hint`, as it arrived: the provider verifies it at once and
    /// keeps only its subject, so a waiting request stores a few bytes, not the token.
    #[serde(skip)]
    pub id_token_hint: Option<String>,
    /// The person `id_token_hint` names, checked against whoever signs in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hinted_subject: Option<String>,
    /// RFC 8707: the resource server the access token is for (checked by the provider).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
}

/// The `prompt` values (Core §3.1.2.1). `select_account` is accepted and means nothing here:
/// a browser holds one session.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prompt {
    pub none: bool,
    pub login: bool,
    pub consent: bool,
}

/// Why a request failed: before the redirect URI is trusted, only a page may say so;
/// after, the client hears it at its redirect URI.
#[derive(Debug)]
pub enum AuthorizeError {
    /// The client or redirect URI is unknown: never redirect.
    Page(&'static str, String),
    Redirect {
        redirect_uri: String,
        state: Option<String>,
        error: OAuthError,
    },
    /// Our failure (logged where it happened).
    Failed,
}

const LONGEST_STATE: usize = 2048;
const LONGEST_NONCE: usize = 512;
const LONGEST_HINT: usize = 320;
/// The longest resource identifier registered (RFC 8707).
const LONGEST_RESOURCE: usize = 512;
/// An ID token is a few hundred bytes; a longer hint is not one, and is not stored.
const LONGEST_ID_TOKEN_HINT: usize = 8192;
/// `max_age` beyond ten years means "any sign-in will do"; larger values are capped.
const LONGEST_MAX_AGE: i64 = 10 * 365 * 86_400;

/// Checks that the client and redirect URI are registered; errors here are shown, never
/// redirected (RFC 6749 §4.1.2.1).
pub fn check_client_and_redirect(
    params: &AuthorizeParams,
    client: Option<&Client>,
) -> Result<String, AuthorizeError> {
    let Some(client) = client else {
        return Err(AuthorizeError::Page(
            "Unknown application",
            "The application that sent you here is not registered with this sign-in service, so you were not sent back to it.".into(),
        ));
    };
    let Some(redirect_uri) = params.redirect_uri.as_deref() else {
        return Err(AuthorizeError::Page(
            "The sign-in request is incomplete",
            format!(
                "{} did not say where to return you after signing in (redirect_uri is missing).",
                client.name
            ),
        ));
    };
    if !redirect::matches(&client.redirect_uris, redirect_uri, client.is_public()) {
        return Err(AuthorizeError::Page(
            "The return address is not registered",
            format!(
                "{} asked to send you to an address it has not registered, so you were not sent there.",
                client.name
            ),
        ));
    }
    Ok(redirect_uri.to_owned())
}

/// Checks everything else; failures go back to the client's redirect URI.
pub fn check_request(
    params: AuthorizeParams,
    client: &Client,
    redirect_uri: String,
) -> Result<AuthorizationRequest, AuthorizeError> {
    let state = params.state.clone().filter(|s| !s.is_empty());
    if state.as_ref().is_some_and(|s| s.len() > LONGEST_STATE) {
        return Err(AuthorizeError::Redirect {
            redirect_uri,
            state: None,
            error: OAuthError::invalid_request("state is longer than 2048 characters"),
        });
    }
    checked(params, client, redirect_uri.clone(), state.clone()).map_err(|error| {
        AuthorizeError::Redirect {
            redirect_uri,
            state,
            error,
        }
    })
}

/// The request, with every parameter checked.
fn checked(
    params: AuthorizeParams,
    client: &Client,
    redirect_uri: String,
    state: Option<String>,
) -> Result<AuthorizationRequest, OAuthError> {
    check_response(&params)?;
    if !client.allows(GrantType::AuthorizationCode) {
        return Err(OAuthError::unauthorized_client(
            "this client is not allowed the authorization code flow",
        ));
    }
    let scope = requested_scopes(params.scope.as_deref(), client)?;
    let code_challenge = code_challenge(
        params.code_challenge,
        params.code_challenge_method.as_deref(),
        client.require_pkce,
    )?;
    let prompt = parse_prompt(params.prompt.as_deref())?;
    let max_age = parse_max_age(params.max_age.as_deref())?;
    let nonce = params.nonce.filter(|n| !n.is_empty());
    if nonce.as_ref().is_some_and(|n| n.len() > LONGEST_NONCE) {
        return Err(OAuthError::invalid_request(
            "nonce is longer than 512 characters",
        ));
    }
    if params
        .id_token_hint
        .as_ref()
        .is_some_and(|h| h.len() > LONGEST_ID_TOKEN_HINT)
    {
        return Err(OAuthError::invalid_request(
            "id_token_hint is too long to be an ID token",
        ));
    }
    let resource = params.resource.filter(|r| !r.is_empty());
    if resource
        .as_ref()
        .is_some_and(|r| r.len() > LONGEST_RESOURCE)
    {
        return Err(OAuthError::invalid_target(
            "resource is longer than 512 characters",
        ));
    }
    let login_hint = params
        .login_hint
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty() && h.len() <= LONGEST_HINT);
    Ok(AuthorizationRequest {
        client_id: client.id.to_string(),
        redirect_uri,
        scope: scope.to_string(),
        state,
        nonce,
        code_challenge,
        prompt,
        max_age,
        login_hint,
        id_token_hint: params.id_token_hint.filter(|h| !h.is_empty()),
        hinted_subject: None,
        resource,
    })
}

/// Only the authorization code flow, answered in the query, with its parameters in the query.
fn check_response(params: &AuthorizeParams) -> Result<(), OAuthError> {
    if params.request.is_some() {
        return Err(OAuthError::request_not_supported(
            "request objects are not supported; send the parameters in the query",
        ));
    }
    if params.request_uri.is_some() {
        return Err(OAuthError::request_uri_not_supported(
            "request_uri is not supported; send the parameters in the query",
        ));
    }
    match params.response_type.as_deref() {
        Some("code") => {}
        None => return Err(OAuthError::invalid_request("response_type is missing")),
        Some(other) => {
            return Err(OAuthError::unsupported_response_type(format!(
                "response_type {other:?} is not supported; use code (implicit and hybrid flows are not offered)"
            )));
        }
    }
    match params.response_mode.as_deref() {
        None | Some("query") => Ok(()),
        Some(mode) => Err(OAuthError::invalid_request(format!(
            "response_mode {mode:?} is not supported; use query"
        ))),
    }
}

/// The scopes asked for: at least one, and each one the client is allowed.
fn requested_scopes(raw: Option<&str>, client: &Client) -> Result<Scopes, OAuthError> {
    let scope = Scopes::parse(raw.unwrap_or_default())
        .map_err(|e| OAuthError::invalid_scope(e.to_string()))?;
    if scope.is_empty() {
        return Err(OAuthError::invalid_scope(
            "scope is missing; ask for at least openid",
        ));
    }
    if let Some(extra) = scope.not_in(&client.scopes).next() {
        return Err(OAuthError::invalid_scope(format!(
            "this client is not allowed the scope {extra:?}"
        )));
    }
    Ok(scope)
}

/// PKCE: S256 only; required of clients that cannot keep a secret.
fn code_challenge(
    challenge: Option<String>,
    method: Option<&str>,
    required: bool,
) -> Result<Option<String>, OAuthError> {
    match (challenge, method) {
        (Some(challenge), Some("S256")) if pkce::valid_challenge(&challenge) => Ok(Some(challenge)),
        (Some(_), Some("S256")) => Err(OAuthError::invalid_request(
            "code_challenge must be the base64url SHA-256 of the verifier (43 characters)",
        )),
        (Some(_), _) => Err(OAuthError::invalid_request(
            "code_challenge_method must be S256; plain is not accepted",
        )),
        (None, Some(_)) => Err(OAuthError::invalid_request("code_challenge is missing")),
        (None, None) if required => Err(OAuthError::invalid_request(
            "this client must use PKCE: send code_challenge and code_challenge_method=S256",
        )),
        (None, None) => Ok(None),
    }
}

fn parse_max_age(raw: Option<&str>) -> Result<Option<i64>, OAuthError> {
    match raw {
        None | Some("") => Ok(None),
        Some(raw) => raw
            .parse::<i64>()
            .ok()
            .filter(|age| *age >= 0)
            .map(|age| Some(age.min(LONGEST_MAX_AGE)))
            .ok_or_else(|| {
                OAuthError::invalid_request("max_age must be a whole number of seconds")
            }),
    }
}

fn parse_prompt(raw: Option<&str>) -> Result<Prompt, OAuthError> {
    let mut prompt = Prompt::default();
    let mut others = false;
    for value in raw.unwrap_or_default().split(' ').filter(|v| !v.is_empty()) {
        match value {
            "none" => prompt.none = true,
            "login" => prompt.login = true,
            "consent" => prompt.consent = true,
            "select_account" => {}
            other => {
                return Err(OAuthError::invalid_request(format!(
                    "unknown prompt value {other:?}"
                )));
            }
        }
        others |= value != "none";
    }
    if prompt.none && others {
        return Err(OAuthError::invalid_request(
            "prompt=none cannot be combined with other values",
        ));
    }
    Ok(prompt)
}

impl AuthorizationRequest {
    pub fn scopes(&self) -> Scopes {
        Scopes::parse(&self.scope).unwrap_or_default()
    }

    pub fn is_openid(&self) -> bool {
        self.scopes().contains(OPENID)
    }
}

/// The client's redirect URI with the response parameters added, `iss` always (RFC 9207).
pub fn response_url(redirect_uri: &str, params: &[(&str, &str)]) -> String {
    match Url::parse(redirect_uri) {
        Ok(mut url) => {
            url.query_pairs_mut().extend_pairs(params);
            url.into()
        }
        // Registered URIs were parsed at registration; this cannot happen, but never panic.
        Err(_) => redirect_uri.to_owned(),
    }
}

/// An error response at the redirect URI.
pub fn error_url(
    redirect_uri: &str,
    state: Option<&str>,
    error: &OAuthError,
    issuer: &str,
) -> String {
    let mut params = vec![
        ("error", error.code.as_str()),
        ("error_description", error.description.as_str()),
    ];
    if let Some(state) = state {
        params.push(("state", state));
    }
    params.push(("iss", issuer));
    response_url(redirect_uri, &params)
}

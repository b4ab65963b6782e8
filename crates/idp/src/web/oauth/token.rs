//! The token endpoint (RFC 6749 §3.2), revocation (RFC 7009) and introspection (RFC 7662):
//! each authenticates the client first, then calls the provider.

use std::collections::HashMap;

use axum::extract::rejection::FormRejection;
use axum::extract::{Form, FromRequest, MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::oauth_response::{no_store_json, oauth_error, single_valued};
use crate::state::AppState;
use latchkey_oidc::{Client, Endpoint, OAuthError, Presented, TokenRequest};

type Params = HashMap<String, String>;

/// Reads the form body, refusing repeated parameters and other content types.
fn params(body: Result<Form<Vec<(String, String)>>, FormRejection>) -> Result<Params, OAuthError> {
    let Form(pairs) = body.map_err(|e| {
        OAuthError::invalid_request(format!(
            "the body must be application/x-www-form-urlencoded ({e})"
        ))
    })?;
    single_valued(pairs)
}

/// The client the request to `endpoint` authenticates as.
async fn client(
    state: &AppState,
    endpoint: Endpoint,
    authorization: Option<&HeaderValue>,
    params: &mut Params,
) -> Result<std::sync::Arc<Client>, OAuthError> {
    let basic = match authorization {
        Some(value) => Some(Presented::parse_basic(value.to_str().map_err(|_| {
            OAuthError::invalid_client("the Authorization header is not valid Basic credentials")
        })?)?),
        None => None,
    };
    let presented = Presented {
        basic,
        client_id: params.remove("client_id"),
        client_secret: params.remove("client_secret"),
        assertion_type: params.remove("client_assertion_type"),
        assertion: params.remove("client_assertion"),
    };
    state
        .provider
        .authenticator()
        .authenticate(presented, endpoint, state.now())
        .await
}

/// A request from an authenticated client: the form read once (each parameter at most once),
/// the client authenticated by the method it registered, and the rest of the form. Any
/// failure is the OAuth error the endpoints answer with.
pub(super) struct ClientRequest {
    client: std::sync::Arc<Client>,
    params: Params,
}

impl FromRequest<AppState> for ClientRequest {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let authorization = request.headers().get(header::AUTHORIZATION).cloned();
        // Which endpoint the client authenticates at decides what its assertion may name.
        let endpoint = request
            .extensions()
            .get::<MatchedPath>()
            .and_then(|path| Endpoint::at_path(path.as_str()));
        let body = Form::<Vec<(String, String)>>::from_request(request, state).await;
        let read = async {
            let endpoint = endpoint.ok_or_else(|| {
                OAuthError::internal("client authentication on a route that is not an endpoint")
            })?;
            let mut params = params(body)?;
            let client = client(state, endpoint, authorization.as_ref(), &mut params).await?;
            Ok(Self { client, params })
        };
        read.await.map_err(oauth_error)
    }
}

/// `POST /token`.
pub(super) async fn token(
    State(state): State<AppState>,
    ClientRequest { client, params }: ClientRequest,
) -> Response {
    let answer = match TokenRequest::parse(params) {
        Ok(request) => state.provider.token(&client, request, state.now()).await,
        Err(error) => Err(error),
    };
    match answer {
        Ok(tokens) => no_store_json(StatusCode::OK, &tokens),
        Err(error) => oauth_error(error),
    }
}

/// `POST /revoke` (RFC 7009): 200 whether or not the token was valid.
pub(super) async fn revoke(
    State(state): State<AppState>,
    ClientRequest { client, params }: ClientRequest,
) -> Response {
    let result = async {
        let token = params
            .get("token")
            .ok_or_else(|| OAuthError::invalid_request("token is missing"))?;
        state.provider.revoke(&client, token, state.now()).await
    }
    .await;
    match result {
        Ok(()) => (StatusCode::OK, [(header::CACHE_CONTROL, "no-store")]).into_response(),
        Err(error) => oauth_error(error),
    }
}

/// `POST /introspect` (RFC 7662): only clients that can authenticate may ask.
pub(super) async fn introspect(
    State(state): State<AppState>,
    ClientRequest { client, params }: ClientRequest,
) -> Response {
    let result = async {
        if client.is_public() {
            return Err(OAuthError::unauthorized_client(
                "public clients cannot introspect tokens",
            ));
        }
        let token = params
            .get("token")
            .ok_or_else(|| OAuthError::invalid_request("token is missing"))?;
        state.provider.introspect(&client, token, state.now()).await
    }
    .await;
    match result {
        Ok(answer) => no_store_json(StatusCode::OK, &answer),
        Err(error) => oauth_error(error),
    }
}

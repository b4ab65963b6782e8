use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::state::AppState;

/// `GET /.well-known/jwks.json`: the published keys, from memory, with an entity tag so caches
/// revalidate cheaply. `max-age` is the period within which every replica picks up a rotation.
pub(super) async fn jwks(State(state): State<AppState>, request_headers: HeaderMap) -> Response {
    let ring = state.keys.load();
    let jwks = ring.jwks();
    let etag =
        HeaderValue::from_str(&jwks.etag).unwrap_or_else(|_| HeaderValue::from_static("\"\""));
    let not_modified = request_headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| {
            tags.split(',')
                .any(|tag| tag.trim() == &*jwks.etag || tag.trim() == "*")
        });
    let headers = [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/jwk-set+json"),
        ),
        (header::CACHE_CONTROL, state.jwks_cache_control.clone()),
        (header::ETAG, etag),
    ];
    if not_modified {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    (headers, Bytes::from_owner(jwks.json.clone())).into_response()
}

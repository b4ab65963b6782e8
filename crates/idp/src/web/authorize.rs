use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::error::PageError;
use crate::state::AppState;

#[derive(Deserialize)]
pub(super) struct AuthorizeQuery {
    client_id: Option<String>,
}

/// `GET /authorize`. No client is registered with this provider yet, so every request names
/// an unknown client; as OpenID Connect Core §3.1.2.6 requires, that is an error page and
/// never a redirect to an unverified redirect URI.
pub(super) async fn authorize(
    State(state): State<AppState>,
    Query(query): Query<AuthorizeQuery>,
) -> Response {
    let message = match query.client_id.as_deref() {
        None | Some("") => "The sign-in request does not say which application it comes from (client_id is missing).".to_owned(),
        Some(_) => "The application that sent you here is not registered with this provider.".to_owned(),
    };
    PageError {
        status: StatusCode::BAD_REQUEST,
        title: "This sign-in request cannot be completed",
        message,
        hint: Some(
            "Go back to the application and try again, or tell its administrator about this page.",
        ),
        action: None,
    }
    .render(&state)
}

//! Rendering a page: a template and its view, never cached.

use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use crate::state::AppState;
use crate::web::error::PageError;

/// What a page handler answers.
pub(super) type PageResult = Result<Response, PageError>;

/// Renders `template` with `view`, with `Cache-Control: no-store`: pages carry form tokens
/// and personal details.
/// A form's status: 422 when it is shown again with an error, so tools see the refusal.
pub(super) fn form_status(error: Option<&str>) -> StatusCode {
    if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    }
}

pub(super) fn html(
    state: &AppState,
    status: StatusCode,
    template: &str,
    view: &impl serde::Serialize,
) -> PageResult {
    let page = state
        .pages
        .render(template, view)
        .map_err(PageError::internal)?;
    Ok((status, [(header::CACHE_CONTROL, "no-store")], Html(page)).into_response())
}

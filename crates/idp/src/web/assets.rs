use axum::http::header;
use axum::response::IntoResponse;

use crate::pages::STYLESHEET;

/// `GET /assets/latchkey.css`: the one stylesheet, embedded in the binary.
pub(super) async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        STYLESHEET,
    )
}

/// The application page's copy buttons, embedded as the stylesheet is.
const COPY_SCRIPT: &str = include_str!("../../../../templates/assets/copy.js");

/// `GET /assets/copy.js`.
pub(super) async fn copy_script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        COPY_SCRIPT,
    )
}

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

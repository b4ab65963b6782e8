//! Which responses other sites may frame. By default none (`frame-ancestors 'none'`). A
//! session an integration opened inside its frame (`/sso/jwt`) lets the issuer's configured
//! origins frame that session's pages, and only while they are framed: the same pages opened
//! top-level say `'none'` still.

use std::sync::{Arc, OnceLock};

use axum::http::{HeaderMap, HeaderName};

const SEC_FETCH_DEST: HeaderName = HeaderName::from_static("sec-fetch-dest");

/// The origins a handler lets frame its response, set at most once per request. The security
/// headers layer puts one in every request and reads it back from the response's request.
#[derive(Clone, Default)]
pub(crate) struct FramePermit(Arc<OnceLock<String>>);

impl FramePermit {
    /// Lets `origins` (space-separated origins, as stored) frame this response.
    pub(crate) fn allow(&self, origins: &str) {
        if !origins.trim().is_empty() {
            let _ = self.0.set(origins.trim().to_owned());
        }
    }

    pub(crate) fn origins(&self) -> Option<&str> {
        self.0.get().map(String::as_str)
    }
}

/// Whether the request may come from inside a frame. Browsers say `Sec-Fetch-Dest: iframe`
/// (or `frame`) there and `document` top-level; one that says nothing is given the benefit of
/// the doubt, which lets only the issuer's own origins frame the page.
pub(crate) fn maybe_framed(headers: &HeaderMap) -> bool {
    match headers.get(SEC_FETCH_DEST).map(|v| v.as_bytes()) {
        Some(b"iframe" | b"frame") | None => true,
        Some(_) => false,
    }
}

/// Whether the browser says the request comes from inside a frame.
pub(crate) fn framed(headers: &HeaderMap) -> bool {
    matches!(
        headers.get(SEC_FETCH_DEST).map(|v| v.as_bytes()),
        Some(b"iframe" | b"frame")
    )
}

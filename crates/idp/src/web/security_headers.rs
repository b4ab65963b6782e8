use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

use crate::web::framing::FramePermit;

/// Pages load only the provider's own stylesheet, run no script and cannot be framed. There
/// is no `form-action 'self'`: browsers apply it to the redirects that follow a form, and the
/// consent and sign-in forms end in a redirect to the client's registered redirect URI.
const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Adds the security headers to every response, unless a handler chose its own; HSTS only
/// when the issuer is https. A response a handler let some origins frame (see `framing`)
/// names them in `frame-ancestors` and sends no `X-Frame-Options`, which cannot name them.
pub(super) async fn add(State(https): State<bool>, mut request: Request, next: Next) -> Response {
    let permit = FramePermit::default();
    request.extensions_mut().insert(permit.clone());
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let framable = permit.origins().and_then(|origins| {
        HeaderValue::from_str(&format!(
            "default-src 'none'; style-src 'self'; img-src 'self'; frame-ancestors {origins}; base-uri 'none'"
        ))
        .ok()
    });
    match framable {
        Some(policy) => {
            headers.insert(header::CONTENT_SECURITY_POLICY, policy);
            headers.remove(header::X_FRAME_OPTIONS);
        }
        None => {
            headers
                .entry(header::X_FRAME_OPTIONS)
                .or_insert(HeaderValue::from_static("DENY"));
            headers
                .entry(header::CONTENT_SECURITY_POLICY)
                .or_insert(HeaderValue::from_static(CONTENT_SECURITY_POLICY));
        }
    }
    let defaults = [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        // Not `no-referrer`: under it browsers send `Origin: null` with every form, which
        // cannot be told from a sandboxed attacker (see `csrf`). `same-origin` still sends no
        // URL to any other site, so a magic link in the confirm page's URL stays here.
        (header::REFERRER_POLICY, "same-origin"),
    ];
    for (name, value) in defaults {
        headers
            .entry(name)
            .or_insert(HeaderValue::from_static(value));
    }
    if https {
        headers
            .entry(header::STRICT_TRANSPORT_SECURITY)
            .or_insert(HeaderValue::from_static(
                "max-age=31536000; includeSubDomains",
            ));
    }
    response
}

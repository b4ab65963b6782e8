//! CSRF protection for every form. Two independent checks must both pass:
//!
//! 1. **Where the request comes from.** Real browsers say so in headers a page cannot forge:
//!    - `Sec-Fetch-Site` (Fetch Metadata; every current engine sends it on every request) is the
//!      signal. `same-origin` and `none` (the person typed or bookmarked the URL) pass;
//!      `same-site` and `cross-site` are refused: a sibling subdomain is another party.
//!    - `Origin` is checked only when it names an origin, which must then be the provider's.
//!    - `Origin: null` is what the Fetch standard sends when the page's referrer policy is
//!      `no-referrer`, and also from sandboxed frames and `data:` pages. On its own it says
//!      nothing about the sender, so it is never accepted alone: it passes only beside
//!      `Sec-Fetch-Site: same-origin`.
//!    - An old browser that sends neither header is let through to the token check: it is no
//!      weaker than the token, and refusing it would lock such people out.
//! 2. **The double-submit token**: a random value in an `HttpOnly; SameSite=Lax` cookie that the
//!    form repeats in a hidden field, compared in constant time. Another site can neither read
//!    the cookie nor, with `SameSite=Lax`, make a cross-site POST carry it.
//!
//! Pages are served with `Referrer-Policy: same-origin` (see `security_headers`), so a form
//! posted to the provider carries its real `Origin`, while nothing leaves for another site: the
//! confirm page's URL holds a magic link, and only the provider itself ever sees it as a
//! referrer.

use axum::http::{HeaderMap, HeaderName, StatusCode, header};
use axum_extra::extract::CookieJar;

use crate::web::cookies::{CookiePolicy, Jar};
use crate::web::error::PageError;
use latchkey_core::Issuer;
use latchkey_core::secret::{SecretToken, constant_time_eq};

const SEC_FETCH_SITE: HeaderName = HeaderName::from_static("sec-fetch-site");

/// The form token for this browser, made (and set in the returned jar) if it has none yet.
pub(crate) fn token(jar: CookieJar, policy: CookiePolicy) -> (CookieJar, String) {
    if let Some(existing) = jar
        .get(policy.name(Jar::Csrf))
        .and_then(|c| SecretToken::from_client(c.value()))
    {
        return (jar, existing.expose().to_owned());
    }
    let fresh = SecretToken::generate();
    let value = fresh.expose().to_owned();
    (jar.add(policy.make(Jar::Csrf, value.clone())), value)
}

/// What the browser's headers say about where a form was sent from.
#[derive(Debug, PartialEq, Eq)]
enum Sender {
    /// The provider's own pages, or the person themselves (address bar, bookmark).
    OwnPages,
    /// Another site, or a sibling on the same site.
    Elsewhere,
    /// `Origin: null` with nothing else to go on.
    Unknown,
    /// A browser that predates both headers: only the token can tell.
    Silent,
}

fn sender(headers: &HeaderMap, issuer: &Issuer) -> Sender {
    let fetch_site = headers.get(SEC_FETCH_SITE).map(|v| v.as_bytes());
    let origin = headers.get(header::ORIGIN).map(|v| v.as_bytes());
    let named_origin = origin.filter(|o| *o != b"null");
    if let Some(named) = named_origin
        && !std::str::from_utf8(named).is_ok_and(|o| issuer.same_origin(o))
    {
        return Sender::Elsewhere;
    }
    match fetch_site {
        Some(b"same-origin" | b"none") => Sender::OwnPages,
        Some(_) => Sender::Elsewhere,
        None if named_origin.is_some() => Sender::OwnPages,
        None if origin.is_some() => Sender::Unknown,
        None => Sender::Silent,
    }
}

/// Refuses a state-changing request whose token does not match its cookie, or that another
/// site sent.
pub(crate) fn check(
    jar: &CookieJar,
    headers: &HeaderMap,
    submitted: &str,
    policy: CookiePolicy,
    issuer: &Issuer,
) -> Result<(), PageError> {
    let sender = sender(headers, issuer);
    let sender_ok = matches!(sender, Sender::OwnPages | Sender::Silent);
    let token_ok = jar
        .get(policy.name(Jar::Csrf))
        .is_some_and(|cookie| !submitted.is_empty() && constant_time_eq(cookie.value(), submitted));
    if sender_ok && token_ok {
        return Ok(());
    }
    tracing::warn!(?sender, token_ok, "form refused by the CSRF check");
    Err(PageError {
        status: StatusCode::FORBIDDEN,
        title: "This form has expired",
        message: "For your safety the form could not be accepted: it was sent from another site, or the page was open too long.".into(),
        hint: Some("Go back, reload the page and try again."),
        action: Some((latchkey_core::urls::LOGIN, "Start again")),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use axum::http::HeaderValue;
    use axum_extra::extract::cookie::Cookie;

    const ISSUER: &str = "https://id.example.com";
    const POLICY: CookiePolicy = CookiePolicy {
        secure: true,
        framable: true,
    };

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    fn with_cookie(value: &str) -> CookieJar {
        CookieJar::new().add(Cookie::new(POLICY.name(Jar::Csrf), value.to_owned()))
    }

    fn passes(pairs: &[(&'static str, &'static str)]) -> bool {
        let issuer = Issuer::parse(ISSUER).unwrap();
        check(&with_cookie("tok"), &headers(pairs), "tok", POLICY, &issuer).is_ok()
    }

    #[test]
    fn a_form_from_the_providers_own_page_passes() {
        assert!(passes(&[
            ("sec-fetch-site", "same-origin"),
            ("origin", ISSUER)
        ]));
    }

    #[test]
    fn a_form_sent_by_another_site_is_refused() {
        assert!(!passes(&[
            ("sec-fetch-site", "cross-site"),
            ("origin", "https://evil.example")
        ]));
        assert!(!passes(&[("sec-fetch-site", "cross-site")]));
        assert!(!passes(&[("origin", "https://evil.example")]));
    }

    #[test]
    fn a_sibling_subdomain_is_another_party() {
        assert!(!passes(&[
            ("sec-fetch-site", "same-site"),
            ("origin", "https://app.example.com")
        ]));
    }

    #[test]
    fn origin_null_passes_only_beside_same_origin_fetch_metadata() {
        assert!(passes(&[
            ("sec-fetch-site", "same-origin"),
            ("origin", "null")
        ]));
        assert!(!passes(&[("origin", "null")]));
        assert!(!passes(&[
            ("sec-fetch-site", "cross-site"),
            ("origin", "null")
        ]));
    }

    #[test]
    fn an_origin_that_contradicts_fetch_metadata_is_refused() {
        assert!(!passes(&[
            ("sec-fetch-site", "same-origin"),
            ("origin", "https://evil.example")
        ]));
    }

    #[test]
    fn an_old_browser_that_sends_neither_header_relies_on_the_token() {
        let issuer = Issuer::parse(ISSUER).unwrap();
        let jar = with_cookie("tok");
        assert!(check(&jar, &HeaderMap::new(), "tok", POLICY, &issuer).is_ok());
        assert!(check(&jar, &HeaderMap::new(), "other", POLICY, &issuer).is_err());
        assert!(check(&jar, &HeaderMap::new(), "", POLICY, &issuer).is_err());
        assert!(check(&CookieJar::new(), &HeaderMap::new(), "tok", POLICY, &issuer).is_err());
    }

    #[test]
    fn the_token_is_required_even_from_the_providers_own_page() {
        let issuer = Issuer::parse(ISSUER).unwrap();
        let own = headers(&[("sec-fetch-site", "same-origin"), ("origin", ISSUER)]);
        assert!(check(&with_cookie("tok"), &own, "forged", POLICY, &issuer).is_err());
        assert!(check(&CookieJar::new(), &own, "tok", POLICY, &issuer).is_err());
    }
}

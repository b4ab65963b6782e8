//! CSRF protection for every form: a double-submit token (a cookie and a hidden field that must
//! match) and, when the browser sends one, an `Origin` that must be the provider's own.

use axum::http::{HeaderMap, StatusCode, header};
use axum_extra::extract::CookieJar;

use super::cookies::{CookiePolicy, Jar};
use super::error::PageError;
use crate::issuer::Issuer;
use crate::secret::{SecretToken, constant_time_eq};

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

/// Refuses a state-changing request whose token does not match its cookie, or that comes
/// from another origin.
pub(crate) fn check(
    jar: &CookieJar,
    headers: &HeaderMap,
    submitted: &str,
    policy: CookiePolicy,
    issuer: &Issuer,
) -> Result<(), PageError> {
    let origin_ok = match headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) {
        None => true,
        Some(origin) => issuer.same_origin(origin),
    };
    let token_ok = jar
        .get(policy.name(Jar::Csrf))
        .is_some_and(|cookie| !submitted.is_empty() && constant_time_eq(cookie.value(), submitted));
    if origin_ok && token_ok {
        return Ok(());
    }
    tracing::warn!(origin_ok, token_ok, "form refused by the CSRF check");
    Err(PageError {
        status: StatusCode::FORBIDDEN,
        title: "This form has expired",
        message: "For your safety the form could not be accepted: it was sent from another site, or the page was open too long.".into(),
        hint: Some("Go back, reload the page and try again."),
        action: Some(("/login", "Start again")),
    })
}

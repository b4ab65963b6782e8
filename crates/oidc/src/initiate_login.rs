//! An application's login-initiation endpoint (OpenID Connect Core §4): where Latchkey sends
//! a person who opens the application from its side, so that the application starts an
//! ordinary authorization request of its own. Checked once at registration like a redirect
//! URI, and turned into the address a launcher links to.

use latchkey_core::Issuer;
use url::Url;

/// The longest login URI accepted: far above any real one, and a bound on what every page
/// that lists the application carries.
pub const LONGEST_INITIATE_LOGIN_URI: usize = 2048;

/// Why a login URI was refused; each says what to fix.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum InitiateLoginUriError {
    #[error("--initiate-login-uri is longer than {LONGEST_INITIATE_LOGIN_URI} characters")]
    TooLong,
    #[error("--initiate-login-uri {0:?} is not an absolute URL")]
    NotAbsolute(String),
    #[error("--initiate-login-uri {0:?} has a fragment (#…); remove it")]
    Fragment(String),
    #[error(
        "--initiate-login-uri {0:?} must use https; http is allowed only on a loopback address (127.0.0.1, [::1], localhost)"
    )]
    Insecure(String),
}

/// Checks a login URI at registration: an https URL, or http on a loopback address, with no
/// fragment, no credentials and a bounded length.
pub fn parse(raw: &str) -> Result<Url, InitiateLoginUriError> {
    if raw.len() > LONGEST_INITIATE_LOGIN_URI {
        return Err(InitiateLoginUriError::TooLong);
    }
    let url = Url::parse(raw).map_err(|_| InitiateLoginUriError::NotAbsolute(raw.to_owned()))?;
    if url.cannot_be_a_base() || url.host().is_none() {
        return Err(InitiateLoginUriError::NotAbsolute(raw.to_owned()));
    }
    if url.fragment().is_some() {
        return Err(InitiateLoginUriError::Fragment(raw.to_owned()));
    }
    // Credentials in the URL would be shown to every member who can open the application.
    if !url.username().is_empty() || url.password().is_some() {
        return Err(InitiateLoginUriError::NotAbsolute(raw.to_owned()));
    }
    match url.scheme() {
        "https" => Ok(url),
        "http" if crate::redirect::is_loopback(&url) => Ok(url),
        _ => Err(InitiateLoginUriError::Insecure(raw.to_owned())),
    }
}

/// Where a launcher sends the person: the registered URI with `iss` (this provider, so the
/// application knows whom to ask) and, when known, `login_hint` (who is coming) added to
/// whatever query it already has. None if the stored URI no longer parses.
pub fn launch_url(registered: &str, issuer: &Issuer, login_hint: Option<&str>) -> Option<String> {
    let mut url = parse(registered).ok()?;
    {
        let mut query = url.query_pairs_mut();
        query.append_pair("iss", issuer.as_str());
        if let Some(hint) = login_hint {
            query.append_pair("login_hint", hint);
        }
    }
    Some(url.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_and_loopback_http_are_accepted() {
        assert!(parse("https://app.example.com/login").is_ok());
        assert!(parse("https://app.example.com/login?tenant=a").is_ok());
        assert!(parse("http://127.0.0.1:4000/login").is_ok());
        assert!(parse("http://localhost:4000/login").is_ok());
        assert!(parse("http://[::1]:4000/login").is_ok());
    }

    #[test]
    fn a_fragment_http_on_a_public_host_and_a_huge_uri_are_refused() {
        assert_eq!(
            parse("https://app.example.com/login#start"),
            Err(InitiateLoginUriError::Fragment(
                "https://app.example.com/login#start".into()
            ))
        );
        assert_eq!(
            parse("http://app.example.com/login"),
            Err(InitiateLoginUriError::Insecure(
                "http://app.example.com/login".into()
            ))
        );
        let huge = format!("https://app.example.com/{}", "a".repeat(10 * 1024));
        assert_eq!(parse(&huge), Err(InitiateLoginUriError::TooLong));
        assert!(parse("/login").is_err());
        assert!(parse("javascript:alert(1)").is_err());
        assert!(parse("mailto:someone@example.com").is_err());
        assert!(parse("https://user:pw@app.example.com/login").is_err());
    }

    #[test]
    fn the_launch_url_names_the_issuer_and_the_person_encoded() {
        let issuer = Issuer::parse("https://id.example.test").unwrap();
        let url = launch_url(
            "https://app.example.com/login?tenant=a",
            &issuer,
            Some("bo+x@example.com"),
        )
        .unwrap();
        assert_eq!(
            url,
            "https://app.example.com/login?tenant=a&iss=https%3A%2F%2Fid.example.test&login_hint=bo%2Bx%40example.com"
        );
        assert_eq!(launch_url("http://app.example.com/", &issuer, None), None);
    }
}

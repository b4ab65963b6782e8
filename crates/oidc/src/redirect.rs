//! Redirect URIs: registered exactly, matched exactly (RFC 9700 §2.1), except the port of a
//! loopback address for native apps (RFC 8252 §7.3), which pick a free port at run time.

use url::{Host, Url};

#[derive(Debug, thiserror::Error)]
pub enum RedirectUriError {
    #[error("is longer than {0} characters; give the application's exact callback URL")]
    TooLong(usize),
    #[error("{0:?} is not an absolute URI")]
    NotAbsolute(String),
    #[error("{0:?} has a fragment; redirect URIs must not (RFC 6749 §3.1.2)")]
    Fragment(String),
    #[error(
        "{0:?} must use https; http is allowed only for loopback addresses (127.0.0.1, [::1], localhost)"
    )]
    Insecure(String),
    #[error(
        "{0:?} uses a custom scheme; only public (native) clients may, with a reverse domain name such as com.example.app:/callback"
    )]
    CustomScheme(String),
}

/// Checks a redirect URI at registration.
pub fn parse(raw: &str, public_client: bool) -> Result<Url, RedirectUriError> {
    let url = Url::parse(raw).map_err(|_| RedirectUriError::NotAbsolute(raw.to_owned()))?;
    if url.fragment().is_some() {
        return Err(RedirectUriError::Fragment(raw.to_owned()));
    }
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback(&url) => Ok(url),
        "http" => Err(RedirectUriError::Insecure(raw.to_owned())),
        scheme if public_client && scheme.contains('.') => Ok(url),
        _ => Err(RedirectUriError::CustomScheme(raw.to_owned())),
    }
}

pub(crate) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        Some(Host::Domain(domain)) => domain == "localhost",
        None => false,
    }
}

/// Whether `presented` is one of `registered`: the same string, or, for a native client's
/// loopback IP literal, the same URI on another port.
pub fn matches(registered: &[String], presented: &str, public_client: bool) -> bool {
    if registered.iter().any(|r| r == presented) {
        return true;
    }
    if !public_client {
        return false;
    }
    let Ok(asked) = Url::parse(presented) else {
        return false;
    };
    let loopback_ip = |u: &Url| {
        u.scheme() == "http"
            && matches!(u.host(), Some(Host::Ipv4(ip)) if ip.is_loopback())
                | matches!(u.host(), Some(Host::Ipv6(ip)) if ip.is_loopback())
    };
    if !loopback_ip(&asked) {
        return false;
    }
    registered
        .iter()
        .filter_map(|r| Url::parse(r).ok())
        .any(|mut r| {
            loopback_ip(&r) && r.set_port(asked.port()).is_ok() && r.as_str() == asked.as_str()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching_is_exact_but_for_native_loopback_ports() {
        let registered = vec![
            "https://app.example.com/cb".to_owned(),
            "http://127.0.0.1/cb".to_owned(),
        ];
        assert!(matches(&registered, "https://app.example.com/cb", false));
        assert!(!matches(&registered, "https://app.example.com/cb/", false));
        assert!(!matches(
            &registered,
            "https://app.example.com/cb?x=1",
            false
        ));
        assert!(!matches(&registered, "HTTPS://app.example.com/cb", false));
        assert!(matches(&registered, "http://127.0.0.1:53123/cb", true));
        assert!(!matches(&registered, "http://127.0.0.1:53123/cb", false));
        assert!(!matches(&registered, "http://127.0.0.1:53123/other", true));
        assert!(!matches(
            &registered,
            "https://app.example.com:444/cb",
            true
        ));
    }

    #[test]
    fn registration_refuses_insecure_uris() {
        assert!(parse("https://app.example.com/cb", false).is_ok());
        assert!(parse("http://localhost:3000/cb", false).is_ok());
        assert!(parse("http://app.example.com/cb", false).is_err());
        assert!(parse("https://app.example.com/cb#x", false).is_err());
        assert!(parse("com.example.app:/cb", true).is_ok());
        assert!(parse("com.example.app:/cb", false).is_err());
        assert!(parse("/relative", false).is_err());
    }
}

use url::Url;

/// The provider's public base URL: the `iss` of every token, kept exactly as configured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Issuer {
    identifier: String,
    url: Url,
}

/// Why a configured issuer is not usable.
#[derive(Debug, thiserror::Error)]
pub enum IssuerError {
    #[error("{0:?} is not an absolute URL ({1})")]
    NotAUrl(String, url::ParseError),
    #[error("{0:?} must use https (or http for a loopback address in development)")]
    WrongScheme(String),
    #[error("{0:?} must not have a query or a fragment (OpenID Connect Discovery §3)")]
    QueryOrFragment(String),
    #[error(
        "{0:?} uses http for a host other than this machine, so cookies could not be Secure: use https (issuer_insecure_ok = true allows it on a test network)"
    )]
    InsecureHttp(String),
}

impl Issuer {
    /// Parses an issuer identifier: an https URL with no query or fragment, or http on a
    /// loopback address (development).
    pub fn parse(raw: &str) -> Result<Self, IssuerError> {
        let issuer = Self::parse_insecure(raw)?;
        if !issuer.is_https() && !issuer.is_loopback() {
            return Err(IssuerError::InsecureHttp(raw.to_owned()));
        }
        Ok(issuer)
    }

    /// Like [`Issuer::parse`], but takes http for any host (`issuer_insecure_ok`).
    pub fn parse_insecure(raw: &str) -> Result<Self, IssuerError> {
        let url = Url::parse(raw).map_err(|e| IssuerError::NotAUrl(raw.to_owned(), e))?;
        if !matches!(url.scheme(), "https" | "http") || url.host().is_none() {
            return Err(IssuerError::WrongScheme(raw.to_owned()));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(IssuerError::QueryOrFragment(raw.to_owned()));
        }
        Ok(Self {
            identifier: raw.to_owned(),
            url,
        })
    }

    /// The identifier exactly as configured, as it appears in `iss`.
    pub fn as_str(&self) -> &str {
        &self.identifier
    }

    /// The absolute URL of a path served by this provider.
    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{}", self.identifier.trim_end_matches('/'), path)
    }

    /// Whether a browser's `Origin` header names this provider.
    pub fn same_origin(&self, origin: &str) -> bool {
        Url::parse(origin).is_ok_and(|o| o.origin() == self.url.origin())
    }

    /// Whether the host is this machine: a loopback address or `localhost`.
    pub fn is_loopback(&self) -> bool {
        match self.url.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(name)) => name == "localhost",
            None => false,
        }
    }

    /// Whether browsers reach the provider over TLS (cookies then get `Secure`, responses HSTS).
    pub fn is_https(&self) -> bool {
        self.url.scheme() == "https"
    }
}

impl std::fmt::Display for Issuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.identifier)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_issuer_is_an_http_url_without_query_or_fragment() {
        assert!(Issuer::parse("https://id.example.com").is_ok());
        assert!(Issuer::parse("http://127.0.0.1:8080").is_ok());
        assert!(Issuer::parse("http://[::1]:8080").is_ok());
        assert!(Issuer::parse("http://localhost:8080").is_ok());
        assert!(matches!(
            Issuer::parse("http://id.example.com"),
            Err(IssuerError::InsecureHttp(_))
        ));
        assert!(Issuer::parse_insecure("http://id.example.com").is_ok());
        assert!(matches!(
            Issuer::parse("id.example.com"),
            Err(IssuerError::NotAUrl(..))
        ));
        assert!(matches!(
            Issuer::parse("ftp://id.example.com"),
            Err(IssuerError::WrongScheme(_))
        ));
        assert!(matches!(
            Issuer::parse("https://id.example.com/?a=b"),
            Err(IssuerError::QueryOrFragment(_))
        ));
        assert_eq!(
            Issuer::parse("https://id.example.com/")
                .map(|i| i.endpoint(crate::urls::AUTHORIZE))
                .ok(),
            Some("https://id.example.com/authorize".to_owned())
        );
    }
}

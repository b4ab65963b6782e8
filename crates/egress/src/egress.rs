//! The guarded client, what it may reach, and reading an answer within a size bound.

use std::time::Duration;

use url::{Host, Url};

use crate::address::{PublicOnly, is_public};

/// Why a fetch failed. The details stay in the caller's log: shown to whoever named the URL,
/// they would tell a refused port from a closed one inside the network.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Failed(String),
    #[error("answered {0}")]
    Status(reqwest::StatusCode),
    #[error("answered more than {0} bytes")]
    TooLarge(usize),
}

/// An HTTP client for fetching from places others name.
#[derive(Clone)]
pub struct Egress {
    http: reqwest::Client,
    allow_private_networks: bool,
    timeout: Duration,
}

impl Egress {
    /// No redirects, no proxy (it would connect on our behalf to addresses this process never
    /// checks), `timeout` for each whole request, and only public addresses unless
    /// `allow_private_networks`. Failing to build it is an error, not a fallback to a client
    /// without these limits.
    pub fn new(timeout: Duration, allow_private_networks: bool) -> Result<Self, reqwest::Error> {
        let builder = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy();
        let builder = match allow_private_networks {
            true => builder,
            false => builder.dns_resolver(PublicOnly::shared()),
        };
        Ok(Self {
            http: builder.build()?,
            allow_private_networks,
            timeout,
        })
    }

    /// For what the operator names at the command line (an SP's metadata URL): the operator
    /// is trusted, so any host of theirs is reached, through the system's proxy if one is set
    /// (a server may reach the outside only through one); still https (or http on loopback),
    /// no redirects, and bounded.
    pub fn for_operator(timeout: Duration) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            http,
            allow_private_networks: true,
            timeout,
        })
    }

    /// The longest one request may take.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The client, for a caller that builds its own requests; check [`Egress::may_reach`]
    /// first and read the answer with [`Egress::read`].
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Whether `url` may be fetched, or a browser sent to it, under this policy: https to a
    /// public host (a name is checked again on the addresses it resolves to, when
    /// connecting), or anything [`acceptable_url`] takes where private networks are allowed.
    pub fn may_reach(&self, url: &str) -> Result<(), String> {
        if self.allow_private_networks {
            return match acceptable_url(url) {
                true => Ok(()),
                false => Err("only https URLs (or http on a loopback address) are fetched".into()),
            };
        }
        let parsed = Url::parse(url).map_err(|e| e.to_string())?;
        if parsed.scheme() != "https" {
            return Err("only https URLs are fetched".into());
        }
        match parsed.host() {
            Some(Host::Ipv4(ip)) if !is_public(ip.into()) => Err(format!("{ip} is not public")),
            Some(Host::Ipv6(ip)) if !is_public(ip.into()) => Err(format!("{ip} is not public")),
            Some(Host::Domain(name)) if name.is_empty() || name == "localhost" => {
                Err(format!("{name:?} is not a public host"))
            }
            Some(_) => Ok(()),
            None => Err("no host".into()),
        }
    }

    /// GETs `url` under the policy and reads a successful answer of at most `longest` bytes.
    pub async fn get(&self, url: &str, longest: usize) -> Result<Vec<u8>, FetchError> {
        self.may_reach(url).map_err(FetchError::Refused)?;
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| FetchError::Failed(error_chain(&e)))?;
        if !response.status().is_success() {
            return Err(FetchError::Status(response.status()));
        }
        Self::read(response, longest).await
    }

    /// An answer's body, refused once it passes `longest` bytes (before reading it all).
    pub async fn read(
        mut response: reqwest::Response,
        longest: usize,
    ) -> Result<Vec<u8>, FetchError> {
        if response
            .content_length()
            .is_some_and(|length| length > longest as u64)
        {
            return Err(FetchError::TooLarge(longest));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| FetchError::Failed(error_chain(&e)))?
        {
            if body.len() + chunk.len() > longest {
                return Err(FetchError::TooLarge(longest));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// Whether a URL is https, or http on a loopback address.
pub fn acceptable_url(raw: &str) -> bool {
    let Ok(url) = Url::parse(raw) else {
        return false;
    };
    match url.scheme() {
        "https" => url.host().is_some(),
        "http" => match url.host() {
            Some(Host::Ipv4(ip)) => ip.is_loopback(),
            Some(Host::Ipv6(ip)) => ip.is_loopback(),
            Some(Host::Domain(d)) => d == "localhost",
            None => false,
        },
        _ => false,
    }
}

/// An error and its causes in one line, for the log: reqwest's own message says little
/// ("error sending request"); the cause says what (refused, timed out, certificate).
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn only_public_https_is_reached_unless_private_networks_are_allowed() {
        let closed = Egress::new(Duration::from_secs(1), false).unwrap();
        for good in [
            "https://acme.okta.com",
            "https://login.microsoftonline.com/tenant/v2.0",
            "https://8.8.8.8/token",
        ] {
            assert!(closed.may_reach(good).is_ok(), "{good}");
        }
        for bad in [
            "http://acme.okta.com",
            "https://10.0.0.5/",
            "https://169.254.169.254/latest/meta-data",
            "https://127.0.0.1:8443/",
            "https://[::1]/",
            "https://[fd00::1]/",
            "https://localhost/",
            "ftp://acme.example/",
            "not a url",
        ] {
            assert!(closed.may_reach(bad).is_err(), "{bad}");
        }
        let open = Egress::new(Duration::from_secs(1), true).unwrap();
        assert!(open.may_reach("http://127.0.0.1:9000/").is_ok());
        assert!(
            open.may_reach("http://10.0.0.5/").is_err(),
            "http stays on loopback"
        );
        assert!(open.may_reach("https://10.0.0.5/").is_ok());
    }

    #[test]
    fn an_acceptable_url_is_https_or_loopback_http() {
        assert!(acceptable_url("https://keys.example.com/jwks"));
        assert!(acceptable_url("http://localhost:8080/jwks"));
        assert!(acceptable_url("http://[::1]/jwks"));
        assert!(!acceptable_url("http://keys.example.com/jwks"));
        assert!(!acceptable_url("file:///etc/passwd"));
    }

    #[tokio::test]
    async fn a_refused_url_is_not_fetched() {
        let closed = Egress::new(Duration::from_secs(1), false).unwrap();
        let refused = closed.get("https://127.0.0.1:1/", 1024).await;
        assert!(
            matches!(refused, Err(FetchError::Refused(_))),
            "{refused:?}"
        );
    }
}

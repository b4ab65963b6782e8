//! Talking to a connection's OpenID provider with the `openidconnect` crate: discovery, the
//! code exchange and the provider's keys. An administrator names the issuer, and its discovery
//! document names the other endpoints, so every request the crate makes goes through
//! [`Upstream`]'s own check first: https to a public address (an address literal is checked
//! here; a name on the addresses DNS returns, when connecting), no redirects, no proxy, a
//! bounded body, a few seconds at most. `federation.allow_private_networks` allows http on
//! loopback and inside addresses, for tests and closed networks.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use latchkey_core::Clock;
use openidconnect::core::{CoreClient, CoreClientAuthMethod, CoreProviderMetadata};
use openidconnect::{
    AsyncHttpClient, AuthType, ClientId, ClientSecret, EndpointMaybeSet, EndpointNotSet,
    EndpointSet, HttpClientError, HttpRequest, HttpResponse, IssuerUrl, RedirectUrl,
};
use url::Url;

use latchkey_egress::Egress;

use crate::provider_cache::ProviderCache;

/// How long one request upstream may take, connecting included.
pub const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest answer read from a provider: discovery documents and key sets are a few
/// kilobytes.
const LONGEST_BODY: usize = 256 * 1024;

/// A client of the upstream provider, built from its discovered metadata.
pub(crate) type UpstreamClient = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// Why the upstream provider could not be used. The details of a failed request stay in the
/// log: shown to whoever asked, they would tell a refused port from a closed one inside the
/// network.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error(
        "the issuer must be an https URL of a public host, with no query (http on loopback only where private networks are allowed)"
    )]
    IssuerUrl,
    #[error(
        "{0} did not answer with a discovery document naming it as the issuer, and https endpoints, in time"
    )]
    Discovery(String),
}

/// The HTTP side of connections.
#[derive(Clone)]
pub struct Upstream {
    /// Its timeout is the longest a whole conversation with the provider may take (discovery
    /// and the code exchange together), so a slow provider fails the sign-in rather than the
    /// route.
    egress: Egress,
    /// Providers' discovery documents and keys, kept between sign-ins (`discovery`).
    pub(crate) cache: ProviderCache,
}

impl Upstream {
    pub fn new(allow_private_networks: bool, timeout: Duration) -> Result<Self, reqwest::Error> {
        Ok(Self {
            egress: Egress::new(timeout, allow_private_networks)?,
            cache: ProviderCache::new(Clock::system()),
        })
    }

    /// The same, keeping what it fetches by `clock` (tests move it on).
    pub fn with_clock(self, clock: Clock) -> Self {
        Self {
            cache: ProviderCache::new(clock),
            ..self
        }
    }

    pub(crate) fn timeout(&self) -> Duration {
        self.egress.timeout()
    }

    /// Whether `url` may be fetched, or sent a browser to, under this policy.
    pub fn may_reach(&self, url: &str) -> bool {
        self.egress.may_reach(url).is_ok()
    }

    /// The issuer as a URL this policy may fetch from.
    pub fn issuer_url(&self, issuer: &str) -> Result<IssuerUrl, UpstreamError> {
        let issuer = issuer.trim();
        let url = Url::parse(issuer).map_err(|_| UpstreamError::IssuerUrl)?;
        if !self.may_reach(issuer) || url.query().is_some() || url.fragment().is_some() {
            return Err(UpstreamError::IssuerUrl);
        }
        IssuerUrl::new(issuer.to_owned()).map_err(|_| UpstreamError::IssuerUrl)
    }

    /// Checks that the endpoints a discovery document names are ones this policy reaches
    /// (the `openidconnect` crate has checked that it names exactly the issuer it came from).
    pub(crate) fn reachable_endpoints(
        &self,
        issuer: &str,
        metadata: &CoreProviderMetadata,
    ) -> Result<(), UpstreamError> {
        let endpoints = [
            Some(metadata.authorization_endpoint().as_str()),
            metadata.token_endpoint().map(|u| u.as_str()),
        ];
        if endpoints
            .iter()
            .any(|endpoint| endpoint.is_none_or(|e| !self.may_reach(e)))
        {
            tracing::warn!(%issuer, "the discovery document names endpoints this provider may not reach");
            return Err(UpstreamError::Discovery(issuer.to_owned()));
        }
        Ok(())
    }

    /// A client of the provider for this connection, sending its secret the way the provider
    /// says it takes it (HTTP Basic unless it lists only `client_secret_post`).
    pub(crate) fn client(
        metadata: CoreProviderMetadata,
        client_id: &str,
        client_secret: String,
        redirect_uri: &str,
    ) -> Result<UpstreamClient, UpstreamError> {
        let post_only = metadata
            .token_endpoint_auth_methods_supported()
            .is_some_and(|methods| {
                !methods.contains(&CoreClientAuthMethod::ClientSecretBasic)
                    && methods.contains(&CoreClientAuthMethod::ClientSecretPost)
            });
        let redirect = RedirectUrl::new(redirect_uri.to_owned())
            .map_err(|_| UpstreamError::Discovery(redirect_uri.to_owned()))?;
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(client_id.to_owned()),
            Some(ClientSecret::new(client_secret)),
        )
        .set_redirect_uri(redirect);
        Ok(if post_only {
            client.set_auth_type(AuthType::RequestBody)
        } else {
            client
        })
    }

    /// One request, checked against the policy, its answer read up to [`LONGEST_BODY`].
    pub(crate) async fn send(
        &self,
        request: HttpRequest,
    ) -> Result<HttpResponse, HttpClientError<reqwest::Error>> {
        let url = request.uri().to_string();
        if !self.may_reach(&url) {
            return Err(HttpClientError::Other(format!(
                "{url} is not a public https address"
            )));
        }
        let response = self
            .egress
            .http()
            .execute(request.try_into().map_err(Box::new)?)
            .await
            .map_err(Box::new)?;
        let mut builder = openidconnect::http::Response::builder()
            .status(response.status())
            .version(response.version());
        for (name, value) in response.headers() {
            builder = builder.header(name, value);
        }
        let body = Egress::read(response, LONGEST_BODY)
            .await
            .map_err(|e| HttpClientError::Other(format!("{url}: {e}")))?;
        builder.body(body).map_err(HttpClientError::Http)
    }
}

impl<'c> AsyncHttpClient<'c> for Upstream {
    type Error = HttpClientError<reqwest::Error>;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, Self::Error>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(self.send(request))
    }
}

pub(crate) use latchkey_egress::error_chain;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn an_issuer_is_a_public_https_url_without_a_query() {
        // What may be reached is latchkey_egress's policy, tested there.
        let closed = Upstream::new(false, UPSTREAM_TIMEOUT).unwrap();
        assert!(closed.issuer_url("https://acme.okta.com").is_ok());
        assert!(closed.issuer_url("https://acme.okta.com?x=1").is_err());
        assert!(closed.issuer_url("https://10.1.2.3").is_err());
        let open = Upstream::new(true, UPSTREAM_TIMEOUT).unwrap();
        assert!(open.issuer_url("http://127.0.0.1:9000").is_ok());
    }
}

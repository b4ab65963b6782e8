//! Talking to a connection's OpenID provider with the `openidconnect` crate: discovery, the
//! authorization URL and the code exchange, over an HTTP client that follows no redirects,
//! gives up after a few seconds, and (unless `federation.allow_private_networks`) connects
//! only to public addresses over https: an administrator names the issuer URL, so without
//! that the provider would fetch into its own network for them.

use std::time::Duration;

use openidconnect::core::{CoreClient, CoreClientAuthMethod, CoreProviderMetadata};
use openidconnect::{
    AuthType, ClientId, ClientSecret, EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl,
    RedirectUrl,
};

use crate::public_address::PublicOnly;

/// How long one request upstream may take, connecting included.
pub const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(10);

/// A client of the upstream provider, built from its discovered metadata.
pub(crate) type UpstreamClient = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// Why the upstream provider could not be used.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error(
        "the issuer must be an https URL (http only on 127.0.0.1 or localhost where private networks are allowed)"
    )]
    IssuerUrl,
    #[error("{0} did not answer its discovery document in time, or not with valid metadata ({1})")]
    Discovery(String, String),
}

/// The HTTP side of connections.
#[derive(Clone)]
pub struct Upstream {
    http: reqwest::Client,
    allow_private_networks: bool,
    /// The longest a whole conversation with the provider may take (discovery and the code
    /// exchange together), so a slow provider fails the sign-in rather than the route.
    timeout: Duration,
}

impl Upstream {
    pub fn new(allow_private_networks: bool, timeout: Duration) -> Result<Self, reqwest::Error> {
        // No proxy: it would connect on our behalf to addresses this process never checks.
        let builder = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy();
        let builder = if allow_private_networks {
            builder
        } else {
            builder.dns_resolver(PublicOnly::shared())
        };
        Ok(Self {
            http: builder.build()?,
            allow_private_networks,
            timeout,
        })
    }

    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The issuer as a URL this policy may fetch from.
    pub fn issuer_url(&self, issuer: &str) -> Result<IssuerUrl, UpstreamError> {
        let url = url::Url::parse(issuer.trim()).map_err(|_| UpstreamError::IssuerUrl)?;
        let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
        let allowed = match url.scheme() {
            "https" => true,
            "http" => self.allow_private_networks && loopback,
            _ => false,
        };
        if !allowed || url.query().is_some() || url.fragment().is_some() {
            return Err(UpstreamError::IssuerUrl);
        }
        IssuerUrl::new(issuer.trim().to_owned()).map_err(|_| UpstreamError::IssuerUrl)
    }

    /// Fetches the provider's metadata and keys. The crate checks that the metadata names
    /// exactly this issuer.
    pub async fn discover(&self, issuer: &str) -> Result<CoreProviderMetadata, UpstreamError> {
        let url = self.issuer_url(issuer)?;
        CoreProviderMetadata::discover_async(url, &self.http)
            .await
            .map_err(|e| UpstreamError::Discovery(issuer.to_owned(), error_chain(&e)))
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
            .map_err(|e| UpstreamError::Discovery(redirect_uri.to_owned(), e.to_string()))?;
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
}

/// An error and its causes in one line: reqwest's own message says little ("error sending
/// request"); the cause says what (refused, timed out, certificate).
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

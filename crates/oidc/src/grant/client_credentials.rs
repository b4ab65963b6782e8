//! `grant_type=client_credentials` (RFC 6749 §4.4).

use chrono::{DateTime, Utc};

use crate::client::{Client, GrantType};
use crate::error::OAuthError;
use crate::provider::Provider;
use crate::scope::{Scopes, USER_SCOPES};
use crate::tokens::TokenResponse;

impl Provider {
    /// `grant_type=client_credentials` (RFC 6749 §4.4): a token with only scopes the client
    /// was registered with, for the resource server it names, or else for itself. Reads the
    /// database only to look up that resource server.
    pub(crate) async fn client_credentials(
        &self,
        client: &Client,
        scope: Option<&str>,
        resource: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<TokenResponse, OAuthError> {
        client.require_grant(GrantType::ClientCredentials)?;
        let scopes = Scopes::narrow(scope, client.scopes.without(&USER_SCOPES), |extra| {
            format!("this client is not allowed the scope {extra:?} for its own tokens")
        })?;
        let audience = self.audience(client, resource, &scopes).await?;
        let access_token =
            self.access_token(client, &client.id, &audience, None, None, None, now)?;
        Ok(TokenResponse::access_only(
            access_token,
            self.settings.access_token_ttl,
            &audience.scopes,
        ))
    }
}

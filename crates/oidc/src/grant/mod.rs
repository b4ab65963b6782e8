//! The token endpoint's grants, one file each, and the one entry that picks among them.

pub(crate) mod authorization_code;
mod client_credentials;
mod jwt_bearer;
mod refresh_token;
mod revoke;

use chrono::{DateTime, Utc};

use super::client::Client;
use super::error::OAuthError;
use super::provider::Provider;
use super::token_request::TokenRequest;
use super::tokens::TokenResponse;

impl Provider {
    /// Answers a token request from an authenticated client.
    pub async fn token(
        &self,
        client: &Client,
        request: TokenRequest,
        now: DateTime<Utc>,
    ) -> Result<TokenResponse, OAuthError> {
        match request {
            TokenRequest::AuthorizationCode {
                code,
                redirect_uri,
                code_verifier,
                resource,
            } => {
                let exchange = authorization_code::Exchange {
                    code: code.as_deref(),
                    redirect_uri: redirect_uri.as_deref(),
                    code_verifier: code_verifier.as_deref(),
                    resource: resource.as_deref(),
                };
                self.exchange_code(client, exchange, now).await
            }
            TokenRequest::RefreshToken {
                refresh_token,
                scope,
                resource,
            } => {
                self.refresh(
                    client,
                    refresh_token.as_deref(),
                    scope.as_deref(),
                    resource.as_deref(),
                    now,
                )
                .await
            }
            TokenRequest::ClientCredentials { scope, resource } => {
                self.client_credentials(client, scope.as_deref(), resource.as_deref(), now)
                    .await
            }
            TokenRequest::JwtBearer {
                assertion,
                scope,
                resource,
            } => {
                self.jwt_bearer(
                    client,
                    assertion.as_deref(),
                    scope.as_deref(),
                    resource.as_deref(),
                    now,
                )
                .await
            }
        }
    }
}

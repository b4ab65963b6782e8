//! The code exchange with a connection's provider (with the PKCE verifier the sign-in sealed)
//! and the person its ID token names, once the `openidconnect` crate has verified the token:
//! signature against the provider's keys, `iss`, `aud`, `azp`, `exp` and the sign-in's `nonce`.

use chrono::{DateTime, Utc};
use openidconnect::core::{
    CoreGenderClaim, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm, CoreTokenResponse,
};
use openidconnect::{
    AccessToken, AuthorizationCode, ClaimsVerificationError, IdToken, Nonce, OAuth2TokenResponse,
    PkceCodeVerifier, RequestTokenError, SignatureVerificationError, TokenResponse, UserInfoError,
};

use crate::accounts::Person;
use crate::claims::{Claims, ProviderClaims, ProviderUserInfo, person_named};
use crate::client::{Upstream, UpstreamClient, error_chain};
use crate::entities::{connection, upstream_login};
use crate::failure::{SignInFailure, refused, unreachable};
use crate::registry::Connections;
use crate::sign_in::verifier_context;

/// The provider's ID token, read with the claims beyond Core's a connection needs (`hd`).
type ProviderIdToken = IdToken<
    ProviderClaims,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;

/// The person the provider's answer names, and when they last presented their credential to
/// it (`auth_time`), if it says.
pub(crate) struct Redeemed {
    pub person: Person,
    pub auth_time: Option<DateTime<Utc>>,
}

impl Connections {
    /// Exchanges the code (with the PKCE verifier) and verifies the ID token: the person it
    /// names.
    pub(crate) async fn redeem(
        &self,
        row: &connection::Model,
        pending: &upstream_login::Model,
        code: String,
    ) -> Result<Redeemed, SignInFailure> {
        let verifier = self.opened_verifier(pending)?;
        let client = self.provider_client(row).await?;
        let tokens = self.exchange(&client, row, code, verifier).await?;
        let id_token: ProviderIdToken = tokens
            .id_token()
            .ok_or(SignInFailure::NoIdToken)?
            .to_string()
            .parse()
            .map_err(|e| SignInFailure::IdToken(error_chain(&e)))?;
        let nonce = Nonce::new(pending.nonce.clone());
        let verified = match id_token.claims(&client.id_token_verifier(), &nonce) {
            // Signed by a key the kept set lacks: the provider rotated. Its keys again (at
            // most once a minute), and one more try.
            Err(ClaimsVerificationError::SignatureVerification(
                SignatureVerificationError::NoMatchingKey,
            )) => {
                let refreshed = self.refreshed_client(row).await?;
                id_token.claims(&refreshed.id_token_verifier(), &nonce)
            }
            verified => verified,
        }
        .map_err(|e| SignInFailure::IdToken(error_chain(&e)))?;
        let auth_time = verified.auth_time();
        let mut claims = Claims::from_id_token(verified);
        if claims.thin_for(row) && client.user_info_url().is_some() {
            match self
                .user_info(&client, row, tokens.access_token(), &claims)
                .await
            {
                Ok(answer) => {
                    claims = claims.completed_with(Claims::from_user_info(&answer))?;
                }
                // Only a name was missing: the ID token alone signs the person in.
                Err(SignInFailure::UserInfo(_)) if !claims.lacks_identity(row) => {}
                Err(failure) => return Err(failure),
            }
        }
        Ok(Redeemed {
            person: person_named(row, claims)?,
            auth_time,
        })
    }

    /// The provider's UserInfo answer for the person the ID token names (the crate checks its
    /// `sub`, and verifies an answer signed as a JWT against the provider's keys).
    async fn user_info(
        &self,
        client: &UpstreamClient,
        row: &connection::Model,
        access_token: &AccessToken,
        id_token: &Claims,
    ) -> Result<ProviderUserInfo, SignInFailure> {
        let subject = openidconnect::SubjectIdentifier::new(id_token.subject.clone());
        client
            .user_info(access_token.clone(), Some(subject))
            .map_err(|e| SignInFailure::UserInfo(e.to_string()))?
            .request_async(&self.upstream)
            .await
            .map_err(|error| match error {
                UserInfoError::ClaimsVerification(ClaimsVerificationError::InvalidSubject(_)) => {
                    tracing::warn!(connection = %row.id, error = %error_chain(&error), "UserInfo named another subject");
                    SignInFailure::UserInfoSubject
                }
                other => {
                    tracing::warn!(connection = %row.id, error = %error_chain(&other), "the UserInfo request failed");
                    SignInFailure::UserInfo("its answer could not be used".into())
                }
            })
    }

    /// A client of the provider with its keys fetched again; the kept one's failure stands
    /// when they cannot be.
    async fn refreshed_client(
        &self,
        row: &connection::Model,
    ) -> Result<UpstreamClient, SignInFailure> {
        let metadata = self
            .upstream
            .refresh_keys(&row.issuer)
            .await
            .ok_or_else(|| {
                SignInFailure::IdToken("it is signed by a key the provider does not publish".into())
            })?;
        Upstream::client(
            metadata,
            &row.client_id,
            self.client_secret(row)?,
            &self.redirect_uri(&row.id),
        )
        .map_err(unreachable)
    }

    /// A client of the connection's provider, as its discovery document describes it now.
    pub(crate) async fn provider_client(
        &self,
        row: &connection::Model,
    ) -> Result<UpstreamClient, SignInFailure> {
        let metadata = self
            .upstream
            .discover(&row.issuer)
            .await
            .map_err(unreachable)?;
        Upstream::client(
            metadata,
            &row.client_id,
            self.client_secret(row)?,
            &self.redirect_uri(&row.id),
        )
        .map_err(unreachable)
    }

    /// The PKCE verifier the pending sign-in sealed, opened.
    fn opened_verifier(&self, pending: &upstream_login::Model) -> Result<String, SignInFailure> {
        self.master_key
            .open(
                &verifier_context(&pending.state_hash),
                &pending.verifier_sealed,
            )
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or(SignInFailure::Internal)
    }

    /// The provider's tokens for `code`; a refusal at its token endpoint is the provider's.
    async fn exchange(
        &self,
        client: &UpstreamClient,
        row: &connection::Model,
        code: String,
        verifier: String,
    ) -> Result<CoreTokenResponse, SignInFailure> {
        client
            .exchange_code(AuthorizationCode::new(code))
            .map_err(|e| SignInFailure::Unreachable(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(verifier))
            .request_async(&self.upstream)
            .await
            .map_err(|error| match error {
                RequestTokenError::ServerResponse(response) => refused(
                    response.error().as_ref(),
                    response.error_description().map(String::as_str),
                ),
                other => {
                    tracing::warn!(connection = %row.id, error = %error_chain(&other), "the code exchange failed");
                    SignInFailure::Unreachable("its token endpoint did not answer as expected".into())
                }
            })
    }
}

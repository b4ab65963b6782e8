//! The code exchange with a connection's provider (with the PKCE verifier the sign-in sealed)
//! and the person its ID token names, once the `openidconnect` crate has verified the token:
//! signature against the provider's keys, `iss`, `aud`, `azp`, `exp` and the sign-in's `nonce`.

use latchkey_core::Email;
use latchkey_teams::PersonName;
use openidconnect::core::{CoreIdTokenClaims, CoreTokenResponse};
use openidconnect::{
    AuthorizationCode, ClaimsVerificationError, Nonce, PkceCodeVerifier, RequestTokenError,
    SignatureVerificationError, TokenResponse,
};

use crate::accounts::Person;
use crate::client::{Upstream, UpstreamClient, error_chain};
use crate::entities::{connection, upstream_login};
use crate::failure::{SignInFailure, refused, unreachable};
use crate::registry::Connections;
use crate::sign_in::verifier_context;

impl Connections {
    /// Exchanges the code (with the PKCE verifier) and verifies the ID token: the person it
    /// names.
    pub(crate) async fn redeem(
        &self,
        row: &connection::Model,
        pending: &upstream_login::Model,
        code: String,
    ) -> Result<Person, SignInFailure> {
        let verifier = self.opened_verifier(pending)?;
        let client = self.provider_client(row).await?;
        let tokens = self.exchange(&client, row, code, verifier).await?;
        let id_token = tokens.id_token().ok_or(SignInFailure::NoIdToken)?;
        let nonce = Nonce::new(pending.nonce.clone());
        let claims = match id_token.claims(&client.id_token_verifier(), &nonce) {
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
        person_named(row, claims)
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

/// The person the verified claims name: their address from the connection's email claim
/// (verified where the connection requires it), their name if given, and their `sub`.
fn person_named(
    row: &connection::Model,
    claims: &CoreIdTokenClaims,
) -> Result<Person, SignInFailure> {
    let email = claimed_email(row, claims)?;
    if row.require_email_verified && claims.email_verified() != Some(true) {
        return Err(SignInFailure::UnverifiedEmail(email.as_str().to_owned()));
    }
    let name = claimed_name(claims);
    let subject = claims.subject().as_str();
    if subject.is_empty() || subject.len() > 255 {
        return Err(SignInFailure::IdToken(
            "sub must be 1 to 255 characters".into(),
        ));
    }
    Ok(Person {
        subject: subject.to_owned(),
        email,
        vouched: row.email_claim == "preferred_username" || claims.email_verified() == Some(true),
        name,
    })
}

/// The address in the claim the connection reads it from.
fn claimed_email(
    row: &connection::Model,
    claims: &CoreIdTokenClaims,
) -> Result<Email, SignInFailure> {
    let raw_email = match row.email_claim.as_str() {
        "preferred_username" => claims.preferred_username().map(|u| u.as_str().to_owned()),
        _ => claims.email().map(|e| e.as_str().to_owned()),
    };
    raw_email
        .and_then(|raw| Email::parse(&raw).ok())
        .ok_or_else(|| SignInFailure::MissingEmail(row.email_claim.clone()))
}

/// The person's name: `name`, else `given_name` and `family_name` together.
fn claimed_name(claims: &CoreIdTokenClaims) -> Option<PersonName> {
    claims
        .name()
        .and_then(|n| n.get(None))
        .map(|n| n.as_str().to_owned())
        .or_else(|| {
            let given = claims.given_name().and_then(|n| n.get(None))?;
            let family = claims.family_name().and_then(|n| n.get(None));
            Some(match family {
                Some(family) => format!("{} {}", given.as_str(), family.as_str()),
                None => given.as_str().to_owned(),
            })
        })
        .and_then(|raw| PersonName::parse(&raw))
}

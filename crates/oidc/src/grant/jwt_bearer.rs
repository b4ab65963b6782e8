//! `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer` (RFC 7523 §2.1): an assertion
//! signed by an issuer a team trusts (`federation`) is exchanged for an access token for the
//! member it names, who is linked or provisioned in that team.

use chrono::{DateTime, Utc};
use latchkey_teams::Actor;

use crate::client::{Client, GrantType};
use crate::error::OAuthError;
use crate::federation::members::admit;
use crate::federation::rejection::{Rejection, Trusting};
use crate::provider::Provider;
use crate::scope::{OFFLINE_ACCESS, OPENID, Scopes};
use crate::tokens::TokenResponse;

impl Provider {
    /// `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer` (RFC 7523 §2.1): every
    /// refusal is `invalid_grant` naming the check that failed.
    pub(crate) async fn jwt_bearer(
        &self,
        client: &Client,
        assertion: Option<&str>,
        scope: Option<&str>,
        resource: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<TokenResponse, OAuthError> {
        client.require_grant(GrantType::JwtBearer)?;
        // Checked before anything is written: a bad scope must not spend the jti or provision.
        // No ID token or refresh token from this grant: the integration signed the person in.
        let scopes = Scopes::narrow(scope, client.scopes.clone(), |extra| {
            format!("this client is not allowed the scope {extra:?}")
        })?
        .without(&[OPENID, OFFLINE_ACCESS]);
        let audience = self.audience(client, resource, &scopes).await?;
        let assertion =
            assertion.ok_or_else(|| OAuthError::invalid_request("assertion is missing"))?;
        // Assertions are not bound to a client: only the issuers of the client's own team
        // count, so a client of another team cannot spend them.
        let Some(team) = &client.team_id else {
            return Err(OAuthError::unauthorized_client(
                "the jwt-bearer grant needs a client bound to a team (--team)",
            ));
        };
        let (trusted, verified) = self
            .federation
            .verify_issuer_token(assertion, Trusting::Team(team), now)
            .await
            .map_err(grant_error)?;

        let txn = self.db.transaction().await?;
        let actor = Actor::integration(&trusted.issuer, "", &format!("client {}", client.id));
        let member = admit(&txn, &trusted, &verified, &actor, Some(&client.id), now)
            .await
            .map_err(grant_error)?;
        txn.commit().await?;

        let access_token = self.access_token(
            client,
            member.user_id.as_str(),
            &audience,
            None,
            None,
            Some(team.as_str()),
            now,
        )?;
        tracing::info!(client = %client.id, user = %member.user_id, issuer = %trusted.issuer, "jwt-bearer assertion exchanged");
        Ok(TokenResponse::access_only(
            access_token,
            self.settings.access_token_ttl,
            &audience.scopes,
        ))
    }
}

/// Every refusal is `invalid_grant`, saying which check failed.
fn grant_error(rejection: Rejection) -> OAuthError {
    match rejection {
        Rejection::Refused(why) => OAuthError::invalid_grant(format!("assertion: {why}")),
        Rejection::Internal(error) => error,
    }
}

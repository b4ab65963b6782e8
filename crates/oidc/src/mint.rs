//! Minting the tokens every grant hands out: RFC 9068 access tokens, ID tokens and refresh
//! tokens.

use chrono::{DateTime, Utc};
use latchkey_keys::SigningAlgorithm;
use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait};

use crate::client::Client;
use crate::entities::refresh_token;
use crate::error::OAuthError;
use crate::provider::Provider;
use crate::scope::{EMAIL, OPENID, PROFILE, Scopes, TEAM};
use crate::tokens::{
    ACCESS_TOKEN_TYPE, AccessClaims, ID_TOKEN_TYPE, IdClaims, ProfileClaims, TeamClaims,
    TokenResponse, at_hash,
};
use latchkey_core::secret::SecretToken;
use latchkey_login::entities::user;
use latchkey_teams::Teams;

const AMR_EMAIL_OTP: &str = "otp";

impl Provider {
    pub(crate) async fn user_tokens(
        &self,
        client: &Client,
        scopes: &Scopes,
        issued: &IssuedFor<'_>,
        refresh: Option<SecretToken>,
        now: DateTime<Utc>,
    ) -> Result<TokenResponse, OAuthError> {
        // Membership is read at issue time: a member removed since the code was issued gets
        // nothing.
        let team = match issued.team_id {
            Some(team) => Some(
                Teams::membership_in(self.db.read(), &team.into(), &issued.user_id.into())
                    .await
                    .map_err(OAuthError::internal)?
                    .ok_or_else(|| {
                        OAuthError::invalid_grant(
                            "the person is no longer a member of the team this grant was for",
                        )
                    })?,
            ),
            None => None,
        };
        let access_token = self.access_token(
            client,
            issued.user_id,
            &issued.audience,
            Some(issued.grant_id),
            Some(issued.auth_time.timestamp()),
            issued.team_id,
            now,
        )?;
        let profile = match (
            scopes.contains(OPENID) && scopes.contains(PROFILE),
            issued.account,
        ) {
            (false, _) => None,
            (true, Some(account)) => Some(ProfileClaims::of(account)),
            (true, None) => Some(ProfileClaims::of(&self.account(issued.user_id).await?)),
        };
        let id_token = if scopes.contains(OPENID) {
            let claims = IdClaims {
                iss: self.issuer.to_string(),
                sub: issued.user_id.to_owned(),
                aud: client.id.to_string(),
                azp: client.id.to_string(),
                iat: now.timestamp(),
                exp: (now + self.settings.id_token_ttl).timestamp(),
                auth_time: issued.auth_time.timestamp(),
                nonce: issued.nonce.map(str::to_owned),
                at_hash: Some(at_hash(&access_token)),
                amr: vec![AMR_EMAIL_OTP.to_owned()],
                sid: issued.sid.to_owned(),
                email: scopes.contains(EMAIL).then(|| issued.email.to_owned()),
                email_verified: scopes.contains(EMAIL).then_some(true),
                team: team.filter(|_| scopes.contains(TEAM)).map(|m| TeamClaims {
                    team_id: m.team.id.into_string(),
                    team_name: m.team.name,
                    team_role: m.role.as_str().to_owned(),
                }),
                profile,
            };
            Some(
                self.keys
                    .load()
                    .sign(client.id_token_alg, ID_TOKEN_TYPE, &claims, now)?,
            )
        } else {
            None
        };
        Ok(TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: self.settings.access_token_ttl.num_seconds(),
            scope: issued.audience.scopes.to_string(),
            refresh_token: refresh.map(|r| r.expose().to_owned()),
            id_token,
        })
    }

    #[allow(clippy::too_many_arguments)] // the claims, each optional by grant
    pub(crate) fn access_token(
        &self,
        client: &Client,
        subject: &str,
        audience: &TokenAudience,
        grant_id: Option<&str>,
        auth_time: Option<i64>,
        team_id: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<String, OAuthError> {
        let claims = AccessClaims {
            iss: self.issuer.to_string(),
            sub: subject.to_owned(),
            aud: audience.aud.clone(),
            client_id: client.id.to_string(),
            scope: audience.scopes.to_string(),
            iat: now.timestamp(),
            exp: (now + self.settings.access_token_ttl).timestamp(),
            jti: latchkey_core::secret::random_id(),
            auth_time,
            grant_id: grant_id.map(str::to_owned),
            team_id: team_id.map(str::to_owned),
        };
        Ok(self
            .keys
            .load()
            .sign(SigningAlgorithm::Es256, ACCESS_TOKEN_TYPE, &claims, now)?)
    }

    /// Whom an access token for `client` is for, and with which of the `granted` scopes:
    /// the resource server it names (RFC 8707), or else the client itself. Never the issuer,
    /// so no API accepts a token meant for another (RFC 9700 §2.3).
    pub(crate) async fn audience(
        &self,
        client: &Client,
        resource: Option<&str>,
        granted: &Scopes,
    ) -> Result<TokenAudience, OAuthError> {
        let (aud, scopes) = self.resources.audience(client, resource, granted).await?;
        Ok(TokenAudience {
            resource: resource.map(|_| aud.clone()),
            aud,
            scopes,
        })
    }

    pub(crate) async fn insert_refresh<C: ConnectionTrait>(
        &self,
        conn: &C,
        token: &SecretToken,
        grant_id: &str,
        grant_expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), sea_orm::DbErr> {
        refresh_token::Entity::insert(refresh_token::ActiveModel {
            token_hash: Set(token.hash()),
            grant_id: Set(grant_id.to_owned()),
            created_at: Set(now),
            expires_at: Set((now + self.settings.refresh_idle_ttl).min(grant_expires_at)),
            used_at: Set(None),
        })
        .exec_without_returning(conn)
        .await?;
        Ok(())
    }

    pub(crate) async fn account(&self, user_id: &str) -> Result<user::Model, OAuthError> {
        user::Entity::find_by_id(user_id)
            .one(self.db.read())
            .await?
            .ok_or_else(|| OAuthError::invalid_grant("the account no longer exists"))
    }
}

/// Whom an access token is for (its `aud`) and the scopes it carries.
#[derive(Clone, Debug)]
pub(crate) struct TokenAudience {
    pub(crate) aud: String,
    pub(crate) scopes: Scopes,
    /// The resource server named, kept with a grant so its refresh tokens stay for it.
    pub(crate) resource: Option<String>,
}

/// Whom user tokens are issued for, and from which sign-in.
pub(crate) struct IssuedFor<'a> {
    pub(crate) user_id: &'a str,
    pub(crate) email: &'a str,
    pub(crate) grant_id: &'a str,
    pub(crate) auth_time: DateTime<Utc>,
    pub(crate) sid: &'a str,
    pub(crate) nonce: Option<&'a str>,
    pub(crate) team_id: Option<&'a str>,
    /// Resolved before anything is spent, so a refused resource loses nothing.
    pub(crate) audience: TokenAudience,
    /// The account, when the grant has read it already (a refresh): not read twice.
    pub(crate) account: Option<&'a user::Model>,
}

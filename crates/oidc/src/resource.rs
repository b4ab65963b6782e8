//! What resource-facing endpoints ask of an issued token: userinfo (Core §5.3), introspection
//! (RFC 7662) and revocation (RFC 7009). An access token is live when its signature, type,
//! issuer, audience and expiry check out, its `jti` was not revoked, and its grant (if any)
//! still stands.

use crate::revocations::membership_key;
use latchkey_core::ClientId;
use latchkey_core::GrantId;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use latchkey_keys::{Audience, Expectations};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, EntityTrait};
use serde_json::{Map, Value, json};

use super::client::Client;
use super::entities::{grant, refresh_token, revoked_token};
use super::error::{ErrorCode, OAuthError};
use super::provider::Provider;
use super::scope::{EMAIL, OPENID, PROFILE, Scopes, TEAM};
use super::tokens::{ACCESS_TOKEN_TYPE, AccessClaims, ProfileClaims};
use latchkey_core::secret::SecretToken;
use latchkey_login::entities::user;
use latchkey_teams::Teams;

impl Provider {
    /// The claims of a live access token, or `invalid_token` saying why not.
    pub async fn check_access_token(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<Arc<AccessClaims>, OAuthError> {
        let ring = self.keys.load();
        let claims = match self.verified.get(token, &ring) {
            Some(claims) => claims,
            None => {
                // Whom it is for is the caller's to judge: userinfo, introspection and
                // revocation each ask something else of `aud`.
                let expect = Expectations {
                    token_type: ACCESS_TOKEN_TYPE,
                    audience: Audience::CheckedByCaller,
                    issuer: self.issuer.as_str(),
                };
                let verified = ring
                    .verify::<AccessClaims>(token, &expect, now)
                    .map_err(|e| {
                        OAuthError::invalid_token(format!("the access token is not valid: {e}"))
                    })?;
                let claims = Arc::new(verified.claims);
                self.verified.insert(token, verified.kid, claims.clone());
                claims
            }
        };
        if claims.exp <= now.timestamp() {
            return Err(OAuthError::invalid_token(
                "the access token is not valid: the token has expired",
            ));
        }
        let revoked = if self.revocations.is_fresh(now) {
            self.revocations.is_revoked(&claims)
        } else {
            // The view could not be refreshed lately: ask the database.
            self.revoked_in_database(&claims).await?
        };
        if revoked {
            return Err(OAuthError::invalid_token(
                "the access token has been revoked",
            ));
        }
        if self
            .clients()
            .find(&ClientId::from(claims.client_id.as_str()))
            .await
            .map_err(OAuthError::internal)?
            .is_none()
        {
            return Err(OAuthError::invalid_token(
                "the client this token was issued to was deleted",
            ));
        }
        Ok(claims)
    }

    async fn revoked_in_database(&self, claims: &AccessClaims) -> Result<bool, OAuthError> {
        if revoked_token::Entity::find_by_id(claims.jti.as_str())
            .one(self.db.read())
            .await?
            .is_some()
        {
            return Ok(true);
        }
        if let Some(key) = membership_key(claims)
            && let Some(ended) = revoked_token::Entity::find_by_id(key)
                .one(self.db.read())
                .await?
            && claims.iat <= ended.revoked_at.timestamp()
        {
            return Ok(true);
        }
        let Some(grant_id) = &claims.grant_id else {
            return Ok(false);
        };
        Ok(grant::Entity::find_by_id(grant_id.as_str())
            .one(self.db.read())
            .await?
            .is_some_and(|g| g.revoked_at.is_some()))
    }

    /// The UserInfo response: `sub`, and the claims the token's scopes allow.
    pub async fn userinfo(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<Map<String, Value>, OAuthError> {
        let claims = self.check_access_token(token, now).await?;
        // A token for a resource server is that server's alone (RFC 8707): userinfo takes
        // only the tokens a client got for itself.
        if claims.aud != claims.client_id {
            return Err(OAuthError::invalid_token(format!(
                "the access token is for {:?}, not for userinfo",
                claims.aud
            )));
        }
        let scopes = Scopes::parse(&claims.scope).unwrap_or_default();
        if claims.grant_id.is_none() || !scopes.contains(OPENID) {
            return Err(OAuthError::insufficient_scope(
                "userinfo needs a token issued for a person with the openid scope",
            ));
        }
        let account = user::Entity::find_by_id(claims.sub.as_str())
            .one(self.db.read())
            .await?
            .ok_or_else(|| OAuthError::invalid_token("the account no longer exists"))?;
        let mut info = Map::new();
        info.insert("sub".into(), json!(account.id));
        if scopes.contains(EMAIL) {
            info.insert("email".into(), json!(account.email));
            info.insert("email_verified".into(), json!(true));
        }
        if scopes.contains(PROFILE)
            && let Value::Object(profile) = json!(ProfileClaims::of(&account))
        {
            info.extend(profile);
        }
        if let Some(team) = &claims.team_id
            && scopes.contains(TEAM)
        {
            let member = Teams::membership_in(
                self.db.read(),
                &team.as_str().into(),
                &account.id.as_str().into(),
            )
            .await
            .map_err(OAuthError::internal)?
            .ok_or_else(|| {
                OAuthError::invalid_token("the person is no longer a member of the team")
            })?;
            info.insert("team_id".into(), json!(member.team.id));
            info.insert("team_name".into(), json!(member.team.name));
            info.insert("team_role".into(), json!(member.role.as_str()));
        }
        Ok(info)
    }

    /// RFC 7662: `{"active": false}` for anything not live, and for a token the caller is not
    /// an audience of: an access token is described only to the client it is for (its `aud`,
    /// when it names no resource) or to the client its resource server introspects with, so
    /// one API cannot learn it may accept another's token. Refresh tokens are described only
    /// to the client they were issued to.
    pub async fn introspect(
        &self,
        client: &Client,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<Value, OAuthError> {
        if let Some(secret) = SecretToken::from_client(token) {
            return Ok(self
                .introspect_refresh(client, &secret, now)
                .await?
                .unwrap_or_else(inactive));
        }
        match self.check_access_token(token, now).await {
            Ok(claims) if !self.is_audience(client, &claims).await? => Ok(inactive()),
            Ok(claims) => Ok(json!({
                "active": true,
                "token_type": "Bearer",
                "scope": claims.scope,
                "client_id": claims.client_id,
                "sub": claims.sub,
                "aud": claims.aud,
                "iss": claims.iss,
                "iat": claims.iat,
                "exp": claims.exp,
                "jti": claims.jti,
                "team_id": claims.team_id,
            })),
            Err(e) if e.code == ErrorCode::InvalidToken => Ok(inactive()),
            Err(e) => Err(e),
        }
    }

    /// Whether `client` may be told about a token: it is the token's audience, or the client
    /// the token's resource server introspects with.
    async fn is_audience(
        &self,
        client: &Client,
        claims: &AccessClaims,
    ) -> Result<bool, OAuthError> {
        if claims.aud == client.id.as_str() {
            return Ok(true);
        }
        Ok(self.resources.introspects_for(client, &claims.aud).await?)
    }

    async fn introspect_refresh(
        &self,
        client: &Client,
        token: &SecretToken,
        now: DateTime<Utc>,
    ) -> Result<Option<Value>, OAuthError> {
        let Some(row) = refresh_token::Entity::find_by_id(token.hash())
            .one(self.db.read())
            .await?
        else {
            return Ok(None);
        };
        let Some(family) = grant::Entity::find_by_id(row.grant_id.as_str())
            .one(self.db.read())
            .await?
        else {
            return Ok(None);
        };
        let live = family.client_id == client.id
            && family.revoked_at.is_none()
            && row.used_at.is_none()
            && row.expires_at > now
            && family.expires_at > now;
        Ok(live.then(|| {
            json!({
                "active": true,
                "scope": family.scope,
                "client_id": family.client_id,
                "sub": family.user_id,
                "iss": self.issuer.as_str(),
                "iat": row.created_at.timestamp(),
                "exp": row.expires_at.timestamp(),
            })
        }))
    }

    /// RFC 7009: revokes a refresh token (and with it its grant, so the access tokens from it
    /// stop too) or an access token. Unknown or invalid tokens are not an error (§2.2).
    pub async fn revoke(
        &self,
        client: &Client,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<(), OAuthError> {
        let not_yours =
            || OAuthError::unauthorized_client("the token was issued to another client");
        if let Some(secret) = SecretToken::from_client(token) {
            let Some(row) = refresh_token::Entity::find_by_id(secret.hash())
                .one(self.db.read())
                .await?
            else {
                return Ok(());
            };
            if let Some(family) = grant::Entity::find_by_id(row.grant_id.as_str())
                .one(self.db.read())
                .await?
            {
                if family.client_id != client.id {
                    return Err(not_yours());
                }
                self.revoke_grant(&GrantId::from(family.id.as_str()), "revoked_by_client", now)
                    .await?;
            }
            return Ok(());
        }
        let expect = Expectations {
            token_type: ACCESS_TOKEN_TYPE,
            audience: Audience::CheckedByCaller,
            issuer: self.issuer.as_str(),
        };
        let Ok(verified) = self.keys.load().verify::<AccessClaims>(token, &expect, now) else {
            return Ok(());
        };
        if verified.claims.client_id != client.id {
            return Err(not_yours());
        }
        let writer = self.db.write().await;
        revoked_token::Entity::insert(revoked_token::ActiveModel {
            jti: Set(verified.claims.jti.clone()),
            revoked_at: Set(now),
            expires_at: Set(verified.expires_at),
        })
        .on_conflict(
            OnConflict::column(revoked_token::Column::Jti)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(&*writer)
        .await?;
        self.revocations
            .add_token(&verified.claims.jti, verified.expires_at);
        tracing::info!(client = %client.id, jti = %verified.claims.jti, "access token revoked");
        Ok(())
    }
}

fn inactive() -> Value {
    json!({ "active": false })
}

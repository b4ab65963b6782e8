//! `grant_type=authorization_code` (RFC 6749 §4.1.3, RFC 7636 §4.6).

use chrono::{DateTime, TimeZone, Utc};
use latchkey_core::GrantId;
use latchkey_keys::MasterKey;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ActiveValue::Set, EntityTrait};

use crate::client::{Client, GrantType};
use crate::code::{self, CodeClaims};
use crate::entities::{grant, used_code};
use crate::error::OAuthError;
use crate::pkce;
use crate::scope::{OFFLINE_ACCESS, Scopes};
use crate::tokens::TokenResponse;
use latchkey_core::secret::{SecretToken, sha256_hex};

use crate::mint::IssuedFor;
use crate::provider::Provider;

/// The parameters of a code exchange.
pub(crate) struct Exchange<'a> {
    pub(crate) code: Option<&'a str>,
    pub(crate) redirect_uri: Option<&'a str>,
    pub(crate) code_verifier: Option<&'a str>,
    /// RFC 8707: the resource the access token is for. It must be the one the authorization
    /// request named, if it named one.
    pub(crate) resource: Option<&'a str>,
}

impl Provider {
    /// `grant_type=authorization_code` (RFC 6749 §4.1.3, RFC 7636 §4.6). Every check is made
    /// before the code is spent, so a wrong attempt does not burn the rightful client's code.
    pub(crate) async fn exchange_code(
        &self,
        client: &Client,
        exchange: Exchange<'_>,
        now: DateTime<Utc>,
    ) -> Result<TokenResponse, OAuthError> {
        let Exchange {
            code,
            redirect_uri,
            code_verifier,
            resource,
        } = exchange;
        client.require_grant(GrantType::AuthorizationCode)?;
        let code = code.ok_or_else(|| OAuthError::invalid_request("code is missing"))?;
        let (mut claims, auth_time) = open_code(&self.master_key, client, code)?;
        let redirect_uri =
            redirect_uri.ok_or_else(|| OAuthError::invalid_request("redirect_uri is missing"))?;
        if redirect_uri != claims.redirect_uri {
            return Err(OAuthError::invalid_grant(
                "redirect_uri must be the one sent in the authorization request",
            ));
        }
        check_verifier(claims.code_challenge.as_deref(), code_verifier)?;
        // Only now, with the client's whole proof checked (a public client's is its
        // verifier), may a late replay revoke what the code gave.
        self.check_unexpired(&claims, auth_time, now).await?;
        let scopes = Scopes::parse(&claims.scope).unwrap_or_default();
        // A replay is a replay whatever else is wrong with it: caught before the resource is
        // judged, so naming another resource cannot dodge the revocation.
        if used_code::Entity::find_by_id(sha256_hex(claims.id.as_bytes()))
            .one(self.db.read())
            .await?
            .is_some()
        {
            self.revoke_code_grant(&claims, auth_time, "code_replay", now)
                .await?;
            return Err(replayed());
        }
        let resource = match (claims.resource.as_deref(), resource) {
            (Some(authorized), Some(asked)) if authorized != asked => {
                return Err(OAuthError::invalid_target(format!(
                    "the authorization request was for resource {authorized:?}, not {asked:?}"
                )));
            }
            (authorized, asked) => authorized.or(asked),
        };
        let audience = self.audience(client, resource, &scopes).await?;
        claims.resource = audience.resource.clone();
        let refresh = (scopes.contains(OFFLINE_ACCESS) && client.allows(GrantType::RefreshToken))
            .then(SecretToken::generate);
        self.spend_code(&claims, auth_time, refresh.as_ref(), now)
            .await?;
        tracing::info!(client = %client.id, user = %claims.user_id, grant = %claims.grant_id, "code exchanged");

        let session = IssuedFor {
            user_id: &claims.user_id,
            email: &claims.email,
            grant_id: &claims.grant_id,
            auth_time,
            sid: &claims.sid,
            nonce: claims.nonce.as_deref(),
            team_id: claims.team_id.as_deref(),
            audience,
            account: None,
        };
        self.user_tokens(client, &scopes, &session, refresh, now)
            .await
    }

    /// Refuses an expired code. A late replay of a spent code is still a replay: spent codes
    /// are remembered for a day, and the grant is revoked.
    async fn check_unexpired(
        &self,
        claims: &CodeClaims,
        auth_time: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), OAuthError> {
        if claims.exp > now.timestamp() {
            return Ok(());
        }
        let spent = used_code::Entity::find_by_id(sha256_hex(claims.id.as_bytes()))
            .one(self.db.read())
            .await?;
        if spent.is_none() {
            return Err(OAuthError::invalid_grant("the code has expired"));
        }
        self.revoke_code_grant(claims, auth_time, "code_replay", now)
            .await?;
        Err(replayed())
    }

    /// Spends the code: of concurrent exchanges only one inserts its id. A grant row is
    /// written only when a refresh token needs one; access tokens carry the grant id, so
    /// revoking it (on a replay) still ends them.
    async fn spend_code(
        &self,
        claims: &CodeClaims,
        auth_time: DateTime<Utc>,
        refresh: Option<&SecretToken>,
        now: DateTime<Utc>,
    ) -> Result<(), OAuthError> {
        let writer = self.db.write().await;
        let spent = used_code::Entity::insert(used_code::ActiveModel {
            id_hash: Set(sha256_hex(claims.id.as_bytes())),
            expires_at: Set(now + self.settings.code_ttl),
        })
        .on_conflict(
            OnConflict::column(used_code::Column::IdHash)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(&*writer)
        .await?;
        if spent != 1 {
            drop(writer);
            self.revoke_code_grant(claims, auth_time, "code_replay", now)
                .await?;
            return Err(replayed());
        }
        let Some(refresh) = refresh else {
            return Ok(());
        };
        let grant_expires_at = now + self.settings.refresh_max_ttl;
        let inserted = grant::Entity::insert(grant_row(claims, auth_time, grant_expires_at, now))
            .on_conflict(
                OnConflict::column(grant::Column::Id)
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(&*writer)
            .await?;
        if inserted != 1 {
            // A replay revoked the grant between spending the code and writing it.
            return Err(OAuthError::invalid_grant(
                "the code was used twice; its tokens are revoked",
            ));
        }
        self.insert_refresh(&*writer, refresh, &claims.grant_id, grant_expires_at, now)
            .await?;
        Ok(())
    }

    /// Revokes the grant a replayed code gave. The grant has a row only if a refresh token
    /// was issued; otherwise a revoked row is written, which is what access tokens are
    /// checked against.
    pub(crate) async fn revoke_code_grant(
        &self,
        claims: &CodeClaims,
        auth_time: DateTime<Utc>,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<(), sea_orm::DbErr> {
        // One upsert, so it cannot interleave with the first exchange writing the grant:
        // whichever comes second finds the other's row.
        let mut row = grant_row(claims, auth_time, now + self.settings.access_token_ttl, now);
        row.revoked_at = Set(Some(now));
        row.revoked_reason = Set(Some(reason.to_owned()));
        let keep_first = |column: &str| {
            Expr::cust(format!(
                "COALESCE(\"grants\".\"{column}\", excluded.\"{column}\")"
            ))
        };
        let writer = self.db.write().await;
        grant::Entity::insert(row)
            .on_conflict(
                OnConflict::column(grant::Column::Id)
                    .value(grant::Column::RevokedAt, keep_first("revoked_at"))
                    .value(grant::Column::RevokedReason, keep_first("revoked_reason"))
                    .to_owned(),
            )
            .exec_without_returning(&*writer)
            .await?;
        drop(writer);
        self.revocations
            .add_grant(&GrantId::from(claims.grant_id.as_str()), now);
        tracing::warn!(grant = %claims.grant_id, reason, "grant revoked");
        metrics::counter!("oauth_grants_revoked_total", "reason" => reason.to_owned()).increment(1);
        Ok(())
    }
}

/// The grant a code gives, as a row.
pub(crate) fn grant_row(
    claims: &CodeClaims,
    auth_time: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> grant::ActiveModel {
    grant::ActiveModel {
        id: Set(claims.grant_id.clone()),
        client_id: Set(claims.client_id.clone()),
        user_id: Set(claims.user_id.clone()),
        scope: Set(claims.scope.clone()),
        auth_time: Set(auth_time),
        sid: Set(claims.sid.clone()),
        created_at: Set(now),
        expires_at: Set(expires_at),
        revoked_at: Set(None),
        revoked_reason: Set(None),
        team_id: Set(claims.team_id.clone()),
        resource: Set(claims.resource.clone()),
    }
}

/// The code's claims, if it is sealed by this provider and this client's.
fn open_code(
    master_key: &MasterKey,
    client: &Client,
    code: &str,
) -> Result<(CodeClaims, DateTime<Utc>), OAuthError> {
    let claims = code::open(master_key, code)
        .ok_or_else(|| OAuthError::invalid_grant("the code is not valid"))?;
    if claims.client_id != client.id {
        return Err(OAuthError::invalid_grant(
            "the code was issued to another client",
        ));
    }
    let auth_time = Utc
        .timestamp_opt(claims.auth_time, 0)
        .single()
        .ok_or_else(|| OAuthError::invalid_grant("the code is not valid"))?;
    Ok((claims, auth_time))
}

fn replayed() -> OAuthError {
    OAuthError::invalid_grant("the code was already used; the tokens issued with it are revoked")
}

/// PKCE (RFC 7636 §4.6): a verifier exactly when the request had a challenge, and matching it.
fn check_verifier(challenge: Option<&str>, verifier: Option<&str>) -> Result<(), OAuthError> {
    match (challenge, verifier) {
        (None, None) => Ok(()),
        (None, Some(_)) => Err(OAuthError::invalid_grant(
            "code_verifier was sent but the authorization request had no code_challenge",
        )),
        (Some(_), None) => Err(OAuthError::invalid_grant("code_verifier is missing")),
        (Some(challenge), Some(verifier)) if !pkce::verifies(verifier, challenge) => Err(
            OAuthError::invalid_grant("code_verifier does not match the code_challenge"),
        ),
        (Some(_), Some(_)) => Ok(()),
    }
}

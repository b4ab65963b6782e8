//! `grant_type=refresh_token` (RFC 6749 §6), rotated on every use.

use chrono::{DateTime, Utc};
use latchkey_core::GrantId;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::client::{Client, GrantType};
use crate::entities::{grant, refresh_token};
use crate::error::OAuthError;
use crate::scope::Scopes;
use crate::tokens::TokenResponse;
use latchkey_core::secret::SecretToken;
use latchkey_teams::Teams;

use crate::mint::IssuedFor;
use crate::provider::Provider;

impl Provider {
    /// `grant_type=refresh_token` (RFC 6749 §6): the token is rotated on every use; using a
    /// rotated token again revokes its whole family (RFC 9700 §4.14.2).
    pub(crate) async fn refresh(
        &self,
        client: &Client,
        token: Option<&str>,
        scope: Option<&str>,
        resource: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<TokenResponse, OAuthError> {
        client.require_grant(GrantType::RefreshToken)?;
        let token = token.ok_or_else(|| OAuthError::invalid_request("refresh_token is missing"))?;
        let (row, family) = self.live_family(client, token, now).await?;
        let granted = Scopes::parse(&family.scope).unwrap_or_default();
        let scopes = Scopes::narrow(scope, granted, |extra| format!("{extra:?} was not granted"))?;
        let account = self.account(&family.user_id).await?;
        if let Some(team) = &family.team_id
            && Teams::role_of(
                self.db.read(),
                &team.as_str().into(),
                &account.id.as_str().into(),
            )
            .await
            .map_err(OAuthError::internal)?
            .is_none()
        {
            self.revoke_grant(&GrantId::from(family.id.as_str()), "member_removed", now)
                .await?;
            return Err(OAuthError::invalid_grant(
                "the person is no longer a member of the team this token was issued for",
            ));
        }
        // RFC 8707 §2.2: a refresh may ask for another resource, within the granted scopes;
        // by default it is for the grant's. Checked before the token is rotated.
        let audience = self
            .audience(client, resource.or(family.resource.as_deref()), &scopes)
            .await?;
        let next = self.rotate(&row, &family, now).await?;
        let session = IssuedFor {
            user_id: &account.id,
            email: &account.email,
            grant_id: &family.id,
            auth_time: family.auth_time,
            sid: &family.sid,
            nonce: None,
            team_id: family.team_id.as_deref(),
            audience,
            account: Some(&account),
        };
        self.user_tokens(client, &scopes, &session, Some(next), now)
            .await
    }

    /// The token's row and its family, if both are this client's and alive. A token used
    /// before revokes its family.
    async fn live_family(
        &self,
        client: &Client,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<(refresh_token::Model, grant::Model), OAuthError> {
        let invalid = || OAuthError::invalid_grant("the refresh token is not valid");
        let token = SecretToken::from_client(token).ok_or_else(invalid)?;
        let row = refresh_token::Entity::find_by_id(token.hash())
            .one(self.db.read())
            .await?
            .ok_or_else(invalid)?;
        let family = grant::Entity::find_by_id(row.grant_id.as_str())
            .one(self.db.read())
            .await?
            .ok_or_else(invalid)?;
        if family.client_id != client.id {
            return Err(OAuthError::invalid_grant(
                "the refresh token was issued to another client",
            ));
        }
        if family.revoked_at.is_some() {
            return Err(OAuthError::invalid_grant(
                "the refresh token has been revoked",
            ));
        }
        if row.used_at.is_some() {
            return Err(self.reused(family_of(&family), now).await?);
        }
        if row.expires_at <= now || family.expires_at <= now {
            return Err(OAuthError::invalid_grant("the refresh token has expired"));
        }
        Ok((row, family))
    }

    /// Marks the token used and stores its successor, in one transaction; of two concurrent
    /// uses only one marks it, and the other revokes the family.
    async fn rotate(
        &self,
        row: &refresh_token::Model,
        family: &grant::Model,
        now: DateTime<Utc>,
    ) -> Result<SecretToken, OAuthError> {
        let next = SecretToken::generate();
        let txn = self.db.transaction().await?;
        let consumed = refresh_token::Entity::update_many()
            .col_expr(refresh_token::Column::UsedAt, Expr::value(now))
            .filter(refresh_token::Column::TokenHash.eq(row.token_hash.as_str()))
            .filter(refresh_token::Column::UsedAt.is_null())
            .exec(&*txn)
            .await?;
        if consumed.rows_affected != 1 {
            txn.rollback().await?;
            return Err(self.reused(family_of(family), now).await?);
        }
        self.insert_refresh(&*txn, &next, &family.id, family.expires_at, now)
            .await?;
        txn.commit().await?;
        Ok(next)
    }

    /// A used token came again: whoever holds its family is not the client alone, so the
    /// family is revoked (RFC 9700 §4.14.2).
    async fn reused(&self, family: GrantId, now: DateTime<Utc>) -> Result<OAuthError, OAuthError> {
        self.revoke_grant(&family, "refresh_token_reuse", now)
            .await?;
        Ok(OAuthError::invalid_grant(
            "the refresh token was already used; every token of its family is now revoked",
        ))
    }
}

fn family_of(family: &grant::Model) -> GrantId {
    GrantId::from(family.id.as_str())
}

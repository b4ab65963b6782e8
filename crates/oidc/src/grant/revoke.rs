//! Ending a grant: its refresh tokens stop at once, its access tokens at the next check.

use chrono::{DateTime, Utc};
use latchkey_core::GrantId;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::entities::grant;
use crate::provider::Provider;

impl Provider {
    /// Revokes a grant: its refresh tokens stop working at once, and its access tokens fail
    /// introspection and userinfo.
    pub async fn revoke_grant(
        &self,
        grant_id: &GrantId,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<(), sea_orm::DbErr> {
        let writer = self.db.write().await;
        let revoked = grant::Entity::update_many()
            .col_expr(grant::Column::RevokedAt, Expr::value(now))
            .col_expr(grant::Column::RevokedReason, Expr::value(reason))
            .filter(grant::Column::Id.eq(grant_id))
            .filter(grant::Column::RevokedAt.is_null())
            .exec(&*writer)
            .await?;
        self.revocations.add_grant(grant_id, now);
        if revoked.rows_affected > 0 {
            tracing::warn!(grant = %grant_id, reason, "grant revoked");
            metrics::counter!("oauth_grants_revoked_total", "reason" => reason.to_owned())
                .increment(1);
        }
        Ok(())
    }

    /// Revokes every grant a person holds (their refresh tokens, and the access tokens issued
    /// from them), for "sign out everywhere": a stolen refresh token stops working with the
    /// sessions. Returns how many.
    pub async fn revoke_grants_of(
        &self,
        user_id: &latchkey_core::UserId,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<usize, sea_orm::DbErr> {
        let live = grant::Entity::find()
            .filter(grant::Column::UserId.eq(user_id.as_str()))
            .filter(grant::Column::RevokedAt.is_null())
            .all(self.db.read())
            .await?;
        for family in &live {
            self.revoke_grant(&GrantId::from(family.id.as_str()), reason, now)
                .await?;
        }
        Ok(live.len())
    }
}

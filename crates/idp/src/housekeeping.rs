//! Deletes what has expired: pending authorization requests, codes, refresh tokens and grants,
//! revocation and replay records, old links and sessions. Every replica may run it; the
//! deletes are idempotent.

use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};

use crate::entities::{login_link, session};
use crate::oauth::entities::{
    authorization_request, grant, refresh_token, revoked_token, seen_assertion, used_code,
};

/// Spent codes and used links are kept this long past their expiry, so a late replay is still
/// recognised as one (and revokes what the code gave) rather than met as unknown.
const KEEP_AFTER_EXPIRY: TimeDelta = TimeDelta::days(1);

/// Deletes every expired row; returns how many went.
pub async fn sweep(db: &DatabaseConnection, now: DateTime<Utc>) -> Result<u64, sea_orm::DbErr> {
    let long_ago = now - KEEP_AFTER_EXPIRY;
    let mut deleted = 0;
    deleted += authorization_request::Entity::delete_many()
        .filter(authorization_request::Column::ExpiresAt.lt(now))
        .exec(db)
        .await?
        .rows_affected;
    deleted += used_code::Entity::delete_many()
        .filter(used_code::Column::ExpiresAt.lt(long_ago))
        .exec(db)
        .await?
        .rows_affected;
    deleted += refresh_token::Entity::delete_many()
        .filter(refresh_token::Column::ExpiresAt.lt(now))
        .exec(db)
        .await?
        .rows_affected;
    deleted += grant::Entity::delete_many()
        .filter(grant::Column::ExpiresAt.lt(now))
        .exec(db)
        .await?
        .rows_affected;
    deleted += revoked_token::Entity::delete_many()
        .filter(revoked_token::Column::ExpiresAt.lt(now))
        .exec(db)
        .await?
        .rows_affected;
    deleted += seen_assertion::Entity::delete_many()
        .filter(seen_assertion::Column::ExpiresAt.lt(now))
        .exec(db)
        .await?
        .rows_affected;
    deleted += login_link::Entity::delete_many()
        .filter(login_link::Column::ExpiresAt.lt(long_ago))
        .exec(db)
        .await?
        .rows_affected;
    deleted += session::Entity::delete_many()
        .filter(session::Column::ExpiresAt.lt(long_ago))
        .exec(db)
        .await?
        .rows_affected;
    Ok(deleted)
}

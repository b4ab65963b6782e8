//! What the OpenID provider keeps, deleted once it has expired: pending authorization
//! requests, spent codes, refresh tokens and grants, and revocation and replay records.

use chrono::{DateTime, Utc};
use latchkey_core::Db;
use latchkey_core::sweep::{KEEP_AFTER_EXPIRY, delete_before};

use crate::entities::{
    authorization_request, grant, refresh_token, revoked_token, seen_assertion, used_code,
};

/// Deletes every expired row of the provider's tables; how many went.
pub async fn sweep_expired(db: &Db, now: DateTime<Utc>) -> Result<u64, sea_orm::DbErr> {
    Ok(
        delete_before(db, authorization_request::Column::ExpiresAt, now).await?
            + delete_before(db, used_code::Column::ExpiresAt, now - KEEP_AFTER_EXPIRY).await?
            + delete_before(db, refresh_token::Column::ExpiresAt, now).await?
            + delete_before(db, grant::Column::ExpiresAt, now).await?
            + delete_before(db, revoked_token::Column::ExpiresAt, now).await?
            + delete_before(db, seen_assertion::Column::ExpiresAt, now).await?,
    )
}

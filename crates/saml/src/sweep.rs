//! Kept sign-ons and logout request IDs, deleted once they can no longer be answered or
//! replayed.

use chrono::{DateTime, Utc};
use latchkey_core::Db;
use latchkey_core::sweep::delete_before;

use crate::entities::pending_request;

/// Deletes every expired kept request; how many went.
pub async fn sweep_expired(db: &Db, now: DateTime<Utc>) -> Result<u64, sea_orm::DbErr> {
    delete_before(db, pending_request::Column::ExpiresAt, now).await
}

//! Kept sign-ons and logout request IDs, deleted once they can no longer be answered or
//! replayed; which SPs each session signed in to, once the session can no longer be live; and single
//! logouts, once their page is no longer offered.

use chrono::{DateTime, Utc};
use latchkey_core::Db;
use latchkey_core::sweep::delete_before;

use crate::entities::{logout_chain, pending_request, sign_on_record};

/// Deletes every expired kept request, sign-on record and logout chain; how many went.
pub async fn sweep_expired(db: &Db, now: DateTime<Utc>) -> Result<u64, sea_orm::DbErr> {
    Ok(
        delete_before(db, pending_request::Column::ExpiresAt, now).await?
            + delete_before(db, sign_on_record::Column::ExpiresAt, now).await?
            + delete_before(db, logout_chain::Column::ExpiresAt, now).await?,
    )
}

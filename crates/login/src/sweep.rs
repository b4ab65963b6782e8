//! What sign-in keeps, deleted once it has expired: links, mail, sessions, and per-address
//! counters whose window is over.

use chrono::{DateTime, TimeDelta, Utc};
use latchkey_core::Db;
use latchkey_core::sweep::{KEEP_AFTER_EXPIRY, delete_before};

use crate::entities::{address_limit, login_link, mail_outbox, session};

/// Deletes every expired row of sign-in's tables; how many went. `link_window` is the
/// per-address link limit's window: a counter older than it (or than the day of wrong codes)
/// counts nothing any more.
pub async fn sweep_expired(
    db: &Db,
    now: DateTime<Utc>,
    link_window: TimeDelta,
) -> Result<u64, sea_orm::DbErr> {
    let long_ago = now - KEEP_AFTER_EXPIRY;
    let longest_window = link_window.max(crate::WRONG_CODES_WINDOW);
    Ok(
        delete_before(db, login_link::Column::ExpiresAt, long_ago).await?
            + delete_before(db, mail_outbox::Column::ExpiresAt, long_ago).await?
            + delete_before(db, session::Column::ExpiresAt, long_ago).await?
            + delete_before(
                db,
                address_limit::Column::WindowStartedAt,
                now - longest_window,
            )
            .await?,
    )
}

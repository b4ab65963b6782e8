//! Deletes what has expired: pending authorization requests, codes, refresh tokens and grants,
//! revocation and replay records, old links, mail and sessions, sign-ins sent to teams' identity
//! providers, and per-address counters whose window is over. Every replica may run it; the deletes are idempotent.

use chrono::{DateTime, TimeDelta, Utc};
use latchkey_core::Db;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use latchkey_login::entities::{address_limit, login_link, mail_outbox, session};
use latchkey_oidc::entities::{
    authorization_request, grant, refresh_token, revoked_token, seen_assertion, used_code,
};
use latchkey_oidc::upstream::entities::upstream_login;

/// Spent codes and used links are kept this long past their expiry, so a late replay is still
/// recognised as one (and revokes what the code gave) rather than met as unknown.
const KEEP_AFTER_EXPIRY: TimeDelta = TimeDelta::days(1);

/// Deletes every expired row; returns how many went. `longest_window` is the longest window
/// a per-address counter runs for: a counter older than that counts nothing any more.
pub async fn sweep(
    db: &Db,
    now: DateTime<Utc>,
    longest_window: TimeDelta,
) -> Result<u64, sea_orm::DbErr> {
    let long_ago = now - KEEP_AFTER_EXPIRY;
    Ok(
        expired(db, authorization_request::Column::ExpiresAt, now).await?
            + expired(db, used_code::Column::ExpiresAt, long_ago).await?
            + expired(db, refresh_token::Column::ExpiresAt, now).await?
            + expired(db, grant::Column::ExpiresAt, now).await?
            + expired(db, revoked_token::Column::ExpiresAt, now).await?
            + expired(db, seen_assertion::Column::ExpiresAt, now).await?
            + expired(db, login_link::Column::ExpiresAt, long_ago).await?
            + expired(db, mail_outbox::Column::ExpiresAt, long_ago).await?
            + expired(db, session::Column::ExpiresAt, long_ago).await?
            + expired(db, upstream_login::Column::ExpiresAt, now).await?
            + expired(
                db,
                latchkey_saml::entities::pending_request::Column::ExpiresAt,
                now,
            )
            .await?
            + expired(
                db,
                address_limit::Column::WindowStartedAt,
                now - longest_window,
            )
            .await?,
    )
}

/// Deletes the rows of `column`'s table whose `column` is before `before`.
async fn expired<C>(db: &Db, column: C, before: DateTime<Utc>) -> Result<u64, sea_orm::DbErr>
where
    C: ColumnTrait,
    C::EntityName: EntityTrait,
{
    let deleted = <C::EntityName as EntityTrait>::delete_many()
        .filter(column.lt(before))
        // Each table in a turn of its own, so requests write between them.
        .exec(&*db.write().await)
        .await?;
    Ok(deleted.rows_affected)
}

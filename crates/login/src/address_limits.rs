//! Counters per address and window, kept in the database (`address_limits`) so a limit holds
//! across replicas: the links mailed to an address, and the wrong codes typed for it.

use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, OnConflict};
use sea_orm::{ActiveValue::Set, ConnectionTrait, DbErr, EntityTrait};

use crate::entities::address_limit;
use latchkey_core::secret::sha256_hex;

/// Wrong codes one address may have typed for it in [`WRONG_CODES_WINDOW`]. Each link takes
/// five before it is void, but anyone can ask for new links: past this, only the link works.
pub const MAX_WRONG_CODES: i64 = 10;
pub const WRONG_CODES_WINDOW: TimeDelta = TimeDelta::hours(24);

/// Counts each key's new events (key, how many) against its window in one upsert, a row per
/// key (a window that has run out starts again), returning each key's count. An event past
/// the limit is counted too, which changes nothing until the window runs out.
pub(crate) fn count_in_window(
    asked: &[(&str, i64)],
    window: TimeDelta,
    now: DateTime<Utc>,
) -> sea_orm::InsertMany<address_limit::ActiveModel> {
    use address_limit::{Column, Entity};
    let window_over = Expr::col((Entity, Column::WindowStartedAt)).lte(now - window);
    let new_events = Expr::col((Alias::new("excluded"), Column::Count));
    Entity::insert_many(asked.iter().map(|&(key, n)| address_limit::ActiveModel {
        email_hash: Set(key.to_owned()),
        window_started_at: Set(now),
        count: Set(n),
    }))
    .on_conflict(
        OnConflict::column(Column::EmailHash)
            .value(
                Column::Count,
                Expr::case(window_over.clone(), new_events.clone())
                    .finally(Expr::col((Entity, Column::Count)).add(new_events)),
            )
            .value(
                Column::WindowStartedAt,
                Expr::case(window_over, Expr::value(now))
                    .finally(Expr::col((Entity, Column::WindowStartedAt))),
            )
            .to_owned(),
    )
}

/// The counter of wrong codes for an address: apart from its link counter.
fn wrong_codes_key(email: &str) -> String {
    sha256_hex(format!("wrong-codes:{email}").as_bytes())
}

/// Whether the address has used up its wrong codes for now.
pub(crate) async fn codes_exhausted<C: ConnectionTrait>(
    conn: &C,
    email: &str,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let counted = address_limit::Entity::find_by_id(wrong_codes_key(email))
        .one(conn)
        .await?;
    Ok(counted.is_some_and(|c| {
        c.window_started_at > now - WRONG_CODES_WINDOW && c.count >= MAX_WRONG_CODES
    }))
}

/// Counts a wrong code typed for the address; returns how many it has now in the window.
pub(crate) async fn count_wrong_code<C: ConnectionTrait>(
    conn: &C,
    email: &str,
    now: DateTime<Utc>,
) -> Result<i64, DbErr> {
    let key = wrong_codes_key(email);
    let counted = count_in_window(&[(&key, 1)], WRONG_CODES_WINDOW, now)
        .exec_with_returning(conn)
        .await?;
    Ok(counted.first().map_or(1, |c| c.count))
}

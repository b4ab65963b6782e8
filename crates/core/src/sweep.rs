//! Deleting what has expired. Each crate sweeps its own tables (`sweep_expired` in each);
//! the server schedules them. Every replica may run them: the deletes are idempotent.

use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::{ColumnTrait, DbErr, EntityTrait, QueryFilter};

use crate::Db;

/// Spent codes and used links are kept this long past their expiry, so a late replay is still
/// recognised as one (and revokes what the code gave) rather than met as unknown.
pub const KEEP_AFTER_EXPIRY: TimeDelta = TimeDelta::days(1);

/// Deletes the rows of `column`'s table whose `column` is before `before`; how many went.
pub async fn delete_before<C>(db: &Db, column: C, before: DateTime<Utc>) -> Result<u64, DbErr>
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

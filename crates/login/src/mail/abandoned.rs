//! Delivery rounds a database error cut short. Their mails stay leased to the round, so no
//! other worker takes them until the lease runs out (a minute). This process remembers what
//! such a round left behind: once the database answers again it marks what went out as
//! sent, so it is never sent twice, and hands back what did not, so it goes out at once
//! rather than when the lease runs out. A process that dies forgets, and the lease covers
//! it as before.

use std::sync::Mutex;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DbErr, EntityTrait, QueryFilter};

use super::outbox::finish;
use crate::entities::mail_outbox;
use latchkey_core::Db;

/// Rounds remembered at most; past this the oldest is left to its lease.
const REMEMBERED: usize = 1024;

/// What one round left: mails it sent but could not mark, and the rest of its group.
struct Abandoned {
    round: String,
    sent: Vec<String>,
    unsent: Vec<String>,
}

#[derive(Default)]
pub(super) struct AbandonedRounds(Mutex<Vec<Abandoned>>);

impl AbandonedRounds {
    /// Remembers a group of `round` that a database error stopped: `sent` went out over
    /// SMTP, the rest of `group` did not.
    pub fn add(&self, round: &str, group: &[String], sent: &[String]) {
        let unsent = group
            .iter()
            .filter(|id| !sent.contains(id))
            .cloned()
            .collect();
        let mut rounds = self.lock();
        if rounds.len() == REMEMBERED {
            rounds.remove(0);
        }
        rounds.push(Abandoned {
            round: round.to_owned(),
            sent: sent.to_vec(),
            unsent,
        });
    }

    /// Settles every remembered round; what the database refuses now is kept for next time.
    /// Returns how many mails were handed back.
    pub async fn settle(&self, db: &Db, now: DateTime<Utc>) -> Result<u64, DbErr> {
        let rounds = std::mem::take(&mut *self.lock());
        let mut released = 0;
        let mut rest = rounds.into_iter();
        while let Some(abandoned) = rest.next() {
            match settle_one(db, &abandoned, now).await {
                Ok(count) => released += count,
                Err(error) => {
                    let mut rounds = self.lock();
                    rounds.push(abandoned);
                    rounds.extend(rest);
                    return Err(error);
                }
            }
        }
        Ok(released)
    }

    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Abandoned>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Both statements only touch mails the round still holds: once its lease ran out another
/// worker may have taken them, and they are that worker's.
async fn settle_one(db: &Db, abandoned: &Abandoned, now: DateTime<Utc>) -> Result<u64, DbErr> {
    let (sent, round) = (&abandoned.sent, abandoned.round.as_str());
    finish(db, sent, round, mail_outbox::Column::SentAt, now).await?;
    if abandoned.unsent.is_empty() {
        return Ok(0);
    }
    let writer = db.write().await;
    Ok(mail_outbox::Entity::update_many()
        .col_expr(
            mail_outbox::Column::ClaimedUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .filter(mail_outbox::Column::Id.is_in(abandoned.unsent.iter().map(String::as_str)))
        .filter(mail_outbox::Column::ClaimedBy.eq(round))
        .filter(mail_outbox::Column::SentAt.is_null())
        .filter(mail_outbox::Column::DroppedAt.is_null())
        .exec(&*writer)
        .await?
        .rows_affected)
}

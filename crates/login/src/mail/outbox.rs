use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use futures_util::{StreamExt, stream};
use latchkey_keys::MasterKey;
use lettre::message::{Mailbox, MultiPart};
use lettre::{Address, Message};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, Condition, EntityTrait, QueryFilter, QuerySelect};
use tokio::sync::{Notify, watch};

use super::MailSettings;
use super::abandoned::AbandonedRounds;
use super::recovery::Recovery;
use super::send::{self, SendFailure};
use super::templates::RenderedMail;
use crate::entities::mail_outbox;
use latchkey_core::email::Email;
use latchkey_core::{Clock, Db};

/// The most mails one delivery round claims.
const BATCH: u64 = 64;
/// Mails re-leased, sent and marked together.
const GROUP: usize = 8;
/// How long one worker owns a mail it is sending before another may try it.
const CLAIM: TimeDelta = TimeDelta::seconds(60);
/// How long a group's sends may take before what has gone out is marked: well within the
/// lease, so that no mail this round sent can be claimed, and sent again, by another.
const SEND_WITHIN: Duration = Duration::from_secs(45);
/// The longest wait between two attempts at one mail: what mail announces expires within
/// minutes (a magic link in 10), so a mail server back after an outage should not find its
/// backlog waiting longer than this.
const MAX_BACKOFF_SECS: i64 = 60;

#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error("database: {0}")]
    Database(#[from] sea_orm::DbErr),
    #[error("building the mail: {0}")]
    Build(String),
    #[error("sealing the mail: {0}")]
    Seal(#[from] latchkey_keys::MasterKeyError),
}

/// The durable outbox: mail is written with the change it announces and sent later, with
/// retries, by whichever replica claims it first.
#[derive(Clone)]
pub struct Outbox {
    db: Db,
    master_key: Arc<MasterKey>,
    settings: MailSettings,
    wake: Arc<Notify>,
    /// When a send last failed, and when waiting mail was last made due: see
    /// [`Outbox::after_a_send_succeeded`].
    recovery: Arc<Recovery>,
    /// Rounds a database error cut short, settled once it answers again.
    abandoned: Arc<AbandonedRounds>,
    clock: Clock,
}

impl Outbox {
    pub fn new(db: Db, master_key: Arc<MasterKey>, settings: MailSettings, clock: Clock) -> Self {
        Self {
            db,
            master_key,
            settings,
            wake: Arc::new(Notify::new()),
            recovery: Arc::default(),
            abandoned: Arc::default(),
            clock,
        }
    }

    /// Builds a multipart (text + HTML) message to `to`.
    pub fn message(&self, to: &Email, mail: RenderedMail) -> Result<Message, OutboxError> {
        let address: Address = to
            .as_str()
            .parse()
            .map_err(|e| OutboxError::Build(format!("{e}")))?;
        Message::builder()
            .from(self.settings.from.clone())
            .to(Mailbox::new(None, address))
            .subject(mail.subject)
            .multipart(MultiPart::alternative_plain_html(mail.text, mail.html))
            .map_err(|e| OutboxError::Build(e.to_string()))
    }

    /// The outbox row for `message`, for the caller to write with the change it announces.
    /// It is sealed, since it carries a live credential, and dropped unsent after
    /// `expires_at`.
    pub fn seal(
        &self,
        message: &Message,
        recipient: &Email,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<mail_outbox::ActiveModel, OutboxError> {
        let id = uuid::Uuid::now_v7().to_string();
        let sealed = self.master_key.seal(&id, &message.formatted())?;
        Ok(mail_outbox::ActiveModel {
            id: Set(id),
            recipient: Set(recipient.to_string()),
            sealed_message: Set(Some(sealed)),
            created_at: Set(now),
            expires_at: Set(expires_at),
            attempts: Set(0),
            next_attempt_at: Set(now),
            claimed_until: Set(None),
            claimed_by: Set(None),
            sent_at: Set(None),
            dropped_at: Set(None),
            last_error: Set(None),
        })
    }

    /// Tells this process's worker there is mail to send now, rather than at its next tick.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Sends a batch of the mail that is due, returning how many mails it took up (a full
    /// batch means more may be waiting). A round claims its batch in one statement, so
    /// replicas never send a mail twice, then sends it a few mails at a time (side by side
    /// over SMTP), with a few statements per group rather than several per mail: on SQLite
    /// each statement waits its turn with the requests.
    pub async fn deliver_due(&self, now: DateTime<Utc>) -> Result<usize, OutboxError> {
        let due: Vec<String> = mail_outbox::Entity::find()
            .select_only()
            .column(mail_outbox::Column::Id)
            .filter(mail_outbox::Column::SentAt.is_null())
            .filter(mail_outbox::Column::DroppedAt.is_null())
            .filter(mail_outbox::Column::NextAttemptAt.lte(now))
            .filter(unclaimed(now))
            .limit(BATCH)
            .into_tuple()
            .all(self.db.read())
            .await?;
        if due.is_empty() {
            return Ok(0);
        }
        let round = uuid::Uuid::new_v4().to_string();
        let writer = self.db.write().await;
        let claimed = match mail_outbox::Entity::update_many()
            .col_expr(mail_outbox::Column::ClaimedUntil, Expr::value(now + CLAIM))
            .col_expr(mail_outbox::Column::ClaimedBy, Expr::value(round.as_str()))
            .col_expr(
                mail_outbox::Column::Attempts,
                sea_orm::sea_query::ExprTrait::add(Expr::col(mail_outbox::Column::Attempts), 1),
            )
            .filter(mail_outbox::Column::Id.is_in(due.iter().map(String::as_str)))
            .filter(mail_outbox::Column::SentAt.is_null())
            .filter(mail_outbox::Column::DroppedAt.is_null())
            .filter(unclaimed(now))
            .exec(&*writer)
            .await
        {
            Ok(claimed) => claimed.rows_affected,
            Err(error) => {
                // The claim may have been made even though its answer was lost.
                for group in due.chunks(GROUP) {
                    self.abandoned.add(&round, group, &[]);
                }
                return Err(error.into());
            }
        };
        drop(writer);
        if claimed == 0 {
            // Another replica claimed them first.
            return Ok(0);
        }
        let mut failed = None;
        for group in due.chunks(GROUP) {
            if let Err(error) = self.deliver_group(group, &round).await {
                // The other groups still go out; this one's mails are retried once their
                // lease runs out.
                failed = failed.or(Some(error));
            }
        }
        match failed {
            Some(error) => Err(error),
            None => Ok(usize::try_from(claimed).unwrap_or(usize::MAX)),
        }
    }

    /// Sends one group of this round's mails. The group is re-leased just before it is
    /// sent, and what went out is marked within `SEND_WITHIN`, both only while this round
    /// still holds it: a slow relay can never let another replica claim, and send again, a
    /// mail this round has sent. A send still running at the deadline is abandoned, and its
    /// mail retried once the lease runs out.
    async fn deliver_group(&self, group: &[String], round: &str) -> Result<(), OutboxError> {
        let now = self.clock.now();
        let deadline = tokio::time::Instant::now() + SEND_WITHIN;
        let held = match self.renew(group, round, now).await {
            Ok(held) => held,
            Err(error) => {
                self.abandoned.add(round, group, &[]);
                return Err(error);
            }
        };
        let mut sends = stream::iter(held)
            .map(|mail| {
                let id = mail.id.clone();
                async move { (id, self.deliver(mail, round, now).await) }
            })
            .buffer_unordered(self.settings.transport.sends_at_once());
        let (mut delivered, mut dropped, mut failed) = (Vec::new(), Vec::new(), None);
        loop {
            match tokio::time::timeout_at(deadline, sends.next()).await {
                Ok(Some((id, outcome))) => match outcome {
                    Ok(Delivery::Sent) => delivered.push(id),
                    Ok(Delivery::Dropped) => dropped.push(id),
                    Ok(Delivery::Retry) => {}
                    Err(error) => failed = failed.or(Some(error)),
                },
                Ok(None) => break,
                Err(_) => {
                    tracing::warn!(
                        sent = delivered.len(),
                        "mail outbox: sends still running near the end of their lease; \
                         they will be retried"
                    );
                    break;
                }
            }
        }
        drop(sends);
        // What was sent is marked even if scheduling a retry of another mail failed: left
        // unmarked, it would be sent again once the lease ran out.
        if let Err(error) = self
            .finish(
                &delivered,
                round,
                mail_outbox::Column::SentAt,
                self.clock.now(),
            )
            .await
        {
            self.abandoned.add(round, group, &delivered);
            return Err(error);
        }
        if let Err(error) = self
            .finish(&dropped, round, mail_outbox::Column::DroppedAt, now)
            .await
        {
            self.abandoned.add(round, group, &delivered);
            return Err(error);
        }
        if failed.is_some() {
            // A failed send whose retry could not be scheduled is still leased to this round.
            self.abandoned.add(round, group, &delivered);
        }
        if !delivered.is_empty()
            && let Err(error) = self.after_a_send_succeeded().await
        {
            // The waiting mail is still retried on its own backoff.
            tracing::warn!(%error, "mail outbox: making the waiting mail due failed");
        }
        failed.map_or(Ok(()), Err)
    }

    /// A send succeeded: if the mail server as a whole failed in the last two minutes, it is
    /// back, so every mail waiting on its backoff is made due now (at most once a second).
    /// Not just once: another replica may still be writing the backoff of sends it made while
    /// the server was down. A mail the server refused (a bad address, a full mailbox) does not
    /// count as the server failing, so such a mail never has the waiting mail retried early.
    async fn after_a_send_succeeded(&self) -> Result<(), OutboxError> {
        if self.recovery.release_backlog() {
            self.retry_backlog_now(self.clock.now()).await?;
        }
        Ok(())
    }

    /// Makes every unsent mail waiting on its backoff due now.
    async fn retry_backlog_now(&self, now: DateTime<Utc>) -> Result<(), OutboxError> {
        let writer = self.db.write().await;
        let released = mail_outbox::Entity::update_many()
            .col_expr(mail_outbox::Column::NextAttemptAt, Expr::value(now))
            .filter(mail_outbox::Column::SentAt.is_null())
            .filter(mail_outbox::Column::DroppedAt.is_null())
            .filter(mail_outbox::Column::NextAttemptAt.gt(now))
            .exec(&*writer)
            .await?
            .rows_affected;
        drop(writer);
        if released > 0 {
            tracing::info!(
                released,
                "mail server answers again: retrying the mail that waited"
            );
            self.wake();
        }
        Ok(())
    }

    /// Extends this round's lease on a group of mails, and returns those it still holds.
    async fn renew(
        &self,
        ids: &[String],
        round: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<mail_outbox::Model>, OutboxError> {
        let writer = self.db.write().await;
        Ok(mail_outbox::Entity::update_many()
            .col_expr(mail_outbox::Column::ClaimedUntil, Expr::value(now + CLAIM))
            .filter(mail_outbox::Column::Id.is_in(ids.iter().map(String::as_str)))
            .filter(mail_outbox::Column::ClaimedBy.eq(round))
            .filter(mail_outbox::Column::ClaimedUntil.gt(now))
            .exec_with_returning(&*writer)
            .await?)
    }

    /// Sends one mail of this round: it is sent, dropped when it can never be, or left for
    /// a retry after a backoff.
    async fn deliver(
        &self,
        mail: mail_outbox::Model,
        round: &str,
        now: DateTime<Utc>,
    ) -> Result<Delivery, OutboxError> {
        if mail.expires_at <= now {
            tracing::warn!(mail = %mail.id, "mail dropped unsent: what it announced expired before it could be delivered");
            metrics::counter!("mail_dropped_total").increment(1);
            return Ok(Delivery::Dropped);
        }
        let Some(sendable) = send::open(&mail, &self.master_key, &self.settings.from.email) else {
            return Ok(Delivery::Dropped);
        };
        match send::send(&self.settings.transport, &mail.id, &sendable).await {
            Ok(()) => Ok(Delivery::Sent),
            Err(failure) => {
                self.retry_later(&mail, round, now, failure).await?;
                Ok(Delivery::Retry)
            }
        }
    }

    /// Gives the mail back for another attempt after its backoff, and notes a mail server
    /// that failed as a whole.
    async fn retry_later(
        &self,
        mail: &mail_outbox::Model,
        round: &str,
        now: DateTime<Utc>,
        failure: SendFailure,
    ) -> Result<(), OutboxError> {
        let SendFailure { error, server_down } = failure;
        // `attempts` already counts this one: the claim added it.
        let attempts = i64::from(mail.attempts);
        let backoff = TimeDelta::seconds((1_i64 << attempts.clamp(0, 9)).min(MAX_BACKOFF_SECS));
        tracing::warn!(mail = %mail.id, attempts, retry_in_s = backoff.num_seconds(), %error, "mail not sent; will retry");
        metrics::counter!("mail_send_failures_total").increment(1);
        if server_down {
            self.recovery.server_failed();
        }
        let writer = self.db.write().await;
        mail_outbox::Entity::update_many()
            .col_expr(
                mail_outbox::Column::NextAttemptAt,
                Expr::value(now + backoff),
            )
            .col_expr(
                mail_outbox::Column::ClaimedUntil,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .col_expr(mail_outbox::Column::LastError, Expr::value(error))
            .filter(mail_outbox::Column::Id.eq(mail.id.as_str()))
            .filter(mail_outbox::Column::ClaimedBy.eq(round))
            .exec(&*writer)
            .await?;
        Ok(())
    }

    async fn finish(
        &self,
        ids: &[String],
        round: &str,
        column: mail_outbox::Column,
        now: DateTime<Utc>,
    ) -> Result<(), OutboxError> {
        Ok(finish(&self.db, ids, round, column, now).await?)
    }

    /// The worker: delivers due mail when woken and at least every second, until stopped. A
    /// backlog is worked through batch after batch, not a batch a second.
    pub async fn run(self, mut stopped: watch::Receiver<bool>) {
        loop {
            if !self.abandoned.is_empty() {
                match self.abandoned.settle(&self.db, self.clock.now()).await {
                    Ok(released) if released > 0 => tracing::info!(
                        released,
                        "mail outbox: the database answers again; sending what a cut-short round left"
                    ),
                    Ok(_) => {}
                    Err(error) => {
                        tracing::debug!(%error, "mail outbox: settling cut-short rounds failed")
                    }
                }
            }
            match self.deliver_due(self.clock.now()).await {
                Ok(taken) if taken == BATCH as usize && !*stopped.borrow() => continue,
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "mail outbox: delivery round failed"),
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = stopped.wait_for(|stop| *stop) => return,
            }
        }
    }
}

/// What became of one mail in a round.
enum Delivery {
    Sent,
    Dropped,
    Retry,
}

/// Marks mails sent or dropped and erases their sealed bodies: nothing secret outlives them.
/// Only mails `round` still holds, and not yet finished: once its lease ran out another
/// worker may have taken them.
pub(super) async fn finish(
    db: &Db,
    ids: &[String],
    round: &str,
    column: mail_outbox::Column,
    now: DateTime<Utc>,
) -> Result<(), sea_orm::DbErr> {
    if ids.is_empty() {
        return Ok(());
    }
    let writer = db.write().await;
    mail_outbox::Entity::update_many()
        .col_expr(column, Expr::value(now))
        .col_expr(
            mail_outbox::Column::SealedMessage,
            Expr::value(Option::<Vec<u8>>::None),
        )
        .col_expr(
            mail_outbox::Column::ClaimedUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .filter(mail_outbox::Column::Id.is_in(ids.iter().map(String::as_str)))
        .filter(mail_outbox::Column::ClaimedBy.eq(round))
        .filter(mail_outbox::Column::SentAt.is_null())
        .filter(mail_outbox::Column::DroppedAt.is_null())
        .exec(&*writer)
        .await?;
    Ok(())
}

fn unclaimed(now: DateTime<Utc>) -> Condition {
    Condition::any()
        .add(mail_outbox::Column::ClaimedUntil.is_null())
        .add(mail_outbox::Column::ClaimedUntil.lt(now))
}

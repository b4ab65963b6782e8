use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use latchkey_keys::MasterKey;
use lettre::address::Envelope;
use lettre::message::{Mailbox, MultiPart};
use lettre::{Address, AsyncTransport, Message};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait,
    QueryFilter, QuerySelect,
};
use tokio::sync::{Notify, watch};

use super::templates::RenderedMail;
use super::{MailSettings, MailTransport};
use crate::email::Email;
use crate::entities::mail_outbox;

/// How long one worker owns a mail it is sending before another may try it.
const CLAIM: TimeDelta = TimeDelta::seconds(60);
/// The longest wait between two attempts at one mail.
const MAX_BACKOFF_SECS: i64 = 300;

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
    db: DatabaseConnection,
    master_key: Arc<MasterKey>,
    settings: MailSettings,
    wake: Arc<Notify>,
}

impl Outbox {
    pub fn new(db: DatabaseConnection, master_key: Arc<MasterKey>, settings: MailSettings) -> Self {
        Self {
            db,
            master_key,
            settings,
            wake: Arc::new(Notify::new()),
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

    /// Writes `message` to the outbox on `conn` (the caller's transaction). It is sealed,
    /// since it carries a live credential, and dropped unsent after `expires_at`.
    pub async fn enqueue<C: ConnectionTrait>(
        &self,
        conn: &C,
        message: &Message,
        recipient: &Email,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), OutboxError> {
        let id = uuid::Uuid::now_v7().to_string();
        let sealed = self.master_key.seal(&id, &message.formatted())?;
        mail_outbox::Entity::insert(mail_outbox::ActiveModel {
            id: Set(id),
            recipient: Set(recipient.to_string()),
            sealed_message: Set(Some(sealed)),
            created_at: Set(now),
            expires_at: Set(expires_at),
            attempts: Set(0),
            next_attempt_at: Set(now),
            claimed_until: Set(None),
            sent_at: Set(None),
            dropped_at: Set(None),
            last_error: Set(None),
        })
        .exec_without_returning(conn)
        .await?;
        Ok(())
    }

    /// Tells this process's worker there is mail to send now, rather than at its next tick.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Sends every mail that is due, returning how many were sent.
    pub async fn deliver_due(&self, now: DateTime<Utc>) -> Result<usize, OutboxError> {
        let due = mail_outbox::Entity::find()
            .filter(mail_outbox::Column::SentAt.is_null())
            .filter(mail_outbox::Column::DroppedAt.is_null())
            .filter(mail_outbox::Column::NextAttemptAt.lte(now))
            .filter(unclaimed(now))
            .limit(32)
            .all(&self.db)
            .await?;
        let mut sent = 0;
        for mail in due {
            if self.claim(&mail.id, now).await? && self.deliver(mail, now).await? {
                sent += 1;
            }
        }
        Ok(sent)
    }

    /// Takes a mail for this worker; false when another worker took it first.
    async fn claim(&self, id: &str, now: DateTime<Utc>) -> Result<bool, OutboxError> {
        let claimed = mail_outbox::Entity::update_many()
            .col_expr(mail_outbox::Column::ClaimedUntil, Expr::value(now + CLAIM))
            .col_expr(
                mail_outbox::Column::Attempts,
                sea_orm::sea_query::ExprTrait::add(Expr::col(mail_outbox::Column::Attempts), 1),
            )
            .filter(mail_outbox::Column::Id.eq(id))
            .filter(mail_outbox::Column::SentAt.is_null())
            .filter(unclaimed(now))
            .exec(&self.db)
            .await?;
        Ok(claimed.rows_affected == 1)
    }

    async fn deliver(
        &self,
        mail: mail_outbox::Model,
        now: DateTime<Utc>,
    ) -> Result<bool, OutboxError> {
        if mail.expires_at <= now {
            tracing::warn!(mail = %mail.id, "mail dropped unsent: what it announced expired before it could be delivered");
            metrics::counter!("mail_dropped_total").increment(1);
            self.finish(&mail.id, mail_outbox::Column::DroppedAt, now)
                .await?;
            return Ok(false);
        }
        let bytes = match mail
            .sealed_message
            .as_deref()
            .map(|sealed| self.master_key.open(&mail.id, sealed))
        {
            Some(Ok(bytes)) => bytes,
            _ => {
                tracing::error!(mail = %mail.id, "mail dropped: it cannot be opened with this master key");
                self.finish(&mail.id, mail_outbox::Column::DroppedAt, now)
                    .await?;
                return Ok(false);
            }
        };
        let envelope =
            mail.recipient.parse::<Address>().ok().and_then(|to| {
                Envelope::new(Some(self.settings.from.email.clone()), vec![to]).ok()
            });
        let Some(envelope) = envelope else {
            tracing::error!(mail = %mail.id, "mail dropped: its recipient is not an address");
            self.finish(&mail.id, mail_outbox::Column::DroppedAt, now)
                .await?;
            return Ok(false);
        };
        let result = match &self.settings.transport {
            MailTransport::Smtp(smtp) => smtp
                .send_raw(&envelope, &bytes)
                .await
                .map(|_| None)
                .map_err(|e| e.to_string()),
            MailTransport::Files(files, dir) => files
                .send_raw(&envelope, &bytes)
                .await
                .map(|id| Some(dir.join(format!("{id}.eml"))))
                .map_err(|e| e.to_string()),
        };
        match result {
            Ok(path) => {
                self.finish(&mail.id, mail_outbox::Column::SentAt, now)
                    .await?;
                metrics::counter!("mail_sent_total").increment(1);
                match path {
                    Some(path) => {
                        tracing::info!(mail = %mail.id, path = %path.display(), "mail written to the outbox folder")
                    }
                    None => tracing::info!(mail = %mail.id, "mail sent"),
                }
                Ok(true)
            }
            Err(error) => {
                let attempts = i64::from(mail.attempts) + 1;
                let backoff = TimeDelta::seconds((1_i64 << attempts.min(9)).min(MAX_BACKOFF_SECS));
                tracing::warn!(mail = %mail.id, attempts, retry_in_s = backoff.num_seconds(), %error, "mail not sent; will retry");
                metrics::counter!("mail_send_failures_total").increment(1);
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
                    .exec(&self.db)
                    .await?;
                Ok(false)
            }
        }
    }

    /// Marks a mail sent or dropped and erases its sealed body: nothing secret outlives it.
    async fn finish(
        &self,
        id: &str,
        column: mail_outbox::Column,
        now: DateTime<Utc>,
    ) -> Result<(), OutboxError> {
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
            .filter(mail_outbox::Column::Id.eq(id))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// The worker: delivers due mail when woken and at least every second, until stopped.
    pub async fn run(self, mut stopped: watch::Receiver<bool>) {
        loop {
            if let Err(error) = self.deliver_due(Utc::now()).await {
                tracing::warn!(%error, "mail outbox: delivery round failed");
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = stopped.wait_for(|stop| *stop) => return,
            }
        }
    }
}

fn unclaimed(now: DateTime<Utc>) -> Condition {
    Condition::any()
        .add(mail_outbox::Column::ClaimedUntil.is_null())
        .add(mail_outbox::Column::ClaimedUntil.lt(now))
}

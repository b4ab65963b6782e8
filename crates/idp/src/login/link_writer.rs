//! Writing new magic links, in batches on SQLite.
//!
//! A link is three writes: count it against its address's limit, store it, queue its mail.
//! On SQLite every statement is a hand-off to the connection's own thread and back, and
//! those hand-offs, not SQLite's work, were most of the cost of `POST /login` (perf: about
//! 70% of the time in the kernel, switching threads). So there the request does not write:
//! one writer takes every link waiting when it is free and writes them all in one
//! transaction of three statements. Under load a request then costs a fraction of a
//! statement, and the busier the server, the larger the batches. A request still waits for
//! its own commit, so nothing it answers can be lost.
//!
//! PostgreSQL runs many transactions at once and commits them together by itself, so each
//! request writes its own there. (Batching there also met a bug: sqlx 0.9.0 leaves Nagle's
//! algorithm on, and a statement larger than the socket's send buffer waits 40 ms for a
//! delayed ACK; sqlx#4335, fixed upstream after 0.9.0.)

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveValue::Set, DatabaseConnection, DbBackend, DbErr, EntityTrait, TransactionTrait,
};
use tokio::sync::{mpsc, oneshot};

use crate::entities::{address_limit, login_link, mail_outbox};
use crate::write_gate::WriteGate;

/// The most links one transaction writes. It bounds a statement's size (login links have
/// 14 columns: 1,792 parameters, far below SQLite's 32,766) and the wait of the last request
/// in a batch.
const MAX_BATCH: usize = 128;
/// Links waiting for the writer; beyond this, requests wait to be queued.
const QUEUE: usize = 1024;

/// One link to write, with the mail that carries it.
pub(super) struct NewLink {
    /// SHA-256 of the address: the key of its rate limit.
    pub email_hash: String,
    pub link: login_link::ActiveModel,
    pub mail: mail_outbox::ActiveModel,
    pub now: DateTime<Utc>,
}

/// What became of a link handed to the writer.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Written {
    /// Stored, and its mail queued.
    Queued,
    /// The address is past its limit: nothing was stored and no mail will be sent.
    OverLimit,
}

/// The per-address limit (`login.rate_limit_per_address` per `login.rate_limit_window`).
#[derive(Clone, Copy, Debug)]
pub(super) struct AddressLimit {
    pub per_window: u64,
    pub window: TimeDelta,
}

struct Pending {
    new: NewLink,
    reply: oneshot::Sender<Result<Written, DbErr>>,
}

/// Writes links: through the batching writer on SQLite, directly on PostgreSQL. Cloning
/// shares the writer, which stops once every clone is gone.
#[derive(Clone)]
pub(super) struct LinkWriter {
    store: Store,
    queue: Option<mpsc::Sender<Pending>>,
}

impl LinkWriter {
    /// Starts the writer, on SQLite, on the current tokio runtime.
    pub fn start(db: DatabaseConnection, write_gate: WriteGate, limit: AddressLimit) -> Self {
        let store = Store {
            db,
            write_gate,
            limit,
        };
        let queue = (store.db.get_database_backend() == DbBackend::Sqlite).then(|| {
            let (queue, waiting) = mpsc::channel(QUEUE);
            tokio::spawn(store.clone().run(waiting));
            queue
        });
        Self { store, queue }
    }

    /// Writes `new` (on SQLite, with whatever else is waiting), and returns once it is
    /// committed.
    pub async fn write(&self, new: NewLink) -> Result<Written, DbErr> {
        let stopped = || DbErr::Custom("the link writer has stopped".to_owned());
        let Some(queue) = &self.queue else {
            return self.store.write(vec![new]).await?.pop().ok_or_else(stopped);
        };
        let (reply, written) = oneshot::channel();
        queue
            .send(Pending { new, reply })
            .await
            .map_err(|_| stopped())?;
        written.await.map_err(|_| stopped())?
    }
}

/// The links one transaction will write, at most one per address.
#[derive(Default)]
struct Batch {
    links: Vec<Pending>,
    addresses: HashSet<String>,
    later: Vec<Pending>,
}

impl Batch {
    fn admit(&mut self, pending: Pending) {
        if self.addresses.insert(pending.new.email_hash.clone()) {
            self.links.push(pending);
        } else {
            self.later.push(pending);
        }
    }
}

/// Where links are written.
#[derive(Clone)]
struct Store {
    db: DatabaseConnection,
    write_gate: WriteGate,
    limit: AddressLimit,
}

impl Store {
    /// The batching writer: runs until every sender is gone.
    async fn run(self, mut waiting: mpsc::Receiver<Pending>) {
        // A second link for an address already in a batch waits for the next one, so each
        // link is judged by its own count.
        let mut deferred: Vec<Pending> = Vec::new();
        loop {
            let mut batch = Batch::default();
            deferred.drain(..).for_each(|pending| batch.admit(pending));
            if batch.links.is_empty() {
                match waiting.recv().await {
                    Some(pending) => batch.admit(pending),
                    None => return,
                }
            }
            while batch.links.len() + batch.later.len() < MAX_BATCH {
                match waiting.try_recv() {
                    Ok(pending) => batch.admit(pending),
                    Err(_) => break,
                }
            }
            deferred = std::mem::take(&mut batch.later);
            self.commit(batch.links).await;
        }
    }

    /// Writes one batch and answers each of its requests.
    async fn commit(&self, mut batch: Vec<Pending>) {
        // The same order in every transaction, so two replicas updating the same limits
        // cannot deadlock.
        batch.sort_by(|a, b| a.new.email_hash.cmp(&b.new.email_hash));
        metrics::histogram!("login_link_batch_size").record(batch.len() as f64);
        let (links, replies): (Vec<NewLink>, Vec<_>) =
            batch.into_iter().map(|p| (p.new, p.reply)).unzip();
        match self.write(links).await {
            Ok(written) => {
                for (reply, written) in replies.into_iter().zip(written) {
                    // A request that gave up waiting no longer needs its answer.
                    let _ = reply.send(Ok(written));
                }
            }
            Err(error) => {
                tracing::error!(%error, links = replies.len(), "writing a batch of login links failed");
                for reply in replies {
                    let _ = reply.send(Err(DbErr::Custom(error.to_string())));
                }
            }
        }
    }

    /// One transaction: count every link against its address, then store the links (and
    /// queue the mails) of the addresses still within their limit.
    async fn write(&self, links: Vec<NewLink>) -> Result<Vec<Written>, DbErr> {
        let Some(now) = links.iter().map(|l| l.now).max() else {
            return Ok(Vec::new());
        };
        let _turn = self.write_gate.turn().await;
        let txn = self.db.begin().await?;
        let counts = self.count(&txn, &links, now).await?;
        let written: Vec<Written> = links
            .iter()
            .map(|l| match counts.get(&l.email_hash) {
                Some(&count) if count <= self.limit.per_window => Written::Queued,
                _ => Written::OverLimit,
            })
            .collect();
        let (stored, mails): (Vec<_>, Vec<_>) = links
            .into_iter()
            .zip(&written)
            .filter(|(_, w)| **w == Written::Queued)
            .map(|(l, _)| (l.link, l.mail))
            .unzip();
        login_link::Entity::insert_many(stored)
            .exec_without_returning(&txn)
            .await?;
        mail_outbox::Entity::insert_many(mails)
            .exec_without_returning(&txn)
            .await?;
        txn.commit().await?;
        Ok(written)
    }

    /// Counts each link against its address's window in one upsert (a window that has run
    /// out starts again at 1), and returns each address's count with it. Done in the
    /// database so the limit holds across replicas; a request past the limit is counted too,
    /// which changes nothing until the window runs out.
    async fn count(
        &self,
        txn: &sea_orm::DatabaseTransaction,
        links: &[NewLink],
        now: DateTime<Utc>,
    ) -> Result<HashMap<String, u64>, DbErr> {
        use address_limit::{Column, Entity};
        let window_over = Expr::col((Entity, Column::WindowStartedAt)).lte(now - self.limit.window);
        let counted = Entity::insert_many(links.iter().map(|l| address_limit::ActiveModel {
            email_hash: Set(l.email_hash.clone()),
            window_started_at: Set(l.now),
            count: Set(1),
        }))
        .on_conflict(
            OnConflict::column(Column::EmailHash)
                .value(
                    Column::Count,
                    Expr::case(window_over.clone(), 1)
                        .finally(Expr::col((Entity, Column::Count)).add(1)),
                )
                .value(
                    Column::WindowStartedAt,
                    Expr::case(window_over, Expr::value(now))
                        .finally(Expr::col((Entity, Column::WindowStartedAt))),
                )
                .to_owned(),
        )
        .exec_with_returning(txn)
        .await?;
        Ok(counted
            .into_iter()
            .map(|c| (c.email_hash, u64::try_from(c.count).unwrap_or(u64::MAX)))
            .collect())
    }
}

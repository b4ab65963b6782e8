//! Writes gathered into batches, on SQLite.
//!
//! On SQLite every statement is a hand-off to the connection's own thread and back, and
//! those hand-offs, not SQLite's work, were most of the cost of a request that writes one
//! row (perf: most of the time in the kernel, switching threads). So there such requests do
//! not write: one writer task takes every item waiting when it is free and commits them all
//! in one transaction. Under load a request then costs a fraction of a statement, and the
//! busier the server, the larger the batches. A request still waits for its own commit, so
//! nothing it answers can be lost.
//!
//! PostgreSQL runs many transactions at once and commits them together by itself: there each
//! request writes its own, and no writer is started.

use std::future::Future;

use sea_orm::DbErr;
use tokio::sync::{mpsc, oneshot};

/// Items waiting for the writer; beyond this, requests wait to be queued.
const QUEUE: usize = 1024;

/// How one batch is written: in one transaction, one output per item, in their order.
pub trait BatchCommit: Clone + Send + Sync + 'static {
    type Item: Send + 'static;
    type Output: Send + 'static;
    /// What is written, for logs.
    const WHAT: &'static str;
    /// The most items one transaction writes: it bounds a statement's size and the wait of
    /// the last request in a batch.
    const MAX_BATCH: usize;

    fn commit(
        &self,
        items: Vec<Self::Item>,
    ) -> impl Future<Output = Result<Vec<Self::Output>, DbErr>> + Send;
}

struct Waiting<C: BatchCommit> {
    item: C::Item,
    reply: oneshot::Sender<Result<C::Output, DbErr>>,
}

/// The queue to a batching writer. Cloning shares the writer, which stops once every clone
/// is gone.
pub struct BatchWriter<C: BatchCommit> {
    queue: mpsc::Sender<Waiting<C>>,
}

impl<C: BatchCommit> Clone for BatchWriter<C> {
    fn clone(&self) -> Self {
        Self {
            queue: self.queue.clone(),
        }
    }
}

impl<C: BatchCommit> BatchWriter<C> {
    /// Starts the writer on the current tokio runtime.
    pub fn start(committer: C) -> Self {
        let (queue, waiting) = mpsc::channel(QUEUE);
        tokio::spawn(run(committer, waiting));
        Self { queue }
    }

    /// Writes `item` with whatever else is waiting, and returns once it is committed.
    pub async fn write(&self, item: C::Item) -> Result<C::Output, DbErr> {
        let stopped = || DbErr::Custom(format!("the writer of {} has stopped", C::WHAT));
        let (reply, written) = oneshot::channel();
        self.queue
            .send(Waiting { item, reply })
            .await
            .map_err(|_| stopped())?;
        written.await.map_err(|_| stopped())?
    }
}

/// The batching writer: runs until every sender is gone.
async fn run<C: BatchCommit>(committer: C, mut waiting: mpsc::Receiver<Waiting<C>>) {
    let mut batch = Vec::with_capacity(C::MAX_BATCH);
    while waiting.recv_many(&mut batch, C::MAX_BATCH).await > 0 {
        let (items, replies): (Vec<C::Item>, Vec<_>) = std::mem::take(&mut batch)
            .into_iter()
            .map(|w| (w.item, w.reply))
            .unzip();
        match committer.commit(items).await {
            Ok(written) => {
                for (reply, written) in replies.into_iter().zip(written) {
                    // A request that gave up waiting no longer needs its answer.
                    let _ = reply.send(Ok(written));
                }
            }
            Err(error) => answer_failure(C::WHAT, &error, replies),
        }
    }
}

/// Each request gets a copy of the error, of the same kind: a database that cannot take
/// requests now stays that, and is answered 503 (and logged there).
fn answer_failure<T>(what: &str, error: &DbErr, replies: Vec<oneshot::Sender<Result<T, DbErr>>>) {
    let unavailable = crate::database_unavailable(error);
    if !unavailable {
        tracing::error!(%error, items = replies.len(), "writing a batch of {what} failed");
    } else if crate::database_needs_operator(error) {
        // The copies cannot carry SQLite's code: said here, for whoever must act.
        tracing::error!(%error, items = replies.len(), "the database cannot take requests now");
    }
    for reply in replies {
        let copy = if unavailable {
            DbErr::Conn(sea_orm::RuntimeErr::Internal(error.to_string()))
        } else {
            DbErr::Custom(error.to_string())
        };
        let _ = reply.send(Err(copy));
    }
}

//! Writing new magic links, in batches on SQLite.
//!
//! A link is three writes: count it against its address's limit, store it, queue its mail.
//! On SQLite the thread hand-offs of those statements were most of the cost of `POST /login`
//! (perf: about 70% of the time in the kernel, switching threads), so there links go through
//! a [`BatchWriter`]: one transaction of three statements for every link waiting.
//!
//! PostgreSQL runs many transactions at once and commits them together by itself, so each
//! request writes its own there, as one statement: the three writes are chained in
//! data-modifying `WITH` clauses, which PostgreSQL runs atomically, so a request costs one
//! round trip instead of five (`BEGIN`, three statements, `COMMIT`). (Batching there met a
//! bug: sqlx 0.9.0 leaves Nagle's algorithm on, and a large statement waits 40 ms for a
//! delayed ACK; sqlx#4335, fixed upstream after 0.9.0.)

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::sea_query::{
    Alias, CommonTableExpression, Expr, ExprTrait, InsertStatement, IntoColumnRef, Query,
    WithClause,
};
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DbBackend, DbErr, EntityName, EntityTrait, Iterable,
    QueryTrait,
};

use crate::address_limits::count_in_window;

use crate::entities::{address_limit, login_link, mail_outbox};
use latchkey_core::Db;
use latchkey_core::batch::{BatchCommit, BatchWriter};

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

impl AddressLimit {
    /// The highest count within the limit, as the database stores counts.
    fn max_count(&self) -> i64 {
        i64::try_from(self.per_window).unwrap_or(i64::MAX)
    }
}

/// Writes links: through the batching writer on SQLite, directly on PostgreSQL.
#[derive(Clone)]
pub(super) struct LinkWriter {
    store: Store,
    batches: Option<BatchWriter<Store>>,
}

impl LinkWriter {
    /// Starts the writer, on SQLite, on the current tokio runtime.
    pub fn start(db: Db, limit: AddressLimit) -> Self {
        let store = Store { db, limit };
        let batches =
            (store.db.backend() == DbBackend::Sqlite).then(|| BatchWriter::start(store.clone()));
        Self { store, batches }
    }

    /// Writes `new` (on SQLite, with whatever else is waiting), and returns once it is
    /// committed.
    pub async fn write(&self, new: NewLink) -> Result<Written, DbErr> {
        match &self.batches {
            Some(batches) => batches.write(new).await,
            None => self.store.write_in_one_statement(new).await,
        }
    }
}

/// Where links are written.
#[derive(Clone)]
struct Store {
    db: Db,
    limit: AddressLimit,
}

impl BatchCommit for Store {
    type Item = NewLink;
    type Output = Written;
    const WHAT: &'static str = "login links";
    /// Login links have 14 columns: 1,792 parameters, far below SQLite's 32,766.
    const MAX_BATCH: usize = 128;

    async fn commit(&self, links: Vec<NewLink>) -> Result<Vec<Written>, DbErr> {
        metrics::histogram!("login_link_batch_size").record(links.len() as f64);
        self.write(links).await
    }
}

impl Store {
    /// One transaction: count every link against its address (an address's links are
    /// numbered in the order given), then store the links, and queue the mails, that are
    /// within their address's limit.
    async fn write(&self, links: Vec<NewLink>) -> Result<Vec<Written>, DbErr> {
        let Some(now) = links.iter().map(|l| l.now).max() else {
            return Ok(Vec::new());
        };
        // How many links each address has in this batch: one counting row per address.
        let mut asked: BTreeMap<&str, i64> = BTreeMap::new();
        for link in &links {
            *asked.entry(&link.email_hash).or_default() += 1;
        }
        let asked: Vec<(&str, i64)> = asked.into_iter().collect();
        let txn = self.db.transaction().await?;
        let counts: HashMap<String, i64> = count_in_window(&asked, self.limit.window, now)
            .exec_with_returning(&*txn)
            .await?
            .into_iter()
            .map(|c| (c.email_hash, c.count))
            .collect();
        // An address that asked for k links here and now has count c holds the numbers
        // c - k + 1 ..= c in its window, in the order its links came in.
        let limit = self.limit.max_count();
        let mut numbered: HashMap<&str, i64> = asked
            .iter()
            .map(|&(address, k)| (address, counts.get(address).map_or(i64::MAX, |c| c - k)))
            .collect();
        let written: Vec<Written> = links
            .iter()
            .map(|l| {
                let number = numbered.entry(&l.email_hash).or_insert(i64::MAX);
                *number = number.saturating_add(1);
                if *number <= limit {
                    Written::Queued
                } else {
                    Written::OverLimit
                }
            })
            .collect();
        let (stored, mails): (Vec<_>, Vec<_>) = links
            .into_iter()
            .zip(&written)
            .filter(|(_, w)| **w == Written::Queued)
            .map(|(l, _)| (l.link, l.mail))
            .unzip();
        login_link::Entity::insert_many(stored)
            .exec_without_returning(&*txn)
            .await?;
        mail_outbox::Entity::insert_many(mails)
            .exec_without_returning(&*txn)
            .await?;
        txn.commit().await?;
        Ok(written)
    }

    /// PostgreSQL: counts the link against its address, and stores it and queues its mail
    /// only if the address is within its limit, all in one statement:
    ///
    /// ```sql
    /// WITH counted AS (INSERT INTO address_limits … ON CONFLICT … RETURNING count),
    ///      stored AS (INSERT INTO login_links … SELECT … FROM counted WHERE count <= $limit
    ///                 RETURNING id),
    ///      queued AS (INSERT INTO mail_outbox … SELECT … FROM stored RETURNING id)
    /// SELECT count FROM counted
    /// ```
    async fn write_in_one_statement(&self, new: NewLink) -> Result<Written, DbErr> {
        let (counted, stored, queued) = (
            Alias::new("counted"),
            Alias::new("stored"),
            Alias::new("queued"),
        );
        let mut count =
            count_in_window(&[(&new.email_hash, 1)], self.limit.window, new.now).into_query();
        count.returning_col(address_limit::Column::Count);
        let limit = self.limit.max_count();
        let within = Expr::col((counted.clone(), address_limit::Column::Count)).lte(limit);
        let link = insert_if_any(
            new.link,
            counted.clone(),
            Some(within),
            login_link::Column::Id,
        )?;
        let mail = insert_if_any(new.mail, stored.clone(), None, mail_outbox::Column::Id)?;
        let cte = |name: &Alias, query: InsertStatement| {
            CommonTableExpression::new()
                .query(query)
                .table_name(name.clone())
                .to_owned()
        };
        let statement = Query::select()
            .column(address_limit::Column::Count)
            .from(counted.clone())
            .to_owned()
            .with(
                WithClause::new()
                    .cte(cte(&counted, count))
                    .cte(cte(&stored, link))
                    .cte(cte(&queued, mail))
                    .to_owned(),
            );
        let row = self
            .db
            .write()
            .await
            .query_one(&statement)
            .await?
            .ok_or_else(|| DbErr::Custom("counting a login link returned no row".to_owned()))?;
        let count: i64 = row.try_get("", "count")?;
        Ok(if count <= limit {
            Written::Queued
        } else {
            Written::OverLimit
        })
    }
}

/// `INSERT INTO <model's table> (<its set columns>) SELECT <their values> FROM <from>
/// [WHERE <condition>] RETURNING <returning>`: the model is stored once for each row of
/// `from` that meets `condition`, here once or not at all.
fn insert_if_any<A: ActiveModelTrait>(
    model: A,
    from: Alias,
    condition: Option<Expr>,
    returning: impl IntoColumnRef,
) -> Result<InsertStatement, DbErr> {
    let (columns, values): (Vec<_>, Vec<_>) = <A::Entity as EntityTrait>::Column::iter()
        .filter_map(|column| {
            model
                .get(column)
                .into_value()
                .map(|v| (column, Expr::val(v)))
        })
        .unzip();
    let mut select = Query::select();
    select.exprs(values).from(from);
    if let Some(condition) = condition {
        select.and_where(condition);
    }
    let mut insert = Query::insert();
    insert
        .into_table(A::Entity::default().table_ref())
        .columns(columns)
        .select_from(select)
        .map_err(|e| DbErr::Custom(e.to_string()))?
        .returning_col(returning);
    Ok(insert)
}

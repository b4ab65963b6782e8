//! The database handle every service holds, with the SQLite write queue built in.
//!
//! SQLite allows one writer; its other writers wait in a busy handler that sleeps (up to
//! 100 ms a turn), which made the slowest requests take half a second under load. So on
//! SQLite every write waits here for the process's turn instead, and the only way to a
//! writable connection or transaction is through [`Db::write`] or [`Db::transaction`]: a
//! write path cannot forget the queue. PostgreSQL needs no queue; the turn is then immediate.

use std::ops::Deref;
use std::sync::Arc;

use sea_orm::{DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, TransactionTrait};
use tokio::sync::{Mutex, MutexGuard};

/// A connection pool and, on SQLite, the process's write queue. Cheap to clone.
#[derive(Clone)]
pub struct Db {
    conn: DatabaseConnection,
    gate: Option<Arc<Mutex<()>>>,
}

impl Db {
    pub fn new(conn: DatabaseConnection) -> Self {
        let gate = (conn.get_database_backend() == DbBackend::Sqlite).then(Arc::default);
        Self { conn, gate }
    }

    /// The connection for reads. Writes go through [`Db::write`] or [`Db::transaction`].
    pub fn read(&self) -> &DatabaseConnection {
        &self.conn
    }

    /// Waits for this process's turn to write (on SQLite) and holds it until dropped.
    pub async fn write(&self) -> Writer<'_> {
        Writer {
            conn: &self.conn,
            _turn: self.turn().await,
        }
    }

    /// Begins a transaction in this process's turn to write; the turn ends with it.
    pub async fn transaction(&self) -> Result<WriteTxn<'_>, DbErr> {
        let turn = self.turn().await;
        Ok(WriteTxn {
            txn: self.conn.begin().await?,
            _turn: turn,
        })
    }

    pub fn backend(&self) -> DbBackend {
        self.conn.get_database_backend()
    }

    async fn turn(&self) -> Option<MutexGuard<'_, ()>> {
        match &self.gate {
            Some(gate) => Some(gate.lock().await),
            None => None,
        }
    }
}

/// The connection, in this process's turn to write. Statements run on it autocommit.
pub struct Writer<'a> {
    conn: &'a DatabaseConnection,
    _turn: Option<MutexGuard<'a, ()>>,
}

impl Deref for Writer<'_> {
    type Target = DatabaseConnection;

    fn deref(&self) -> &DatabaseConnection {
        self.conn
    }
}

/// A transaction in this process's turn to write. Dropped without [`WriteTxn::commit`], it
/// rolls back; the turn is released after the transaction ends either way (fields drop in
/// declaration order).
pub struct WriteTxn<'a> {
    txn: DatabaseTransaction,
    _turn: Option<MutexGuard<'a, ()>>,
}

impl WriteTxn<'_> {
    pub async fn commit(self) -> Result<(), DbErr> {
        self.txn.commit().await
    }

    pub async fn rollback(self) -> Result<(), DbErr> {
        self.txn.rollback().await
    }
}

impl Deref for WriteTxn<'_> {
    type Target = DatabaseTransaction;

    fn deref(&self) -> &DatabaseTransaction {
        &self.txn
    }
}

/// Whether `error` says the database cannot take requests for now, rather than that a
/// statement was wrong: no connection to be had, or one lost mid-request; on SQLite, its file
/// locked by another process past the busy timeout, read-only, full, or failing to read or
/// write. The same request may succeed once that passes, so it is answered 503, not 500.
pub fn unavailable(error: &DbErr) -> bool {
    use sea_orm::sqlx::Error as Sqlx;
    if matches!(error, DbErr::ConnectionAcquire(_) | DbErr::Conn(_)) {
        return true;
    }
    match driver_error(error) {
        Some(Sqlx::Io(_) | Sqlx::PoolTimedOut | Sqlx::PoolClosed | Sqlx::WorkerCrashed) => true,
        Some(Sqlx::Database(db)) => match sqlite_extended_code(error) {
            Some(code) => sqlite_unavailable(code),
            None => db.code().is_some_and(|code| postgres_unavailable(&code)),
        },
        _ => false,
    }
}

/// SQLite's primary result code for `error` (the extended code's low byte), if SQLite
/// gave it.
pub fn sqlite_code(error: &DbErr) -> Option<i32> {
    sqlite_extended_code(error).map(|code| code & 0xff)
}

/// Whether `error` is one an operator must act on, not one that passes by itself: SQLite's
/// file read-only, on a full disk, failing to read or write, or not to be opened.
pub fn needs_operator(error: &DbErr) -> bool {
    matches!(sqlite_code(error), Some(8 | 10 | 13 | 14))
}

fn sqlite_extended_code(error: &DbErr) -> Option<i32> {
    let sea_orm::sqlx::Error::Database(db) = driver_error(error)? else {
        return None;
    };
    db.try_downcast_ref::<sea_orm::sqlx::sqlite::SqliteError>()?;
    db.code()?.parse::<i32>().ok()
}

fn driver_error(error: &DbErr) -> Option<&sea_orm::sqlx::Error> {
    use sea_orm::RuntimeErr::SqlxError;
    match error {
        DbErr::Conn(SqlxError(e)) | DbErr::Exec(SqlxError(e)) | DbErr::Query(SqlxError(e)) => {
            Some(e)
        }
        _ => None,
    }
}

/// SQLite's (extended) result codes for a file that cannot be written now: BUSY (5, another
/// process holds the lock), READONLY (8), IOERR (10), FULL (13), CANTOPEN (14). Not
/// BUSY_SNAPSHOT (517: a read transaction that tried to write, our bug), LOCKED (6: a conflict
/// within this process, our bug too), nor IOERR_CORRUPTFS (8458: the file is damaged).
fn sqlite_unavailable(code: i32) -> bool {
    match code & 0xff {
        5 => code != 517,
        10 => code != 8458,
        8 | 13 | 14 => true,
        _ => false,
    }
}

/// PostgreSQL's SQLSTATEs for a server going away or failing over: connection exceptions
/// (class 08), shutting down or starting up (57P01-57P03), too many connections (53300), a
/// read-only standby (25006).
fn postgres_unavailable(code: &str) -> bool {
    code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "53300" | "25006")
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use sea_orm::{ConnectionTrait, Database};

    use super::*;

    #[tokio::test]
    async fn sqlite_writers_take_turns() {
        let db = Db::new(Database::connect("sqlite::memory:").await.expect("sqlite"));
        let first = db.write().await;
        let second = tokio::time::timeout(Duration::from_millis(50), db.write()).await;
        assert!(second.is_err(), "a second writer must wait for the first");
        drop(first);
        let txn = db.transaction().await.expect("begin");
        txn.execute_unprepared("CREATE TABLE t (x INTEGER)")
            .await
            .expect("create");
        txn.commit().await.expect("commit");
        let after = tokio::time::timeout(Duration::from_millis(50), db.write()).await;
        assert!(after.is_ok(), "the turn ends with the transaction");
    }

    #[tokio::test]
    async fn reads_never_wait() {
        let db = Db::new(Database::connect("sqlite::memory:").await.expect("sqlite"));
        let _writing = db.write().await;
        db.read()
            .execute_unprepared("SELECT 1")
            .await
            .expect("read while a write is held");
    }

    #[tokio::test]
    async fn a_file_that_cannot_be_written_is_unavailable_and_a_bad_statement_is_not() {
        let db = Database::connect("sqlite::memory:").await.expect("sqlite");
        db.execute_unprepared("CREATE TABLE t (x INTEGER PRIMARY KEY)")
            .await
            .expect("create");
        let wrong = db
            .execute_unprepared("INSERT INTO nowhere VALUES (1)")
            .await
            .expect_err("no such table");
        assert!(!unavailable(&wrong), "{wrong}");
        db.execute_unprepared("INSERT INTO t VALUES (1)")
            .await
            .expect("insert");
        let duplicate = db
            .execute_unprepared("INSERT INTO t VALUES (1)")
            .await
            .expect_err("duplicate");
        assert!(!unavailable(&duplicate), "{duplicate}");
        db.execute_unprepared("PRAGMA query_only = 1")
            .await
            .expect("pragma");
        let read_only = db
            .execute_unprepared("INSERT INTO t VALUES (2)")
            .await
            .expect_err("read-only");
        assert!(unavailable(&read_only), "{read_only}");
    }

    #[test]
    fn codes_for_a_database_that_cannot_take_requests_now() {
        for code in ["08006", "57P01", "53300", "25006"] {
            assert!(postgres_unavailable(code), "{code}");
        }
        for code in ["23505", "40001", "42P01"] {
            assert!(!postgres_unavailable(code), "{code}");
        }
        // BUSY, READONLY, READONLY_DBMOVED, IOERR, IOERR_WRITE, FULL, CANTOPEN.
        for code in [5, 8, 1032, 10, 778, 13, 14] {
            assert!(sqlite_unavailable(code), "{code}");
        }
        // BUSY_SNAPSHOT, LOCKED, IOERR_CORRUPTFS, CONSTRAINT_UNIQUE, ERROR.
        for code in [517, 6, 8458, 2067, 1] {
            assert!(!sqlite_unavailable(code), "{code}");
        }
    }
}

//! Connecting to the database the configuration names, and applying migrations.

use std::str::FromStr;
use std::time::Duration;

use latchkey_core::Db;
use latchkey_migrations::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, ConnectionTrait, Database};

/// Connections to a SQLite file. Writes are batched and take turns (see `Db`), so past a few
/// connections more only cost memory. bench/login.sh 10 sqlite, RSS after the load:
/// 16 connections, SQLite's defaults: 3,150-3,400 req/s, 110 MB; 8 connections with the
/// caches below: 3,200-3,400 req/s, 49-50 MB.
const SQLITE_POOL: u32 = 8;
/// Each connection's page cache (KiB, as SQLite's negative `cache_size`): the file's pages
/// are in the operating system's cache anyway, shared by every connection.
const SQLITE_PAGE_CACHE: &str = "-512";
/// Prepared statements each connection keeps: the hot paths use a dozen; sqlx's default of
/// 100 cost about 1.5 MB a connection.
const SQLITE_STATEMENT_CACHE: usize = 24;

/// Why the database could not be used; each message names the URL (without its password).
#[derive(Debug, thiserror::Error)]
pub enum DatabaseError {
    #[error("database_url: {url} is not a usable SQLite URL ({reason})")]
    BadSqliteUrl { url: String, reason: String },
    #[error("database_url: cannot create the folder {folder} for the SQLite database: {reason}")]
    Folder { folder: String, reason: String },
    #[error("database_url: cannot connect to {url}: {reason}")]
    Connect { url: String, reason: String },
    #[error("applying migrations to {url}: {reason}")]
    Migrate { url: String, reason: String },
    #[error("database_url: {url} cannot be written: {reason}")]
    NotWritable { url: String, reason: String },
}

/// Connections to PostgreSQL, unless `database_max_connections` says otherwise.
const POSTGRES_POOL: u32 = 20;

/// Connects to SQLite (creating the file and its folder, WAL, foreign keys on) or PostgreSQL,
/// with at most `max_connections` (None: the default for the kind).
pub async fn connect(url: &str, max_connections: Option<u32>) -> Result<Db, DatabaseError> {
    let shown = redact(url);
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .sqlx_logging(false)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(10));
    if url.starts_with("sqlite:") {
        let parsed =
            SqliteConnectOptions::from_str(url).map_err(|e| DatabaseError::BadSqliteUrl {
                url: shown.clone(),
                reason: e.to_string(),
            })?;
        if let Some(folder) = parsed
            .get_filename()
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
        {
            std::fs::create_dir_all(folder).map_err(|e| DatabaseError::Folder {
                folder: folder.display().to_string(),
                reason: e.to_string(),
            })?;
        }
        // Each SQLite connection works on a thread of its own, and holds its own page cache,
        // schema and prepared statements: memory grows with every connection, not with the
        // load. See SQLITE_POOL for the figures.
        options
            .max_connections(max_connections.unwrap_or(SQLITE_POOL))
            .min_connections(1);
        options.map_sqlx_sqlite_opts(|o| {
            o.create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(5))
                .pragma("cache_size", SQLITE_PAGE_CACHE)
                .statement_cache_capacity(SQLITE_STATEMENT_CACHE)
        });
    } else {
        options.max_connections(max_connections.unwrap_or(POSTGRES_POOL));
    }
    Database::connect(options)
        .await
        .map(Db::new)
        .map_err(|e| DatabaseError::Connect {
            url: shown,
            reason: with_advice(&e),
        })
}

/// The driver's reason, and for a SQLite file that cannot be used, what to do about it.
fn with_advice(error: &sea_orm::DbErr) -> String {
    let advice = match latchkey_core::sqlite_code(error) {
        Some(5 | 6) => {
            "another process holds the file's lock: stop it, or give this instance a file of \
             its own"
        }
        Some(8) => {
            "the file or its folder is read-only: Latchkey writes the file, and the -wal and \
             -shm files beside it"
        }
        Some(10) => "the disk failed a read or a write: check it",
        Some(13) => "the disk is full: free some space, then start again",
        Some(14) => {
            "the file cannot be opened: its folder must exist and be writable by this user \
             (Latchkey writes the -wal and -shm files beside it), on a disk that is not \
             read-only"
        }
        _ => return error.to_string(),
    };
    format!("{error}; {advice}")
}

/// The PostgreSQL advisory lock that migrations run under ("LATCHKEY" in ASCII).
const MIGRATION_LOCK: i64 = 0x4c41_5443_484b_4559;

/// Applies every pending migration. On PostgreSQL, replicas starting at once (or beside the
/// migration Job) take turns under an advisory lock, held on a connection of its own: the
/// first migrates, the others then find nothing to do. A process that dies releases it.
pub async fn migrate(db: &Db, url: &str) -> Result<(), DatabaseError> {
    let failed = |e: sea_orm::DbErr| DatabaseError::Migrate {
        url: redact(url),
        reason: with_advice(&e),
    };
    let lock = if url.starts_with("postgres") {
        let mut options = ConnectOptions::new(url.to_owned());
        options
            .max_connections(1)
            .sqlx_logging(false)
            .connect_timeout(Duration::from_secs(5));
        let conn = Database::connect(options).await.map_err(failed)?;
        conn.execute_unprepared(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))
            .await
            .map_err(failed)?;
        Some(conn)
    } else {
        None
    };
    // On SQLite, on a connection of its own: a table a migration drops and makes again would
    // still be in the cached schema of another connection of the pool, and SQLite checks a
    // new table's name against that cache.
    let migrated = if url.starts_with("sqlite") {
        let mut options = ConnectOptions::new(url.to_owned());
        options.max_connections(1).sqlx_logging(false);
        options.map_sqlx_sqlite_opts(|o| o.foreign_keys(true).busy_timeout(Duration::from_secs(5)));
        let conn = Database::connect(options).await.map_err(failed)?;
        let _writing = db.write().await;
        let migrated = Migrator::up(&conn, None).await.map_err(failed);
        let _ = conn.close().await;
        migrated
    } else {
        Migrator::up(&*db.write().await, None).await.map_err(failed)
    };
    if let Some(conn) = lock {
        let _ = conn
            .execute_unprepared(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))
            .await;
        let _ = conn.close().await;
    }
    migrated
}

/// On SQLite, takes the write lock once and lets it go, changing nothing: a file that is
/// read-only, on a full disk, or locked by another process past the busy timeout is then
/// said at start, with what to do, rather than by the first request that writes.
pub async fn check_writable(db: &Db, url: &str) -> Result<(), DatabaseError> {
    if db.backend() != sea_orm::DbBackend::Sqlite {
        return Ok(());
    }
    let failed = |e: sea_orm::DbErr| DatabaseError::NotWritable {
        url: redact(url),
        reason: with_advice(&e),
    };
    let txn = db.transaction().await.map_err(failed)?;
    // A write statement takes the write lock even when it touches no row.
    txn.execute_unprepared("UPDATE seaql_migrations SET version = version WHERE 0")
        .await
        .map_err(failed)?;
    txn.rollback().await.map_err(failed)
}

/// The URL with any password replaced, so it can be shown in errors and logs.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

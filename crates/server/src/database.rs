//! Connecting to the database the configuration names, and applying migrations.

use std::str::FromStr;
use std::time::Duration;

use latchkey_core::Db;
use latchkey_migrations::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, ConnectionTrait, Database};

/// Connections to a SQLite file.
const SQLITE_POOL: u32 = 16;

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
}

/// Connects to SQLite (creating the file and its folder, WAL, foreign keys on) or PostgreSQL.
pub async fn connect(url: &str) -> Result<Db, DatabaseError> {
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
        // Each SQLite connection works on a thread of its own, so a query's latency is mostly
        // the hand-off: more connections keep more requests moving while one writes (WAL lets
        // readers run beside it). bench/login.sh: 4 → ~1,460 req/s, 8 → ~1,800, 16 → ~2,000.
        options.max_connections(SQLITE_POOL).min_connections(1);
        options.map_sqlx_sqlite_opts(|o| {
            o.create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(5))
        });
    } else {
        options.max_connections(20);
    }
    Database::connect(options)
        .await
        .map(Db::new)
        .map_err(|e| DatabaseError::Connect {
            url: shown,
            reason: e.to_string(),
        })
}

/// The PostgreSQL advisory lock that migrations run under ("LATCHKEY" in ASCII).
const MIGRATION_LOCK: i64 = 0x4c41_5443_484b_4559;

/// Applies every pending migration. On PostgreSQL, replicas starting at once (or beside the
/// migration Job) take turns under an advisory lock, held on a connection of its own: the
/// first migrates, the others then find nothing to do. A process that dies releases it.
pub async fn migrate(db: &Db, url: &str) -> Result<(), DatabaseError> {
    let failed = |e: sea_orm::DbErr| DatabaseError::Migrate {
        url: redact(url),
        reason: e.to_string(),
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
    let migrated = Migrator::up(&*db.write().await, None).await.map_err(failed);
    if let Some(conn) = lock {
        let _ = conn
            .execute_unprepared(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))
            .await;
        let _ = conn.close().await;
    }
    migrated
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

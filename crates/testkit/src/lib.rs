//! For tests only (a dev-dependency of the domain crates): the provider's ground without a
//! server. An in-memory SQLite database with the real migrations, a key ring with real keys,
//! and builders for what most tests start from: a team, its members, and a person signed in.
//! Each domain crate builds its own things (a client, a service provider) on top.
//!
//! Set-up fails loudly: a test whose ground cannot be laid is a broken test, not a result.

#![allow(clippy::expect_used)]

mod people;

use std::sync::Arc;

use arc_swap::ArcSwap;
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use latchkey_core::{Db, Issuer, SharedKeyRing};
use latchkey_keys::{KeyPolicy, KeyStore, MasterKey};
use latchkey_migrations::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, Database};

pub use people::{Acme, Member, Team, account, sessions};

/// A fixed moment every test may start from, so times in answers are predictable.
pub fn start_of_test() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 30, 9, 0, 0)
        .single()
        .expect("a valid time")
}

/// The issuer tests run as.
pub fn issuer() -> Issuer {
    Issuer::parse("https://id.example.test").expect("an https issuer")
}

/// A new database in memory, with every migration applied.
pub async fn memory_db() -> Db {
    // One connection: every connection to `sqlite::memory:` is a database of its own.
    let mut options = ConnectOptions::new("sqlite::memory:");
    options.max_connections(1).sqlx_logging(false);
    let conn = Database::connect(options).await.expect("sqlite in memory");
    Migrator::up(&conn, None).await.expect("migrations");
    Db::new(conn)
}

/// What every domain test stands on: a fresh database, its keys, the issuer, and the moment
/// the test starts.
pub struct Ground {
    pub db: Db,
    pub keys: SharedKeyRing,
    pub issuer: Issuer,
    pub now: DateTime<Utc>,
}

impl Ground {
    pub async fn new() -> Self {
        let now = start_of_test();
        let db = memory_db().await;
        let keys = key_ring(&db, now).await;
        Self {
            db,
            keys,
            issuer: issuer(),
            now,
        }
    }
}

/// The signing keys as the provider keeps them: made, sealed and stored, then loaded as of
/// `now` (an RSA key for SAML, an EC key for JWTs).
pub async fn key_ring(db: &Db, now: DateTime<Utc>) -> SharedKeyRing {
    let (master_key, _) = MasterKey::generate().expect("a master key");
    let policy = KeyPolicy {
        rotation_period: TimeDelta::days(30),
        publish_ahead: TimeDelta::days(1),
        retain_retired: TimeDelta::days(1),
    };
    let store = KeyStore::new(db.read().clone(), Arc::new(master_key), policy);
    store.maintain(now).await.expect("keys made");
    let ring = store.load(now).await.expect("keys loaded");
    Arc::new(ArcSwap::from_pointee(ring))
}

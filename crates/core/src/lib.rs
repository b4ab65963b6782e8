//! What every part of the provider shares: its issuer, email addresses, random secrets,
//! the shared key ring and the database with its SQLite write queue. No HTTP here.

pub mod batch;
mod clock;
mod db;
pub mod email;
mod ids;
mod issuer;
pub mod secret;
pub mod sweep;
pub mod ttl_cache;
pub mod urls;

use std::sync::Arc;

use arc_swap::ArcSwap;
use latchkey_keys::KeyRing;

pub use clock::Clock;
pub use db::{
    Db, WriteTxn, Writer, needs_operator as database_needs_operator, sqlite_code,
    unavailable as database_unavailable,
};
pub use email::{Email, InvalidEmail};
pub use ids::{
    ClientId, ConnectionId, GrantId, JoinLinkId, RequestId, SamlRequestId, SamlSpId, TeamId,
    TrustedIssuerId, UserId,
};
pub use issuer::{Issuer, IssuerError};

/// The key ring every request reads; a background worker swaps in a fresh one.
pub type SharedKeyRing = Arc<ArcSwap<KeyRing>>;

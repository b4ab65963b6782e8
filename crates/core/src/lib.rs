//! What every part of the provider shares: its issuer, email addresses, random secrets,
//! the shared key ring and the SQLite write gate. No HTTP here.

pub mod email;
mod issuer;
pub mod secret;
mod write_gate;

use std::sync::Arc;

use arc_swap::ArcSwap;
use latchkey_keys::KeyRing;

pub use email::{Email, InvalidEmail};
pub use issuer::{Issuer, IssuerError};
pub use write_gate::WriteGate;

/// The key ring every request reads; a background worker swaps in a fresh one.
pub type SharedKeyRing = Arc<ArcSwap<KeyRing>>;

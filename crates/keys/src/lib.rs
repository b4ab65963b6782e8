//! Latchkey's signing keys: P-256 (ES256, the default) and RSA (RS256) key pairs that are
//! generated, sealed at rest under a master key, rotated through next → active → retired,
//! used to sign and verify compact JWTs, and published as a JWKS. Knows nothing of HTTP.

mod algorithm;
mod entity;
mod error;
mod jwk;
mod jws;
mod lifecycle;
mod master_key;
mod material;
mod public_key_pem;
mod ring;
mod store;
mod verify;

pub use algorithm::SigningAlgorithm;
pub use error::{KeyError, VerifyError};
pub use lifecycle::{KeyPolicy, KeyState, ScheduledKey};
pub use master_key::{MasterKey, MasterKeyError};
pub use material::KeyMaterial;
pub use public_key_pem::{MIN_RSA_BITS, PemKeyError, jwk_from_public_key_pem};
pub use ring::{Jwks, KeyRing, LoadedKey};
pub use store::{KeyStore, list_keys};
pub use verify::{Audience, Expectations, Verified};

/// Entities for the migrations crate's tests and for tools that read the table directly.
pub mod entities {
    pub use crate::entity::signing_key;
}

#[cfg(test)]
mod verify_tests;

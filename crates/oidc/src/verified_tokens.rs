//! Access tokens whose signature was already checked. Resource servers introspect the same
//! token many times in its short life; checking an ECDSA signature costs more than the rest of
//! the request. A token is found here only by its exact text, only while the key that signed
//! it is still published, and expiry and revocation are checked on every request regardless.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use latchkey_keys::KeyRing;

use super::tokens::AccessClaims;

/// Tokens kept at most; when full the cache starts over (simpler than LRU, and as good for
/// tokens that live minutes).
const CAPACITY: usize = 10_000;

struct Entry {
    kid: String,
    claims: Arc<AccessClaims>,
}

#[derive(Default)]
pub struct VerifiedTokens {
    entries: RwLock<HashMap<String, Entry>>,
}

impl VerifiedTokens {
    /// The claims of `token` if its signature was verified before with a key `ring` still holds.
    pub fn get(&self, token: &str, ring: &KeyRing) -> Option<Arc<AccessClaims>> {
        let entries = self.entries.read().ok()?;
        let entry = entries.get(token)?;
        ring.kids()
            .any(|kid| kid == entry.kid)
            .then(|| entry.claims.clone())
    }

    pub fn insert(&self, token: &str, kid: String, claims: Arc<AccessClaims>) {
        if let Ok(mut entries) = self.entries.write() {
            if entries.len() >= CAPACITY {
                entries.clear();
            }
            entries.insert(token.to_owned(), Entry { kid, claims });
        }
    }
}

//! What inbound federation keeps of its own, beside the OpenID provider: the issuers' keys
//! (fetched and cached), a brief cache of who trusts each `iss`, and on SQLite the batching
//! writer of browser sign-ons. Its flows are `assertions` (verify a token against the issuers
//! that may have signed it) and `browser` (open a session with one).

use latchkey_core::{Db, Issuer};

use super::issuer_cache::IssuerCache;
use super::sign_on_batch::SignOnWriter;
use crate::remote_jwks::RemoteJwks;

#[derive(Clone)]
pub struct Federation {
    pub(super) db: Db,
    /// The audience of a browser sign-on's token.
    pub(super) issuer: Issuer,
    /// The audiences a jwt-bearer assertion may name: the issuer and the token endpoint.
    pub(super) token_audiences: Vec<String>,
    pub(super) jwks: RemoteJwks,
    /// The trusted issuers of each `iss`, briefly cached.
    pub(super) issuer_cache: IssuerCache,
    /// Writes browser sign-ons in batches (SQLite only).
    pub(super) sign_on_writer: Option<SignOnWriter>,
}

impl Federation {
    pub(crate) fn new(
        db: Db,
        issuer: Issuer,
        token_audiences: Vec<String>,
        jwks: RemoteJwks,
    ) -> Self {
        Self {
            sign_on_writer: SignOnWriter::start(&db),
            issuer_cache: IssuerCache::default(),
            db,
            issuer,
            token_audiences,
            jwks,
        }
    }

    /// Forgets what this replica cached of `iss`'s trusted issuers (one was added or removed).
    pub fn forget_issuer(&self, iss: &str) {
        self.issuer_cache.forget(iss);
    }
}

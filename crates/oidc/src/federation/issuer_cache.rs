//! The trusted issuers of an `iss`, read through a short-lived cache with their inline keys
//! parsed once: a sign-on then reads no row and parses no key set. An issuer removed by the
//! CLI or another replica stops being trusted within [`ISSUER_CACHE_TTL`], as a deleted client
//! does; this replica's own pages forget it at once.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use latchkey_core::Db;
use sea_orm::{ColumnTrait, DbErr, EntityTrait, QueryFilter};

use crate::entities::trusted_issuer;

/// How long a replica trusts its copy of an issuer's rows.
pub const ISSUER_CACHE_TTL: Duration = Duration::from_secs(5);
/// Entries kept before the cache starts over.
const CAPACITY: usize = 10_000;

/// One team's trust in an issuer, with its inline key set parsed (`None` for a key set URL).
pub(crate) struct Trust {
    pub row: trusted_issuer::Model,
    pub keys: Option<Arc<JwkSet>>,
}

type Entry = (Instant, Arc<Vec<Trust>>);

#[derive(Clone, Default)]
pub(crate) struct IssuerCache {
    entries: Arc<RwLock<HashMap<String, Entry>>>,
}

impl IssuerCache {
    /// Every team's trust in `iss`, and whether it came from the cache (the caller reads
    /// again, with [`IssuerCache::forget`], before refusing on what may be stale). An `iss` no
    /// one trusts is not remembered, so an issuer added a moment ago works at once.
    pub(crate) async fn trusts(
        &self,
        db: &Db,
        iss: &str,
    ) -> Result<(Arc<Vec<Trust>>, bool), DbErr> {
        if let Ok(entries) = self.entries.read()
            && let Some((at, trusts)) = entries.get(iss)
            && at.elapsed() < ISSUER_CACHE_TTL
        {
            return Ok((trusts.clone(), true));
        }
        let rows = trusted_issuer::Entity::find()
            .filter(trusted_issuer::Column::Issuer.eq(iss))
            .all(db.read())
            .await?;
        let trusts = Arc::new(
            rows.into_iter()
                .map(|row| Trust {
                    keys: row
                        .jwks
                        .as_deref()
                        .and_then(|jwks| serde_json::from_str(jwks).ok())
                        .map(Arc::new),
                    row,
                })
                .collect::<Vec<_>>(),
        );
        if !trusts.is_empty()
            && let Ok(mut entries) = self.entries.write()
        {
            if entries.len() >= CAPACITY {
                entries.clear();
            }
            entries.insert(iss.to_owned(), (Instant::now(), trusts.clone()));
        }
        Ok((trusts, false))
    }

    /// Forgets `iss`: this replica added or removed a team's trust in it, or a refusal is to
    /// be checked against the rows as they are now.
    pub(crate) fn forget(&self, iss: &str) {
        if let Ok(mut entries) = self.entries.write() {
            entries.remove(iss);
        }
    }
}

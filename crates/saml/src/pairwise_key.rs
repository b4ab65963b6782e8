//! The key each SP's persistent NameIDs and SessionIndexes are derived from (HMAC-SHA256):
//! whoever holds it can compute and link them, so it is sealed under the master key at rest,
//! bound to the SP's id. Keys stored in clear before they were sealed are sealed when the
//! server starts (`seal_clear`), and again under a new master key (`reseal`).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use latchkey_core::Db;
use latchkey_keys::MasterKey;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::entities::service_provider;
use crate::error::SamlError;

/// How a sealed key is stored: this prefix, then base64 of what the master key sealed.
const SEALED: &str = "sealed:";

/// An SP's pairwise key (hex), opened: kept out of logs and answers.
#[derive(Clone, Default)]
pub(crate) struct PairwiseKey(pub String);

impl std::fmt::Debug for PairwiseKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PairwiseKey(…)")
    }
}

impl PairwiseKey {
    /// The key as stored for the SP `sp_id`, opened. One that cannot be opened (a replica on
    /// another master key) is replaced by a random key of this process's: its NameIDs are
    /// then wrong, but nobody can compute or link them (the log says why).
    pub(crate) fn opened(sp_id: &str, stored: &str, master_key: &MasterKey) -> Self {
        match open_stored(sp_id, stored, master_key) {
            Some(key) => Self(key),
            None => {
                tracing::error!(sp = %sp_id, "the SAML SP's pairwise key cannot be opened with the master key");
                Self(latchkey_core::secret::random_key_hex())
            }
        }
    }

    /// A fresh key for the SP `sp_id`, sealed as it is stored.
    pub(crate) fn new_sealed(sp_id: &str, master_key: &MasterKey) -> Result<String, SamlError> {
        sealed(sp_id, &latchkey_core::secret::random_key_hex(), master_key)
    }
}

/// The key as stored (sealed, or in clear from before keys were sealed), opened.
fn open_stored(sp_id: &str, stored: &str, master_key: &MasterKey) -> Option<String> {
    let Some(sealed) = stored.strip_prefix(SEALED) else {
        return Some(stored.to_owned());
    };
    let bytes = STANDARD.decode(sealed).ok()?;
    String::from_utf8(master_key.open(sp_id, &bytes).ok()?).ok()
}

fn sealed(sp_id: &str, key: &str, master_key: &MasterKey) -> Result<String, SamlError> {
    let sealed = master_key
        .seal(sp_id, key.as_bytes())
        .map_err(|e| SamlError::Signing(format!("sealing a pairwise key: {e}")))?;
    Ok(format!("{SEALED}{}", STANDARD.encode(sealed)))
}

/// Seals every pairwise key stored in clear; returns how many. With `reseal`, also those
/// sealed already, anew under the current master key (`keys rotate-master`). Refuses when one
/// cannot be opened with the master key: a replica on the wrong key does not start.
pub async fn seal_pairwise_keys(
    db: &Db,
    master_key: &MasterKey,
    reseal: bool,
) -> Result<usize, SamlError> {
    let rows = service_provider::Entity::find().all(db.read()).await?;
    let mut done = 0;
    for row in rows {
        let key = open_stored(&row.id, &row.pairwise_key, master_key).ok_or_else(|| {
            SamlError::Signing(format!(
                "the pairwise key of SAML SP {} cannot be opened with the master key",
                row.id
            ))
        })?;
        if row.pairwise_key.starts_with(SEALED) && !reseal {
            continue;
        }
        service_provider::Entity::update_many()
            .col_expr(
                service_provider::Column::PairwiseKey,
                Expr::value(sealed(&row.id, &key, master_key)?),
            )
            .filter(service_provider::Column::Id.eq(row.id.as_str()))
            .filter(service_provider::Column::PairwiseKey.eq(row.pairwise_key.as_str()))
            .exec(&*db.write().await)
            .await?;
        done += 1;
    }
    Ok(done)
}

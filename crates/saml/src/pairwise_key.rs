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
    /// The key as stored for the SP `sp_id`, opened; a key that cannot be opened is empty,
    /// so its NameIDs differ and nothing is linked (the log says why).
    pub(crate) fn opened(sp_id: &str, stored: &str, master_key: &MasterKey) -> Self {
        let Some(sealed) = stored.strip_prefix(SEALED) else {
            return Self(stored.to_owned());
        };
        let opened = STANDARD
            .decode(sealed)
            .ok()
            .and_then(|bytes| master_key.open(sp_id, &bytes).ok())
            .and_then(|bytes| String::from_utf8(bytes).ok());
        match opened {
            Some(key) => Self(key),
            None => {
                tracing::error!(sp = %sp_id, "the SAML SP's pairwise key cannot be opened with the master key");
                Self(String::new())
            }
        }
    }

    /// A fresh key for the SP `sp_id`, sealed as it is stored.
    pub(crate) fn new_sealed(sp_id: &str, master_key: &MasterKey) -> Result<String, SamlError> {
        sealed(sp_id, &latchkey_core::secret::random_key_hex(), master_key)
    }
}

fn sealed(sp_id: &str, key: &str, master_key: &MasterKey) -> Result<String, SamlError> {
    let sealed = master_key
        .seal(sp_id, key.as_bytes())
        .map_err(|e| SamlError::Signing(format!("sealing a pairwise key: {e}")))?;
    Ok(format!("{SEALED}{}", STANDARD.encode(sealed)))
}

/// Seals every pairwise key stored in clear; returns how many. With `reseal`, also those
/// sealed already, anew under the current master key (`keys rotate-master`).
pub async fn seal_pairwise_keys(
    db: &Db,
    master_key: &MasterKey,
    reseal: bool,
) -> Result<usize, SamlError> {
    let rows = service_provider::Entity::find().all(db.read()).await?;
    let mut done = 0;
    for row in rows {
        if row.pairwise_key.starts_with(SEALED) && !reseal {
            continue;
        }
        let key = PairwiseKey::opened(&row.id, &row.pairwise_key, master_key);
        if key.0.is_empty() {
            return Err(SamlError::Signing(format!(
                "the pairwise key of SAML SP {} cannot be opened",
                row.id
            )));
        }
        service_provider::Entity::update_many()
            .col_expr(
                service_provider::Column::PairwiseKey,
                Expr::value(sealed(&row.id, &key.0, master_key)?),
            )
            .filter(service_provider::Column::Id.eq(row.id.as_str()))
            .filter(service_provider::Column::PairwiseKey.eq(row.pairwise_key.as_str()))
            .exec(&*db.write().await)
            .await?;
        done += 1;
    }
    Ok(done)
}

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, SqlErr,
};

use crate::algorithm::SigningAlgorithm;
use crate::entity::signing_key;
use crate::error::KeyError;
use crate::lifecycle::{self, Change, KeyPolicy, KeyState, KeyTimes, ScheduledKey};
use crate::master_key::MasterKey;
use crate::material::KeyMaterial;
use crate::ring::{KeyRing, LoadedKey};

/// The key ring as stored in the database: the one place that reads and writes signing keys.
#[derive(Clone, Debug)]
pub struct KeyStore {
    db: DatabaseConnection,
    master_key: Arc<MasterKey>,
    policy: KeyPolicy,
}

impl KeyStore {
    pub fn new(db: DatabaseConnection, master_key: Arc<MasterKey>, policy: KeyPolicy) -> Self {
        Self {
            db,
            master_key,
            policy,
        }
    }

    pub fn policy(&self) -> &KeyPolicy {
        &self.policy
    }

    /// Every stored key with its state at `now`.
    pub async fn schedule(&self, now: DateTime<Utc>) -> Result<Vec<ScheduledKey>, KeyError> {
        list_keys(&self.db, &self.policy, now).await
    }

    /// Makes sure each algorithm has an active and a next key and drops keys no token needs.
    /// Safe to run from every replica at once: a generation can be stored only once.
    #[tracing::instrument(skip_all, err)]
    pub async fn maintain(&self, now: DateTime<Utc>) -> Result<Vec<ScheduledKey>, KeyError> {
        let changes = lifecycle::maintenance(&self.schedule(now).await?, now, &self.policy);
        self.apply(&changes, now).await?;
        self.schedule(now).await
    }

    /// Rotates every algorithm's key (see [`lifecycle::rotation`]) and returns the new schedule.
    #[tracing::instrument(skip_all, err)]
    pub async fn rotate(&self, now: DateTime<Utc>) -> Result<Vec<ScheduledKey>, KeyError> {
        let maintained = self.maintain(now).await?;
        let changes = lifecycle::rotation(&maintained, now, &self.policy);
        self.apply(&changes, now).await?;
        self.schedule(now).await
    }

    /// Loads the published keys, parsing each private key that may still sign.
    pub async fn load(&self, now: DateTime<Utc>) -> Result<KeyRing, KeyError> {
        let rows = signing_key::Entity::find().all(&self.db).await?;
        let schedule = lifecycle::schedule(&times(&rows), now, &self.policy);
        let mut loaded = Vec::with_capacity(rows.len());
        for key in schedule
            .iter()
            .filter(|k| k.unpublished_at.is_none_or(|at| at > now))
        {
            let Some(row) = rows.iter().find(|r| r.kid == key.kid) else {
                continue;
            };
            // What is published comes from the sealed private key, not from the row's copy:
            // whoever could write the table could otherwise publish a key of their own.
            let material = self.open(row)?;
            let jwk = crate::jwk::public_jwk(row.algorithm, &material.public_parameters()?)?;
            // The key itself and its kid (its thumbprint), not the JSON's shape, which a
            // library upgrade may change.
            let stored: jsonwebtoken::jwk::Jwk = serde_json::from_str(&row.public_jwk)?;
            if stored.algorithm != jwk.algorithm
                || jwk.common.key_id.as_deref() != Some(row.kid.as_str())
            {
                return Err(KeyError::PublicKeyMismatch(row.kid.clone()));
            }
            let can_sign = key.state != KeyState::Retired;
            let signer = if can_sign {
                Some(material.signer()?)
            } else {
                None
            };
            let mut parsed = LoadedKey::from_parts(jwk, row.activates_at, signer)?;
            if can_sign {
                parsed.keep_rsa_material(&material);
            }
            loaded.push(parsed);
        }
        KeyRing::new(loaded)
    }

    /// Maintains the ring and, only if the published keys or their roles changed since
    /// `current` was loaded, loads a new one; otherwise no private key is parsed again.
    pub async fn refresh(
        &self,
        current: &KeyRing,
        now: DateTime<Utc>,
    ) -> Result<Option<KeyRing>, KeyError> {
        let schedule = self.maintain(now).await?;
        let wanted: Vec<(&str, DateTime<Utc>, bool)> = schedule
            .iter()
            .filter(|k| k.unpublished_at.is_none_or(|at| at > now))
            .map(|k| (k.kid.as_str(), k.activates_at, k.state != KeyState::Retired))
            .collect();
        if current.holds_exactly(&wanted) {
            return Ok(None);
        }
        self.load(now).await.map(Some)
    }

    /// Seals every private key anew under the current master key (after a change of master
    /// key, with the previous one configured to open them). Returns how many.
    pub async fn reseal_all(&self) -> Result<usize, KeyError> {
        let rows = signing_key::Entity::find().all(&self.db).await?;
        for row in &rows {
            let material = self.open(row)?;
            let sealed = self
                .master_key
                .seal(&row.kid, material.pkcs8_der())
                .map_err(|source| KeyError::Sealed {
                    kid: row.kid.clone(),
                    source,
                })?;
            signing_key::Entity::update_many()
                .col_expr(signing_key::Column::SealedPrivateKey, Expr::value(sealed))
                .filter(signing_key::Column::Kid.eq(row.kid.as_str()))
                .exec(&self.db)
                .await?;
        }
        Ok(rows.len())
    }

    fn open(&self, row: &signing_key::Model) -> Result<KeyMaterial, KeyError> {
        let der = self
            .master_key
            .open(&row.kid, &row.sealed_private_key)
            .map_err(|source| KeyError::Sealed {
                kid: row.kid.clone(),
                source,
            })?;
        Ok(KeyMaterial::from_pkcs8(row.algorithm, der))
    }

    async fn apply(&self, changes: &[Change], now: DateTime<Utc>) -> Result<(), KeyError> {
        for change in changes {
            match change {
                Change::Create {
                    algorithm,
                    generation,
                    activates_at,
                } => {
                    self.create(*algorithm, *generation, now, *activates_at)
                        .await?
                }
                Change::Promote { kid, activates_at } => {
                    // Only a key that is still waiting moves; a concurrent rotation wins once.
                    signing_key::Entity::update_many()
                        .col_expr(signing_key::Column::ActivatesAt, Expr::value(*activates_at))
                        .filter(signing_key::Column::Kid.eq(kid.as_str()))
                        .filter(signing_key::Column::ActivatesAt.gt(*activates_at))
                        .exec(&self.db)
                        .await?;
                    tracing::info!(kid, %activates_at, "signing key promoted");
                }
                Change::Delete { kid } => {
                    signing_key::Entity::delete_by_id(kid.as_str())
                        .exec(&self.db)
                        .await?;
                    tracing::info!(kid, "retired signing key removed from the JWKS");
                }
            }
        }
        Ok(())
    }

    async fn create(
        &self,
        algorithm: SigningAlgorithm,
        generation: i64,
        now: DateTime<Utc>,
        activates_at: DateTime<Utc>,
    ) -> Result<(), KeyError> {
        let material = KeyMaterial::generate(algorithm)?;
        let jwk = crate::jwk::public_jwk(algorithm, &material.public_parameters()?)?;
        let kid = jwk.common.key_id.clone().unwrap_or_default();
        let sealed = self
            .master_key
            .seal(&kid, material.pkcs8_der())
            .map_err(|source| KeyError::Sealed {
                kid: kid.clone(),
                source,
            })?;
        let row = signing_key::ActiveModel {
            kid: Set(kid.clone()),
            algorithm: Set(algorithm),
            generation: Set(generation),
            created_at: Set(now),
            activates_at: Set(activates_at),
            sealed_private_key: Set(sealed),
            public_jwk: Set(serde_json::to_string(&jwk)?),
        };
        match signing_key::Entity::insert(row)
            .exec_without_returning(&self.db)
            .await
        {
            Ok(_) => {
                tracing::info!(%kid, %algorithm, generation, %activates_at, "signing key created");
                Ok(())
            }
            // Another replica stored this generation first; its key is as good as ours.
            Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// Every stored key with its state at `now`. Reads no private key, so it needs no master key.
pub async fn list_keys(
    db: &DatabaseConnection,
    policy: &KeyPolicy,
    now: DateTime<Utc>,
) -> Result<Vec<ScheduledKey>, KeyError> {
    let rows = signing_key::Entity::find().all(db).await?;
    Ok(lifecycle::schedule(&times(&rows), now, policy))
}

fn times(rows: &[signing_key::Model]) -> Vec<KeyTimes> {
    rows.iter()
        .map(|r| KeyTimes {
            kid: r.kid.clone(),
            algorithm: r.algorithm,
            generation: r.generation,
            created_at: r.created_at,
            activates_at: r.activates_at,
        })
        .collect()
}

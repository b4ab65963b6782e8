//! The identity provider for the key ring in use, built once per ring and signing key (a
//! certificate and two parsed keys cost milliseconds, a response must not).

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use latchkey_core::SharedKeyRing;
use latchkey_keys::SigningAlgorithm;

use crate::{IdentityProvider, SamlError};

/// The identity provider, rebuilt when the key ring or its active RSA key changes.
#[derive(Clone)]
pub struct CurrentIdentityProvider {
    issuer: latchkey_core::Issuer,
    keys: SharedKeyRing,
    built: Arc<Mutex<Option<Built>>>,
}

struct Built {
    /// Held, so that its address cannot be reused by another ring.
    ring: Arc<latchkey_keys::KeyRing>,
    idp: Arc<IdentityProvider>,
}

impl CurrentIdentityProvider {
    pub fn new(issuer: latchkey_core::Issuer, keys: SharedKeyRing) -> Self {
        Self {
            issuer,
            keys,
            built: Arc::default(),
        }
    }

    pub fn get(&self, now: DateTime<Utc>) -> Result<Arc<IdentityProvider>, SamlError> {
        let ring = self.keys.load_full();
        let kid = ring
            .active(SigningAlgorithm::Rs256, now)
            .map(|key| key.kid.clone())
            .ok_or_else(|| {
                SamlError::Signing("no RSA key is active: run `latchkey keys rotate`".to_owned())
            })?;
        let mut built = self
            .built
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(current) = built.as_ref()
            && Arc::ptr_eq(&current.ring, &ring)
            && current.idp.signs_with(&kid)
        {
            return Ok(current.idp.clone());
        }
        let idp = Arc::new(IdentityProvider::new(&self.issuer, &ring, now)?);
        *built = Some(Built {
            ring,
            idp: idp.clone(),
        });
        Ok(idp)
    }
}

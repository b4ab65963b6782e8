use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::algorithm::SigningAlgorithm;
use crate::error::KeyError;
use crate::jws;
use crate::material::{KeyMaterial, Signer};

/// One published key, parsed once: the signer (absent once retired) and the verifier.
pub struct LoadedKey {
    pub kid: String,
    pub algorithm: SigningAlgorithm,
    pub activates_at: DateTime<Utc>,
    pub(crate) signer: Option<Signer>,
    pub(crate) decoding: DecodingKey,
    pub(crate) jwk: Jwk,
    /// An RSA key that may sign, as PKCS#8 DER: SAML signs XML with it, outside JWS.
    rsa_pkcs8: Option<Arc<[u8]>>,
}

impl LoadedKey {
    /// Parses a key's material for signing and for verifying.
    pub fn new(
        material: &KeyMaterial,
        activates_at: DateTime<Utc>,
        can_sign: bool,
    ) -> Result<Self, KeyError> {
        let jwk = crate::jwk::public_jwk(material.algorithm(), &material.public_parameters()?)?;
        let mut loaded = Self::from_parts(
            jwk,
            activates_at,
            if can_sign {
                Some(material.signer()?)
            } else {
                None
            },
        )?;
        if can_sign {
            loaded.keep_rsa_material(material);
        }
        Ok(loaded)
    }

    /// Keeps an RSA key's private material, for a key that may sign.
    pub(crate) fn keep_rsa_material(&mut self, material: &KeyMaterial) {
        if material.algorithm() == SigningAlgorithm::Rs256 {
            self.rsa_pkcs8 = Some(Arc::from(material.pkcs8_der()));
        }
    }

    /// The private key as PKCS#8 DER, for an RSA key that may sign.
    pub fn rsa_pkcs8_der(&self) -> Option<&[u8]> {
        self.rsa_pkcs8.as_deref()
    }

    pub(crate) fn from_parts(
        jwk: Jwk,
        activates_at: DateTime<Utc>,
        signer: Option<Signer>,
    ) -> Result<Self, KeyError> {
        let kid = jwk.common.key_id.clone().unwrap_or_default();
        let algorithm = match jwk.common.key_algorithm {
            Some(jsonwebtoken::jwk::KeyAlgorithm::ES256) => SigningAlgorithm::Es256,
            Some(jsonwebtoken::jwk::KeyAlgorithm::RS256) => SigningAlgorithm::Rs256,
            other => {
                return Err(KeyError::Crypto(format!(
                    "key {kid} has an unsupported algorithm {other:?}"
                )));
            }
        };
        let decoding =
            DecodingKey::from_jwk(&jwk).map_err(|e| KeyError::Crypto(format!("key {kid}: {e}")))?;
        Ok(Self {
            kid,
            algorithm,
            activates_at,
            signer,
            decoding,
            jwk,
            rsa_pkcs8: None,
        })
    }
}

/// The JWKS document, serialized once per ring, with its entity tag.
#[derive(Clone, Debug)]
pub struct Jwks {
    pub json: Arc<[u8]>,
    pub etag: Arc<str>,
}

/// A snapshot of the published keys. Cheap to share; replaced whole when keys change.
pub struct KeyRing {
    /// Sorted by activation time, so the active key of an algorithm is the last one of that
    /// algorithm that has activated.
    keys: Vec<LoadedKey>,
    jwks: Jwks,
}

impl KeyRing {
    /// Builds a ring from loaded keys and serializes its JWKS.
    pub fn new(mut keys: Vec<LoadedKey>) -> Result<Self, KeyError> {
        keys.sort_by_key(|k| k.activates_at);
        let set = JwkSet {
            keys: keys.iter().map(|k| k.jwk.clone()).collect(),
        };
        let json = serde_json::to_vec(&set)?;
        let digest = Sha256::digest(&json);
        let etag = format!("\"{}\"", URL_SAFE_NO_PAD.encode(&digest[..16]));
        Ok(Self {
            keys,
            jwks: Jwks {
                json: json.into(),
                etag: etag.into(),
            },
        })
    }

    /// The published keys as a JWKS document.
    pub fn jwks(&self) -> &Jwks {
        &self.jwks
    }

    /// The key that signs for `algorithm` at `now`.
    pub fn active(&self, algorithm: SigningAlgorithm, now: DateTime<Utc>) -> Option<&LoadedKey> {
        self.keys
            .iter()
            .rev()
            .find(|k| k.algorithm == algorithm && k.activates_at <= now && k.signer.is_some())
    }

    /// The RSA keys that may sign, active or published ahead, oldest activation first: SAML
    /// publishes a certificate for each, so that service providers trust the next key before
    /// it signs.
    pub fn rsa_signing_keys(&self) -> impl Iterator<Item = &LoadedKey> {
        self.keys.iter().filter(|k| k.rsa_pkcs8.is_some())
    }

    /// Signs `claims` as a compact JWS of type `typ` with the algorithm's active key.
    pub fn sign<C: Serialize + ?Sized>(
        &self,
        algorithm: SigningAlgorithm,
        typ: &str,
        claims: &C,
        now: DateTime<Utc>,
    ) -> Result<String, KeyError> {
        let key = self
            .active(algorithm, now)
            .ok_or(KeyError::NoActiveKey(algorithm))?;
        let signer = key
            .signer
            .as_ref()
            .ok_or(KeyError::NoActiveKey(algorithm))?;
        jws::compact(signer, algorithm.as_str(), typ, &key.kid, claims)
    }

    /// Whether this ring holds exactly these keys (kid, activation, may sign).
    pub(crate) fn holds_exactly(&self, wanted: &[(&str, DateTime<Utc>, bool)]) -> bool {
        self.keys.len() == wanted.len()
            && wanted.iter().all(|(kid, activates_at, can_sign)| {
                self.find(kid).is_some_and(|k| {
                    k.activates_at == *activates_at && k.signer.is_some() == *can_sign
                })
            })
    }

    pub(crate) fn find(&self, kid: &str) -> Option<&LoadedKey> {
        self.keys.iter().find(|k| k.kid == kid)
    }

    /// The kids in the ring, oldest activation first.
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|k| k.kid.as_str())
    }
}

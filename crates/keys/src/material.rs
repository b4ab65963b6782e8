use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair, RSA_PKCS1_SHA256, RsaKeyPair,
};
use p256::elliptic_curve::Generate;
use p256::elliptic_curve::sec1::ToSec1Point;
use p256::pkcs8::EncodePrivateKey;

use crate::algorithm::SigningAlgorithm;
use crate::error::KeyError;

/// A private key as PKCS#8 DER: the form it is sealed in and parsed from. `Debug` hides it.
pub struct KeyMaterial {
    algorithm: SigningAlgorithm,
    pkcs8_der: Vec<u8>,
}

impl KeyMaterial {
    /// Generates a fresh key for `algorithm`: P-256 through `p256`, RSA-2048 through aws-lc-rs.
    pub fn generate(algorithm: SigningAlgorithm) -> Result<Self, KeyError> {
        let pkcs8_der = match algorithm {
            SigningAlgorithm::Es256 => {
                let secret = p256::SecretKey::generate();
                secret
                    .to_pkcs8_der()
                    .map_err(|e| KeyError::Crypto(format!("encoding a P-256 key: {e}")))?
                    .as_bytes()
                    .to_vec()
            }
            SigningAlgorithm::Rs256 => {
                let pair = aws_lc_rs::rsa::KeyPair::generate(KeySize::Rsa2048)
                    .map_err(|_| KeyError::Crypto("generating an RSA key".into()))?;
                pair.as_der()
                    .map_err(|_| KeyError::Crypto("encoding an RSA key".into()))?
                    .as_ref()
                    .to_vec()
            }
        };
        Ok(Self {
            algorithm,
            pkcs8_der,
        })
    }

    pub(crate) fn from_pkcs8(algorithm: SigningAlgorithm, pkcs8_der: Vec<u8>) -> Self {
        Self {
            algorithm,
            pkcs8_der,
        }
    }

    pub(crate) fn pkcs8_der(&self) -> &[u8] {
        &self.pkcs8_der
    }

    pub fn algorithm(&self) -> SigningAlgorithm {
        self.algorithm
    }

    /// Parses the key once into the form that signs; signing then costs no parsing.
    pub(crate) fn signer(&self) -> Result<Signer, KeyError> {
        match self.algorithm {
            SigningAlgorithm::Es256 => {
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &self.pkcs8_der)
                    .map(Signer::Ecdsa)
                    .map_err(|e| KeyError::Crypto(format!("parsing a P-256 key: {e}")))
            }
            SigningAlgorithm::Rs256 => RsaKeyPair::from_pkcs8(&self.pkcs8_der)
                .map(Signer::Rsa)
                .map_err(|e| KeyError::Crypto(format!("parsing an RSA key: {e}"))),
        }
    }

    /// The public half, as the JWK parameters that publish it.
    pub(crate) fn public_parameters(&self) -> Result<PublicParameters, KeyError> {
        match self.algorithm {
            SigningAlgorithm::Es256 => {
                use p256::pkcs8::DecodePrivateKey;
                let secret = p256::SecretKey::from_pkcs8_der(&self.pkcs8_der)
                    .map_err(|e| KeyError::Crypto(format!("parsing a P-256 key: {e}")))?;
                let point = secret.public_key().to_sec1_point(false);
                match (point.x(), point.y()) {
                    (Some(x), Some(y)) => Ok(PublicParameters::Ec {
                        x: x.to_vec(),
                        y: y.to_vec(),
                    }),
                    _ => Err(KeyError::Crypto(
                        "a P-256 public key has no coordinates".into(),
                    )),
                }
            }
            SigningAlgorithm::Rs256 => {
                let pair = RsaKeyPair::from_pkcs8(&self.pkcs8_der)
                    .map_err(|e| KeyError::Crypto(format!("parsing an RSA key: {e}")))?;
                let public = pair.public_key();
                Ok(PublicParameters::Rsa {
                    n: public.modulus().big_endian_without_leading_zero().to_vec(),
                    e: public.exponent().big_endian_without_leading_zero().to_vec(),
                })
            }
        }
    }
}

impl std::fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyMaterial")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

/// The public numbers of a key, before they are written as a JWK.
pub(crate) enum PublicParameters {
    Ec { x: Vec<u8>, y: Vec<u8> },
    Rsa { n: Vec<u8>, e: Vec<u8> },
}

/// A private key parsed once, kept in memory for as long as it signs.
pub(crate) enum Signer {
    Ecdsa(EcdsaKeyPair),
    Rsa(RsaKeyPair),
}

impl Signer {
    /// Signs `message`, returning the raw JWS signature (r ‖ s for ES256, PKCS#1 v1.5 for RS256).
    pub(crate) fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        let rng = SystemRandom::new();
        match self {
            Signer::Ecdsa(pair) => pair
                .sign(&rng, message)
                .map(|signature| signature.as_ref().to_vec())
                .map_err(|_| KeyError::Crypto("ES256 signing failed".into())),
            Signer::Rsa(pair) => {
                let mut signature = vec![0; pair.public_modulus_len()];
                pair.sign(&RSA_PKCS1_SHA256, &rng, message, &mut signature)
                    .map_err(|_| KeyError::Crypto("RS256 signing failed".into()))?;
                Ok(signature)
            }
        }
    }
}

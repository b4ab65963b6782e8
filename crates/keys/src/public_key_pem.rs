//! Public keys pasted or filed as PEM (what an integrator's `openssl` prints), made into the
//! JWK Latchkey verifies with: SPKI (`PUBLIC KEY`) or PKCS#1 (`RSA PUBLIC KEY`), RSA of at
//! least 2048 bits or EC P-256, with `kid` = the RFC 7638 thumbprint. Private keys are refused
//! before anything is parsed, so a secret never travels further than this check.

use jsonwebtoken::jwk::Jwk;
use p256::pkcs8::DecodePublicKey;
use p256::pkcs8::der::{Decode, pem};
use p256::pkcs8::spki::{ObjectIdentifier, SubjectPublicKeyInfoRef};

use crate::algorithm::SigningAlgorithm;
use crate::jwk::public_jwk;
use crate::material::PublicParameters;

/// The smallest RSA modulus accepted (NIST SP 800-131A: 1024 bits has been disallowed since 2013).
pub const MIN_RSA_BITS: usize = 2048;

const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const PRIME256V1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");

/// Why a PEM is not a public key Latchkey can verify with, in words for whoever pasted it.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PemKeyError {
    #[error(
        "this is a private key: give the public key only (openssl pkey -in key.pem -pubout); the private key stays with the integration and nothing was stored"
    )]
    PrivateKey,
    #[error(
        "this is a certificate, not a key: give its public key (openssl x509 -in cert.pem -pubkey -noout)"
    )]
    Certificate,
    #[error(
        "this is not a PEM public key: expected a block that begins -----BEGIN PUBLIC KEY-----"
    )]
    NotPem,
    #[error("a PEM block labelled {0:?} is not a public key: expected PUBLIC KEY")]
    Label(String),
    #[error("the public key cannot be read: {0}")]
    Malformed(String),
    #[error("the RSA key has {0} bits: at least {MIN_RSA_BITS} are required")]
    RsaTooSmall(usize),
    #[error("only RSA and EC P-256 public keys are accepted (for RS256 and ES256)")]
    Unsupported,
}

/// The JWK of the public key in `text`, with its algorithm (RS256 or ES256) and thumbprint kid.
pub fn jwk_from_public_key_pem(text: &str) -> Result<Jwk, PemKeyError> {
    // Any private key in what was given is refused whole, even beside a public one.
    if text.contains("PRIVATE KEY-----") {
        return Err(PemKeyError::PrivateKey);
    }
    let (label, der) = pem::decode_vec(text.trim().as_bytes()).map_err(|_| PemKeyError::NotPem)?;
    let (algorithm, public) = match label {
        "PUBLIC KEY" => from_spki(&der)?,
        "RSA PUBLIC KEY" => rsa(&der)?,
        "CERTIFICATE" => return Err(PemKeyError::Certificate),
        other => return Err(PemKeyError::Label(other.to_owned())),
    };
    public_jwk(algorithm, &public).map_err(|e| PemKeyError::Malformed(e.to_string()))
}

fn from_spki(der: &[u8]) -> Result<(SigningAlgorithm, PublicParameters), PemKeyError> {
    let info = SubjectPublicKeyInfoRef::from_der(der)
        .map_err(|e| PemKeyError::Malformed(e.to_string()))?;
    match info.algorithm.oid {
        RSA_ENCRYPTION => rsa(der),
        EC_PUBLIC_KEY if info.algorithm.parameters_oid().ok() == Some(PRIME256V1) => {
            let key = p256::PublicKey::from_public_key_der(der)
                .map_err(|e| PemKeyError::Malformed(e.to_string()))?;
            let point = p256::elliptic_curve::sec1::ToSec1Point::to_sec1_point(&key, false);
            match (point.x(), point.y()) {
                (Some(x), Some(y)) => Ok((
                    SigningAlgorithm::Es256,
                    PublicParameters::Ec {
                        x: x.to_vec(),
                        y: y.to_vec(),
                    },
                )),
                _ => Err(PemKeyError::Malformed(
                    "the point has no coordinates".into(),
                )),
            }
        }
        _ => Err(PemKeyError::Unsupported),
    }
}

/// An RSA public key, SPKI or PKCS#1, checked by aws-lc (`RSA_check_key`).
fn rsa(der: &[u8]) -> Result<(SigningAlgorithm, PublicParameters), PemKeyError> {
    let key = aws_lc_rs::rsa::PublicKey::from_der(der)
        .map_err(|e| PemKeyError::Malformed(e.to_string()))?;
    let modulus = key.modulus();
    let n = modulus.big_endian_without_leading_zero();
    let bits = n.len() * 8 - n.first().map_or(8, |top| top.leading_zeros() as usize);
    if bits < MIN_RSA_BITS {
        return Err(PemKeyError::RsaTooSmall(bits));
    }
    Ok((
        SigningAlgorithm::Rs256,
        PublicParameters::Rsa {
            n: n.to_vec(),
            e: key.exponent().big_endian_without_leading_zero().to_vec(),
        },
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use aws_lc_rs::encoding::{AsDer, PublicKeyX509Der};
    use aws_lc_rs::rsa::{KeyPair, KeySize};
    use aws_lc_rs::signature::KeyPair as _;
    use jsonwebtoken::jwk::{AlgorithmParameters, KeyAlgorithm};

    fn wrap(label: &str, der: &[u8]) -> String {
        pem::encode_string(label, pem::LineEnding::LF, der).unwrap()
    }

    fn rsa_spki(size: KeySize) -> Vec<u8> {
        let pair = KeyPair::generate(size).unwrap();
        let der: PublicKeyX509Der<'static> = pair.public_key().as_der().unwrap();
        der.as_ref().to_vec()
    }

    #[test]
    fn an_ec_p256_public_key_becomes_an_es256_jwk_with_its_thumbprint() {
        let material = crate::KeyMaterial::generate(SigningAlgorithm::Es256).unwrap();
        let expected = public_jwk(
            SigningAlgorithm::Es256,
            &material.public_parameters().unwrap(),
        )
        .unwrap();
        let secret = {
            use p256::pkcs8::DecodePrivateKey;
            p256::SecretKey::from_pkcs8_der(material.pkcs8_der()).unwrap()
        };
        let spki = {
            use p256::pkcs8::EncodePublicKey;
            secret
                .public_key()
                .to_public_key_pem(pem::LineEnding::LF)
                .unwrap()
        };
        let jwk = jwk_from_public_key_pem(&spki).unwrap();
        assert_eq!(jwk, expected);
        assert_eq!(jwk.common.key_algorithm, Some(KeyAlgorithm::ES256));
    }

    #[test]
    fn an_rsa_public_key_becomes_an_rs256_jwk_in_either_encoding() {
        let spki = rsa_spki(KeySize::Rsa2048);
        let jwk = jwk_from_public_key_pem(&wrap("PUBLIC KEY", &spki)).unwrap();
        assert_eq!(jwk.common.key_algorithm, Some(KeyAlgorithm::RS256));
        assert!(matches!(jwk.algorithm, AlgorithmParameters::RSA(_)));
        assert!(
            jwk.common
                .key_id
                .as_deref()
                .is_some_and(|kid| kid.len() == 43)
        );
        let pkcs1 = aws_lc_rs::rsa::PublicKey::from_der(&spki).unwrap();
        let again = jwk_from_public_key_pem(&wrap("RSA PUBLIC KEY", pkcs1.as_ref())).unwrap();
        assert_eq!(again, jwk);
    }

    #[test]
    fn private_keys_certificates_and_other_text_are_refused_clearly() {
        let material = crate::KeyMaterial::generate(SigningAlgorithm::Es256).unwrap();
        let private = wrap("PRIVATE KEY", material.pkcs8_der());
        assert_eq!(
            jwk_from_public_key_pem(&private),
            Err(PemKeyError::PrivateKey)
        );
        let both = format!(
            "{}\n{private}",
            wrap("PUBLIC KEY", &rsa_spki(KeySize::Rsa2048))
        );
        assert_eq!(jwk_from_public_key_pem(&both), Err(PemKeyError::PrivateKey));
        assert!(
            PemKeyError::PrivateKey
                .to_string()
                .contains("nothing was stored")
        );
        assert_eq!(
            jwk_from_public_key_pem(&wrap("CERTIFICATE", b"\x30\x00")),
            Err(PemKeyError::Certificate)
        );
        assert_eq!(
            jwk_from_public_key_pem("ssh-ed25519 AAAA"),
            Err(PemKeyError::NotPem)
        );
        assert!(matches!(
            jwk_from_public_key_pem(&wrap("PUBLIC KEY", b"\x30\x03\x02\x01\x00")),
            Err(PemKeyError::Malformed(_))
        ));
    }

    #[test]
    fn a_1024_bit_rsa_key_is_refused() {
        // aws-lc no longer generates 1024-bit keys: this one was made by
        // `openssl genrsa 1024 | openssl rsa -pubout`.
        let small = "-----BEGIN PUBLIC KEY-----
MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQCjL+s1n16vosveOQZ2N430qTys
9gFx2Klvv1D5Z1vMyvsV+GpaCt38CnPL3CfcUc+hyzaImxmWzfrk8rGCXwWQbAWW
7h+hLzQmoFjzLBD9TZEY6hCpFHM0XIg2xYf2aWQtXYH86ewU8/UBfWHYhqiaHOwn
jd9e3IJ91Isa49MAlwIDAQAB
-----END PUBLIC KEY-----";
        assert_eq!(
            jwk_from_public_key_pem(small),
            Err(PemKeyError::RsaTooSmall(1024))
        );
    }
}

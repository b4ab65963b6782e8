use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, EllipticCurve, EllipticCurveKeyParameters,
    EllipticCurveKeyType, Jwk, KeyAlgorithm, PublicKeyUse, RSAKeyParameters, RSAKeyType,
    ThumbprintHash,
};

use crate::algorithm::SigningAlgorithm;
use crate::error::KeyError;
use crate::material::PublicParameters;

/// Writes a public key as a JWK with `use: sig`, its `alg`, and `kid` = its RFC 7638 thumbprint.
pub(crate) fn public_jwk(
    algorithm: SigningAlgorithm,
    public: &PublicParameters,
) -> Result<Jwk, KeyError> {
    let parameters = match public {
        PublicParameters::Ec { x, y } => {
            AlgorithmParameters::EllipticCurve(EllipticCurveKeyParameters {
                key_type: EllipticCurveKeyType::EC,
                curve: EllipticCurve::P256,
                x: URL_SAFE_NO_PAD.encode(x),
                y: URL_SAFE_NO_PAD.encode(y),
            })
        }
        PublicParameters::Rsa { n, e } => AlgorithmParameters::RSA(RSAKeyParameters {
            key_type: RSAKeyType::RSA,
            n: URL_SAFE_NO_PAD.encode(n),
            e: URL_SAFE_NO_PAD.encode(e),
        }),
    };
    let mut jwk = Jwk {
        common: CommonParameters {
            public_key_use: Some(PublicKeyUse::Signature),
            key_algorithm: Some(match algorithm {
                SigningAlgorithm::Es256 => KeyAlgorithm::ES256,
                SigningAlgorithm::Rs256 => KeyAlgorithm::RS256,
            }),
            ..CommonParameters::default()
        },
        algorithm: parameters,
    };
    let kid = jwk
        .thumbprint(ThumbprintHash::SHA256)
        .map_err(|e| KeyError::Crypto(format!("computing a JWK thumbprint: {e}")))?;
    jwk.common.key_id = Some(kid);
    Ok(jwk)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7638 section 3.1: the thumbprint of the example RSA key.
    #[test]
    fn the_key_id_is_the_rfc_7638_thumbprint() {
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        let e = "AQAB";
        let public = PublicParameters::Rsa {
            n: URL_SAFE_NO_PAD.decode(n).expect("n"),
            e: URL_SAFE_NO_PAD.decode(e).expect("e"),
        };
        let jwk = public_jwk(SigningAlgorithm::Rs256, &public).expect("jwk");
        assert_eq!(
            jwk.common.key_id.as_deref(),
            Some("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs")
        );
    }
}

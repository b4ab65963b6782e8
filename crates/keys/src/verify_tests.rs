//! Verification refuses every token that is not exactly what the caller expects.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::{Expectations, KeyMaterial, KeyRing, LoadedKey, SigningAlgorithm, VerifyError};

const ISSUER: &str = "https://id.example.test";

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Claims {
    iss: String,
    aud: String,
    sub: String,
    exp: i64,
}

fn now() -> DateTime<Utc> {
    DateTime::<Utc>::UNIX_EPOCH + TimeDelta::days(20_000)
}

fn ring() -> KeyRing {
    let keys = SigningAlgorithm::ALL
        .into_iter()
        .map(|alg| {
            LoadedKey::new(&KeyMaterial::generate(alg).expect("generate"), now(), true)
                .expect("load")
        })
        .collect();
    KeyRing::new(keys).expect("ring")
}

fn claims(aud: &str, ttl: TimeDelta) -> Claims {
    Claims {
        iss: ISSUER.into(),
        aud: aud.into(),
        sub: "user-1".into(),
        exp: (now() + ttl).timestamp(),
    }
}

const ACCESS: Expectations<'static> = Expectations {
    token_type: "at+jwt",
    audience: crate::Audience::Is("api"),
    issuer: ISSUER,
};

fn verify(ring: &KeyRing, token: &str) -> Result<Claims, VerifyError> {
    ring.verify::<Claims>(token, &ACCESS, now())
        .map(|v| v.claims)
}

fn segments(token: &str) -> Vec<String> {
    token.split('.').map(str::to_owned).collect()
}

fn reencode_header(token: &str, header: serde_json::Value) -> String {
    let parts = segments(token);
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        parts[1],
        parts[2]
    )
}

#[test]
fn a_token_signed_by_the_ring_verifies_with_each_algorithm() {
    let ring = ring();
    for alg in SigningAlgorithm::ALL {
        let token = ring
            .sign(alg, "at+jwt", &claims("api", TimeDelta::minutes(5)), now())
            .expect("sign");
        let verified = ring
            .verify::<Claims>(&token, &ACCESS, now())
            .expect("verify");
        assert_eq!(verified.claims.sub, "user-1");
        assert_eq!(
            Some(verified.kid.as_str()),
            ring.active(alg, now()).map(|k| k.kid.as_str())
        );
    }
}

#[test]
fn a_tampered_payload_or_signature_is_refused() {
    let ring = ring();
    let token = ring
        .sign(
            SigningAlgorithm::Es256,
            "at+jwt",
            &claims("api", TimeDelta::minutes(5)),
            now(),
        )
        .expect("sign");
    let parts = segments(&token);
    let forged = serde_json::json!({"iss": ISSUER, "aud": "api", "sub": "admin", "exp": (now() + TimeDelta::minutes(5)).timestamp()});
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(forged.to_string()),
        parts[2]
    );
    assert_eq!(verify(&ring, &tampered), Err(VerifyError::BadSignature));

    let mut signature = URL_SAFE_NO_PAD.decode(&parts[2]).expect("b64");
    signature[10] ^= 0x01;
    let flipped = format!(
        "{}.{}.{}",
        parts[0],
        parts[1],
        URL_SAFE_NO_PAD.encode(signature)
    );
    assert_eq!(verify(&ring, &flipped), Err(VerifyError::BadSignature));

    assert_eq!(verify(&ring, "not-a-jwt"), Err(VerifyError::Malformed));
    assert_eq!(
        verify(&ring, &format!("{}.{}", parts[0], parts[1])),
        Err(VerifyError::Malformed)
    );
}

#[test]
fn alg_none_is_refused() {
    let ring = ring();
    let token = ring
        .sign(
            SigningAlgorithm::Es256,
            "at+jwt",
            &claims("api", TimeDelta::minutes(5)),
            now(),
        )
        .expect("sign");
    let kid = ring
        .active(SigningAlgorithm::Es256, now())
        .expect("active")
        .kid
        .clone();
    let unsigned = reencode_header(
        &token,
        serde_json::json!({"alg": "none", "typ": "at+jwt", "kid": kid}),
    );
    let unsigned = format!("{}.", unsigned.rsplit_once('.').expect("dot").0);
    assert_eq!(
        verify(&ring, &unsigned),
        Err(VerifyError::UnsupportedAlgorithm("none".into()))
    );
}

#[test]
fn an_hmac_token_keyed_with_the_public_key_is_refused() {
    // The classic confusion attack: sign HS256 using the published key as the HMAC secret.
    let ring = ring();
    let key = ring.active(SigningAlgorithm::Rs256, now()).expect("active");
    let public_jwk = serde_json::to_vec(&key.jwk).expect("jwk");
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some(key.kid.clone());
    header.typ = Some("at+jwt".into());
    let token = jsonwebtoken::encode(
        &header,
        &claims("api", TimeDelta::minutes(5)),
        &jsonwebtoken::EncodingKey::from_secret(&public_jwk),
    )
    .expect("hs256");
    assert!(matches!(
        verify(&ring, &token),
        Err(VerifyError::AlgorithmMismatch { .. })
    ));
}

#[test]
fn a_key_used_with_another_algorithm_is_refused() {
    let ring = ring();
    let token = ring
        .sign(
            SigningAlgorithm::Es256,
            "at+jwt",
            &claims("api", TimeDelta::minutes(5)),
            now(),
        )
        .expect("sign");
    let kid = ring
        .active(SigningAlgorithm::Es256, now())
        .expect("active")
        .kid
        .clone();
    let relabelled = reencode_header(
        &token,
        serde_json::json!({"alg": "RS256", "typ": "at+jwt", "kid": kid}),
    );
    assert!(matches!(
        verify(&ring, &relabelled),
        Err(VerifyError::AlgorithmMismatch { .. })
    ));
}

#[test]
fn an_unknown_or_missing_kid_is_refused() {
    let ring = ring();
    let other = self::ring();
    let foreign = other
        .sign(
            SigningAlgorithm::Es256,
            "at+jwt",
            &claims("api", TimeDelta::minutes(5)),
            now(),
        )
        .expect("sign");
    assert_eq!(verify(&ring, &foreign), Err(VerifyError::UnknownKey));
    let no_kid = reencode_header(
        &foreign,
        serde_json::json!({"alg": "ES256", "typ": "at+jwt"}),
    );
    assert_eq!(verify(&ring, &no_kid), Err(VerifyError::MissingKeyId));
}

#[test]
fn a_token_for_another_purpose_audience_or_issuer_is_refused() {
    let ring = ring();
    let id_token = ring
        .sign(
            SigningAlgorithm::Es256,
            "JWT",
            &claims("api", TimeDelta::minutes(5)),
            now(),
        )
        .expect("sign");
    assert!(matches!(
        verify(&ring, &id_token),
        Err(VerifyError::WrongType { .. })
    ));

    let other_audience = ring
        .sign(
            SigningAlgorithm::Es256,
            "at+jwt",
            &claims("other", TimeDelta::minutes(5)),
            now(),
        )
        .expect("sign");
    assert_eq!(
        verify(&ring, &other_audience),
        Err(VerifyError::WrongAudience)
    );

    let mut foreign = claims("api", TimeDelta::minutes(5));
    foreign.iss = "https://evil.example.test".into();
    let other_issuer = ring
        .sign(SigningAlgorithm::Es256, "at+jwt", &foreign, now())
        .expect("sign");
    assert_eq!(verify(&ring, &other_issuer), Err(VerifyError::WrongIssuer));

    // The media-type form of the same type is the same type (RFC 7515 §4.1.9).
    let long_form = ring
        .sign(
            SigningAlgorithm::Es256,
            "application/AT+JWT",
            &claims("api", TimeDelta::minutes(5)),
            now(),
        )
        .expect("sign");
    assert!(verify(&ring, &long_form).is_ok());
}

#[test]
fn an_expired_token_is_refused_from_the_second_it_expires() {
    let ring = ring();
    let token = ring
        .sign(
            SigningAlgorithm::Es256,
            "at+jwt",
            &claims("api", TimeDelta::seconds(10)),
            now(),
        )
        .expect("sign");
    assert!(
        ring.verify::<Claims>(&token, &ACCESS, now() + TimeDelta::seconds(9))
            .is_ok()
    );
    assert!(matches!(
        ring.verify::<Claims>(&token, &ACCESS, now() + TimeDelta::seconds(10)),
        Err(VerifyError::Expired)
    ));
}

#[test]
fn a_retired_key_still_verifies_but_no_longer_signs() {
    let material = KeyMaterial::generate(SigningAlgorithm::Es256).expect("generate");
    let old = LoadedKey::new(&material, now() - TimeDelta::days(30), true).expect("old");
    let ring_before = KeyRing::new(vec![old]).expect("ring");
    let token = ring_before
        .sign(
            SigningAlgorithm::Es256,
            "at+jwt",
            &claims("api", TimeDelta::minutes(5)),
            now(),
        )
        .expect("sign");

    let retired = LoadedKey::new(&material, now() - TimeDelta::days(30), false).expect("retired");
    let successor = LoadedKey::new(
        &KeyMaterial::generate(SigningAlgorithm::Es256).expect("gen"),
        now(),
        true,
    )
    .expect("new");
    let successor_kid = successor.kid.clone();
    let ring_after = KeyRing::new(vec![retired, successor]).expect("ring");
    assert!(
        verify(&ring_after, &token).is_ok(),
        "tokens signed before the rotation still verify"
    );
    let fresh = ring_after
        .sign(
            SigningAlgorithm::Es256,
            "at+jwt",
            &claims("api", TimeDelta::minutes(5)),
            now(),
        )
        .expect("sign");
    assert_eq!(
        ring_after
            .verify::<Claims>(&fresh, &ACCESS, now())
            .expect("verify")
            .kid,
        successor_kid
    );
}

mod properties {
    use std::sync::LazyLock;

    use proptest::prelude::*;

    use super::*;

    /// One ring for every case: making RSA keys takes a while.
    static RING: LazyLock<KeyRing> = LazyLock::new(ring);

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// Whatever arrives where a token is expected, nothing panics and nothing verifies.
        #[test]
        fn arbitrary_input_never_verifies(input in "[ -~]{0,400}") {
            prop_assert!(verify(&RING, &input).is_err());
        }

        /// Any header or claims JSON, under a real key's kid and a signature that is not
        /// theirs, is refused.
        #[test]
        fn made_up_headers_and_claims_never_verify(
            alg in prop_oneof![Just("ES256".to_owned()), Just("RS256".to_owned()), Just("HS256".to_owned()), Just("none".to_owned()), "[A-Za-z0-9]{0,8}"],
            typ in prop_oneof![Just("at+jwt".to_owned()), Just("JWT".to_owned()), "[ -~]{0,12}"],
            claims in proptest::collection::btree_map("[a-z]{1,5}", "[ -~]{0,20}", 0..6),
            signature in "[A-Za-z0-9_-]{0,120}",
        ) {
            let ring = &*RING;
            let kid = ring.kids().next().unwrap_or_default().to_owned();
            let header = serde_json::json!({ "alg": alg, "typ": typ, "kid": kid });
            let token = format!(
                "{}.{}.{}",
                URL_SAFE_NO_PAD.encode(header.to_string()),
                URL_SAFE_NO_PAD.encode(serde_json::to_string(&claims).unwrap_or_default()),
                signature
            );
            prop_assert!(verify(ring, &token).is_err());
        }

        /// A real token with any one character changed is refused.
        #[test]
        fn a_changed_character_never_verifies(position in any::<prop::sample::Index>(), replacement in "[A-Za-z0-9_.-]") {
            let ring = &*RING;
            let token = ring
                .sign(SigningAlgorithm::Es256, "at+jwt", &claims("api", TimeDelta::minutes(5)), now())
                .expect("sign");
            let at = position.index(token.len());
            let mut changed = token.clone();
            changed.replace_range(at..at + 1, &replacement);
            prop_assume!(changed != token);
            prop_assert!(verify(ring, &changed).is_err());
        }
    }
}

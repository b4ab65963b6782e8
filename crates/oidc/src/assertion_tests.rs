//! The one assertion verifier, for `private_key_jwt` and jwt-bearer alike.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use jsonwebtoken::EncodingKey;
use serde_json::json;

use super::*;

/// The library checks `exp` and `nbf` against the system clock, so the tests use it too.
fn now() -> i64 {
    Utc::now().timestamp()
}

fn key() -> (EncodingKey, Jwk) {
    let pkcs8 =
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
            .unwrap();
    let encoding = EncodingKey::from_ec_der(pkcs8.as_ref());
    let jwk = Jwk::from_encoding_key(&encoding, Algorithm::ES256).unwrap();
    (encoding, jwk)
}

fn claims(adjust: impl FnOnce(&mut Value)) -> Value {
    let mut claims = json!({
        "iss": "https://agent.example", "sub": "agent-7", "aud": "https://id.example/token",
        "iat": now(), "exp": now() + 60, "jti": "j-1",
    });
    adjust(&mut claims);
    claims
}

fn check(adjust: impl FnOnce(&mut Value), limited: bool) -> Result<Verified, Refused> {
    check_with(Header::new(Algorithm::ES256), adjust, limited, false)
}

fn check_with(
    header: Header,
    adjust: impl FnOnce(&mut Value),
    limited: bool,
    sole_audience: bool,
) -> Result<Verified, Refused> {
    let (encoding, jwk) = key();
    let token = jsonwebtoken::encode(&header, &claims(adjust), &encoding).unwrap();
    let unverified = Unverified::read(&token, &[Algorithm::ES256], "ES256")?;
    let audiences = ["https://id.example/token".to_owned()];
    let rules = Rules {
        issuer: "https://agent.example",
        subject: None,
        audiences: &audiences,
        sole_audience,
        max_lifetime: limited.then(|| TimeDelta::minutes(5)),
        require_jti: true,
        signer: "issuer's",
    };
    let now = Utc::now();
    verify(&token, &unverified, &jwk, &rules, now)
}

#[test]
fn tokens_latchkey_issued_are_never_assertions() {
    for typ in ["at+jwt", "magic-link+jwt", "device+jwt", "AT+JWT"] {
        let header = Header {
            typ: Some(typ.into()),
            ..Header::new(Algorithm::ES256)
        };
        let refused = check_with(header, |_| {}, true, false).err().unwrap();
        assert!(
            refused.0.contains("not an assertion"),
            "{typ}: {}",
            refused.0
        );
    }
    let jwt = Header {
        typ: Some("JWT".into()),
        ..Header::new(Algorithm::ES256)
    };
    assert!(check_with(jwt, |_| {}, true, false).is_ok());
}

#[test]
fn a_sole_audience_must_be_one_string() {
    let listed =
        |c: &mut Value| c["aud"] = json!(["https://id.example/token", "https://x.example"]);
    assert!(check_with(Header::new(Algorithm::ES256), listed, true, false).is_ok());
    let refused = check_with(Header::new(Algorithm::ES256), listed, true, true)
        .err()
        .unwrap();
    assert!(refused.0.contains("single value"), "{}", refused.0);
    assert!(check_with(Header::new(Algorithm::ES256), |_| {}, true, true).is_ok());
}

#[test]
fn a_valid_assertion_verifies_and_is_remembered_past_its_expiry() {
    let verified = check(|_| {}, true).unwrap();
    assert_eq!(verified.replay_key, "jti:j-1");
    assert_eq!(
        verified.remember_until.timestamp(),
        verified.claims["exp"].as_i64().unwrap() + LEEWAY as i64
    );
}

#[test]
fn an_assertion_not_valid_yet_is_refused_for_both_uses() {
    for limited in [false, true] {
        let refused = check(|c| c["nbf"] = json!(now() + 300), limited)
            .err()
            .unwrap();
        assert!(refused.0.contains("not valid yet"), "{}", refused.0);
    }
}

#[test]
fn iat_is_required_only_where_asked_and_never_in_the_future() {
    let without = |c: &mut Value| {
        c.as_object_mut().unwrap().remove("iat");
    };
    assert!(check(without, false).is_ok());
    assert!(check(without, true).err().unwrap().0.contains("iat"));
    let future = check(|c| c["iat"] = json!(now() + 600), false)
        .err()
        .unwrap();
    assert!(future.0.contains("iat is in the future"), "{}", future.0);
}

#[test]
fn a_lifetime_past_the_limit_is_refused_without_overflowing() {
    let long = check(|c| c["exp"] = json!(now() + 3600), true)
        .err()
        .unwrap();
    assert!(long.0.contains("may live at most 300"), "{}", long.0);
    // exp - iat wraps around in i64 arithmetic: it must be refused, not pass as negative.
    let wrapped = check(
        |c| {
            c["iat"] = json!(-9_223_372_036_854_775_000_i64);
            c["exp"] = json!(8_210_266_876_000_i64);
        },
        true,
    )
    .err()
    .unwrap();
    assert!(
        wrapped.0.contains("exp must come after iat"),
        "{}",
        wrapped.0
    );
    // An exp near the end of chrono's range is refused, not a panic.
    let last = DateTime::<Utc>::MAX_UTC.timestamp() - 10;
    let far = check(|c| c["exp"] = json!(last), false).err().unwrap();
    assert!(far.0.contains("out of range"), "{}", far.0);
    let old = check(
        |c| {
            c["iat"] = json!(now() - 86_400);
            c["exp"] = json!(now() + 60);
        },
        true,
    )
    .err()
    .unwrap();
    assert!(old.0.contains("may live at most"), "{}", old.0);
}

#[test]
fn expired_foreign_and_jti_less_assertions_are_refused() {
    let expired = check(|c| c["exp"] = json!(now() - 120), false)
        .err()
        .unwrap();
    assert!(expired.0.contains("expired"), "{}", expired.0);
    let foreign = check(|c| c["aud"] = json!("https://elsewhere.example"), false)
        .err()
        .unwrap();
    assert!(foreign.0.contains("aud must be"), "{}", foreign.0);
    let no_jti = check(|c| c["jti"] = json!(""), false).err().unwrap();
    assert!(no_jti.0.contains("jti"), "{}", no_jti.0);
}

/// The token with its ES256 signature (r, s) replaced by (r, n - s), which also verifies.
fn with_twin_signature(token: &str) -> String {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    // The order of the P-256 group.
    const N: [u8; 32] = [
        0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63,
        0x25, 0x51,
    ];
    let (signed, signature) = token.rsplit_once('.').unwrap();
    let mut raw = URL_SAFE_NO_PAD.decode(signature).unwrap();
    let s = &mut raw[32..];
    let mut borrow = 0i16;
    let mut twin = [0u8; 32];
    for i in (0..32).rev() {
        let difference = i16::from(N[i]) - i16::from(s[i]) - borrow;
        borrow = i16::from(difference < 0);
        twin[i] = (difference + 256 * borrow) as u8;
    }
    s.copy_from_slice(&twin);
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(raw))
}

#[test]
fn without_a_jti_the_token_itself_is_what_is_spent_where_allowed() {
    let (encoding, jwk) = key();
    let claims = claims(|c| {
        c.as_object_mut().unwrap().remove("jti");
    });
    let token = jsonwebtoken::encode(&Header::new(Algorithm::ES256), &claims, &encoding).unwrap();
    let unverified = Unverified::read(&token, &[Algorithm::ES256], "ES256").unwrap();
    let audiences = ["https://id.example/token".to_owned()];
    let rules = |require_jti| Rules {
        issuer: "https://agent.example",
        subject: None,
        audiences: &audiences,
        sole_audience: false,
        max_lifetime: None,
        require_jti,
        signer: "issuer's",
    };
    let required = verify(&token, &unverified, &jwk, &rules(true), Utc::now());
    assert_eq!(required.err().unwrap().0, "no jti");
    let verified = verify(&token, &unverified, &jwk, &rules(false), Utc::now()).unwrap();
    let (signed, _) = token.rsplit_once('.').unwrap();
    assert_eq!(
        verified.replay_key,
        format!("token:{}", sha256_hex(signed.as_bytes()))
    );
    // The signature's twin (r, n - s) verifies as well, and is the same token to spend.
    let twin = with_twin_signature(&token);
    assert_ne!(twin, token);
    let again = verify(
        &twin,
        &Unverified::read(&twin, &[Algorithm::ES256], "ES256").unwrap(),
        &jwk,
        &rules(false),
        Utc::now(),
    )
    .unwrap();
    assert_eq!(again.replay_key, verified.replay_key);
}

#[test]
fn a_key_for_encryption_or_another_algorithm_is_not_used() {
    let (encoding, mut jwk) = key();
    let token =
        jsonwebtoken::encode(&Header::new(Algorithm::ES256), &claims(|_| {}), &encoding).unwrap();
    let unverified = Unverified::read(&token, &[Algorithm::ES256], "ES256").unwrap();
    let audiences = ["https://id.example/token".to_owned()];
    let rules = Rules {
        issuer: "https://agent.example",
        subject: None,
        audiences: &audiences,
        sole_audience: false,
        max_lifetime: None,
        require_jti: true,
        signer: "issuer's",
    };
    let now = Utc::now();
    jwk.common.public_key_use = Some(PublicKeyUse::Encryption);
    let refused = verify(&token, &unverified, &jwk, &rules, now)
        .err()
        .unwrap();
    assert!(refused.0.contains("encryption"), "{}", refused.0);
    assert!(Unverified::read(&token, &[Algorithm::RS256], "RS256").is_err());
}

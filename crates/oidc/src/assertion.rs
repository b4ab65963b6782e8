//! Signed JWT assertions, checked one way for both of their uses: a client authenticating with
//! `private_key_jwt` (RFC 7523 §2.2, OpenID Connect Core §9) and an integration's jwt-bearer
//! grant (RFC 7523 §2.1). Each caller finds the key and says whom the claims must name; the
//! header, the key's fitness, the signature, the times, `jti` and replays are checked here,
//! so the two can no longer drift apart (RFC 8725 §3.1–3.3).

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use jsonwebtoken::jwk::{Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait};
use serde_json::{Map, Value};

use super::entities::seen_assertion;
use latchkey_core::secret::sha256_hex;

/// Clock difference tolerated between the signer and Latchkey.
pub(crate) const LEEWAY: u64 = 30;

/// Why an assertion was refused, in words for its developer. Each use wraps it in its own
/// OAuth error code.
#[derive(Debug)]
pub(crate) struct Refused(pub String);

fn refused(why: impl Into<String>) -> Refused {
    Refused(why.into())
}

/// An assertion read but not yet verified: enough to find the key it must verify with.
pub(crate) struct Unverified {
    pub header: Header,
    pub claims: Map<String, Value>,
}

impl Unverified {
    /// Reads the header and claims, refusing any algorithm outside `allowed` (never `none` or
    /// HMAC: the callers' lists hold only public-key algorithms). `names` lists them in words.
    pub fn read(token: &str, allowed: &[Algorithm], names: &str) -> Result<Self, Refused> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| {
            refused(format!(
                "not a signed JWT with a supported algorithm ({names})"
            ))
        })?;
        if !allowed.contains(&header.alg) {
            return Err(refused(format!(
                "the algorithm {:?} is not allowed (allowed: {names})",
                header.alg
            )));
        }
        let claims = jsonwebtoken::dangerous::insecure_decode::<Map<String, Value>>(token)
            .map(|d| d.claims)
            .map_err(|_| refused("the claims cannot be read"))?;
        Ok(Self { header, claims })
    }

    /// A claim that is a string, unverified.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.claims.get(name).and_then(Value::as_str)
    }
}

/// The `typ`s of the tokens Latchkey issues itself (`JWT`, the ID token's, is every
/// integration's common choice too, so it cannot tell them apart).
const OWN_TYPES: [&str; 3] = ["at+jwt", "magic-link+jwt", "device+jwt"];

/// Whom the verified claims must name.
pub(crate) struct Rules<'a> {
    pub issuer: &'a str,
    /// The `sub` it must carry, when the caller knows it (a client names itself).
    pub subject: Option<&'a str>,
    /// Any one of these as `aud`.
    pub audiences: &'a [String],
    /// `aud` must be one string, not an array (client assertions, draft-ietf-oauth-rfc7523bis).
    pub sole_audience: bool,
    /// The longest an assertion may live. When set, `iat` is required, and neither
    /// `exp - iat`, nor how long ago `iat` was, nor how far ahead `exp` is may exceed it (plus
    /// the leeway): an integration's assertion cannot be made to last for ages.
    pub max_lifetime: Option<TimeDelta>,
    /// Whether `jti` is required. Without one, the token itself (its SHA-256) is what may be
    /// used only once.
    pub require_jti: bool,
    /// Whose key it is, for the messages: "client's" or "issuer's".
    pub signer: &'a str,
}

/// The claims of an assertion that verified, with the times every caller needs.
pub(crate) struct Verified {
    pub claims: Map<String, Value>,
    /// What makes it single-use: its `jti`, or the hash of the whole token when it has none
    /// and none is required.
    pub replay_key: String,
    /// Until when a replay must be caught: `exp` plus the leeway, during which it still verifies.
    pub remember_until: DateTime<Utc>,
}

/// Verifies `token` with `key` against `rules`: the key is for signing and of the header's
/// algorithm; the signature, `iss`, `sub`, `aud`, `exp` and `nbf` check out; `iat` is not in
/// the future; and there is a `jti` unless the rules let it be left out.
pub(crate) fn verify(
    token: &str,
    unverified: &Unverified,
    key: &Jwk,
    rules: &Rules<'_>,
    now: DateTime<Utc>,
) -> Result<Verified, Refused> {
    let alg = unverified.header.alg;
    // Explicit typing (RFC 8725 §3.11): none of the tokens Latchkey issues is an assertion,
    // whatever its claims say.
    if unverified
        .header
        .typ
        .as_deref()
        .is_some_and(|typ| OWN_TYPES.iter().any(|own| typ.eq_ignore_ascii_case(own)))
    {
        return Err(refused(
            "a token Latchkey issued (typ at+jwt, magic-link+jwt or device+jwt) is not an assertion",
        ));
    }
    // A key published for encryption or for another algorithm is not used (RFC 8725 §3.1).
    if key.common.public_key_use == Some(PublicKeyUse::Encryption) {
        return Err(refused(
            "the key named by kid is for encryption, not signing",
        ));
    }
    // Both enums print the algorithm's JOSE name.
    if let Some(key_alg) = key.common.key_algorithm
        && format!("{key_alg:?}") != format!("{alg:?}")
    {
        return Err(refused(format!(
            "the header's alg differs from the alg of the {} key",
            rules.signer
        )));
    }
    let decoding = DecodingKey::from_jwk(key)
        .map_err(|_| refused(format!("the {} key cannot be used", rules.signer)))?;
    let mut validation = Validation::new(alg);
    validation.leeway = LEEWAY;
    validation.validate_nbf = true;
    validation.set_audience(rules.audiences);
    validation.set_issuer(&[rules.issuer]);
    validation.sub = rules.subject.map(str::to_owned);
    // The library checks these four; `iat` is checked below.
    validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
    let claims = jsonwebtoken::decode::<Map<String, Value>>(token, &decoding, &validation)
        .map_err(|e| refused(why(&e, rules)))?
        .claims;
    if rules.sole_audience && !claims.get("aud").is_some_and(Value::is_string) {
        return Err(refused(format!(
            "aud must be the single value {}",
            rules.audiences.join(" or ")
        )));
    }
    let number = |name: &str| claims.get(name).and_then(Value::as_i64);
    let exp = number("exp").ok_or_else(|| refused("exp must be a number"))?;
    let iat = match claims.get("iat") {
        None => None,
        Some(_) => Some(number("iat").ok_or_else(|| refused("iat must be a number"))?),
    };
    if iat.is_some_and(|iat| iat > now.timestamp().saturating_add(LEEWAY as i64)) {
        return Err(refused("iat is in the future"));
    }
    if let Some(max) = rules.max_lifetime {
        check_lifetime(iat, exp, max, now)?;
    }
    let jti = claims
        .get("jti")
        .and_then(Value::as_str)
        .filter(|j| !j.is_empty());
    let replay_key = match jti {
        Some(jti) => format!("jti:{jti}"),
        // The signed part only: an ECDSA signature (r, s) has a twin (r, n - s) that verifies
        // too, so a hash of the whole token would let its twin be spent again.
        None if !rules.require_jti => {
            let signed = token.rsplit_once('.').map_or(token, |(signed, _)| signed);
            format!("token:{}", sha256_hex(signed.as_bytes()))
        }
        None => return Err(refused("no jti")),
    };
    let remember_until = Utc
        .timestamp_opt(exp, 0)
        .single()
        .and_then(|exp| exp.checked_add_signed(TimeDelta::seconds(LEEWAY as i64)))
        .ok_or_else(|| refused("exp is out of range"))?;
    Ok(Verified {
        claims,
        replay_key,
        remember_until,
    })
}

/// An assertion lives at most `max`: from `iat` to `exp`, and around now. The arithmetic is
/// checked, since both times come from whoever signed it.
fn check_lifetime(
    iat: Option<i64>,
    exp: i64,
    max: TimeDelta,
    now: DateTime<Utc>,
) -> Result<(), Refused> {
    let iat = iat.ok_or_else(|| refused("the iat claim is missing"))?;
    let longest = max.num_seconds();
    let lifetime = exp
        .checked_sub(iat)
        .filter(|lifetime| *lifetime >= 0)
        .ok_or_else(|| refused("exp must come after iat"))?;
    if lifetime > longest {
        return Err(refused(format!(
            "it lives {lifetime} seconds from iat to exp; its signer's assertions may live at most {longest}"
        )));
    }
    let slack = longest.saturating_add(LEEWAY as i64);
    if iat < now.timestamp().saturating_sub(slack) || exp > now.timestamp().saturating_add(slack) {
        return Err(refused(format!(
            "iat and exp must lie within {longest} seconds of now"
        )));
    }
    Ok(())
}

/// What the library's refusal means, in words.
fn why(error: &jsonwebtoken::errors::Error, rules: &Rules<'_>) -> String {
    use jsonwebtoken::errors::ErrorKind;
    match error.kind() {
        ErrorKind::ExpiredSignature => "expired".into(),
        ErrorKind::ImmatureSignature => "not valid yet (nbf is in the future)".into(),
        ErrorKind::InvalidAudience => format!("aud must be {}", rules.audiences.join(" or ")),
        ErrorKind::InvalidIssuer => format!("iss must be {}", rules.issuer),
        ErrorKind::InvalidSubject => "iss and sub must be the client_id".into(),
        ErrorKind::InvalidSignature => {
            format!(
                "the signature does not verify with the {} key",
                rules.signer
            )
        }
        ErrorKind::MissingRequiredClaim(claim) => format!("the {claim} claim is missing"),
        ErrorKind::InvalidAlgorithm => {
            format!("the algorithm does not fit the {} key", rules.signer)
        }
        _ => format!("invalid ({error})"),
    }
}

/// The row that remembers an assertion within `scope` until it no longer verifies.
pub(crate) fn seen_row(scope: &str, verified: &Verified) -> seen_assertion::ActiveModel {
    seen_assertion::ActiveModel {
        id: Set(sha256_hex(
            format!("{scope}:{}", verified.replay_key).as_bytes(),
        )),
        expires_at: Set(verified.remember_until),
    }
}

/// Records the first use of an assertion (its `jti`, or its hash) within `scope` (a client, or
/// an issuer); false when it was used before. One insert, so a replay on any replica meets the row the first use wrote.
pub(crate) async fn first_use<C: ConnectionTrait>(
    conn: &C,
    scope: &str,
    verified: &Verified,
) -> Result<bool, sea_orm::DbErr> {
    let inserted = seen_assertion::Entity::insert(seen_row(scope, verified))
        .on_conflict(
            OnConflict::column(seen_assertion::Column::Id)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(conn)
        .await?;
    Ok(inserted > 0)
}

#[cfg(test)]
mod tests {
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
            0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            0xff, 0xff, 0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2,
            0xfc, 0x63, 0x25, 0x51,
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
        let token =
            jsonwebtoken::encode(&Header::new(Algorithm::ES256), &claims, &encoding).unwrap();
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
            jsonwebtoken::encode(&Header::new(Algorithm::ES256), &claims(|_| {}), &encoding)
                .unwrap();
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
}

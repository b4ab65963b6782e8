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
    let decoding = usable_key(unverified, key, rules)?;
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
    let exp = check_times(&claims, rules, now)?;
    let replay_key = replay_key(token, &claims, rules)?;
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

/// The key, if it may check this token: not a token Latchkey issued, and a key for signing
/// with the header's algorithm.
fn usable_key(
    unverified: &Unverified,
    key: &Jwk,
    rules: &Rules<'_>,
) -> Result<DecodingKey, Refused> {
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
    DecodingKey::from_jwk(key)
        .map_err(|_| refused(format!("the {} key cannot be used", rules.signer)))
}

/// `exp` (returned) and `iat` as numbers, `iat` not in the future, and the lifetime within
/// the rules' limit.
fn check_times(
    claims: &Map<String, Value>,
    rules: &Rules<'_>,
    now: DateTime<Utc>,
) -> Result<i64, Refused> {
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
    Ok(exp)
}

/// What is spent when the assertion is used: its `jti`, or where the rules let it be left
/// out, the token itself.
fn replay_key(
    token: &str,
    claims: &Map<String, Value>,
    rules: &Rules<'_>,
) -> Result<String, Refused> {
    let jti = claims
        .get("jti")
        .and_then(Value::as_str)
        .filter(|j| !j.is_empty());
    match jti {
        Some(jti) => Ok(format!("jti:{jti}")),
        // The signed part only: an ECDSA signature (r, s) has a twin (r, n - s) that verifies
        // too, so a hash of the whole token would let its twin be spent again.
        None if !rules.require_jti => {
            let signed = token.rsplit_once('.').map_or(token, |(signed, _)| signed);
            Ok(format!("token:{}", sha256_hex(signed.as_bytes())))
        }
        None => Err(refused("no jti")),
    }
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
#[path = "assertion_tests.rs"]
mod tests;

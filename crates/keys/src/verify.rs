use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, TimeZone, Utc};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Validation, decode, decode_header};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::algorithm::SigningAlgorithm;
use crate::error::VerifyError;
use crate::ring::KeyRing;

/// What a token must be to be accepted: its purpose (`typ`), its audience and its issuer.
/// Each purpose has its own type and audience, so no token is valid for another purpose.
#[derive(Clone, Copy, Debug)]
pub struct Expectations<'a> {
    pub token_type: &'a str,
    pub audience: Audience<'a>,
    pub issuer: &'a str,
}

/// Whom a token must be for.
#[derive(Clone, Copy, Debug)]
pub enum Audience<'a> {
    /// `aud` is (or contains) exactly this.
    Is(&'a str),
    /// `aud` must be present, and the caller compares it with the one asking: an access
    /// token's audience is the resource it was issued for, which only the request can name.
    CheckedByCaller,
}

/// A verified token's claims, with the key that signed it and when it expires.
#[derive(Debug)]
pub struct Verified<T> {
    pub kid: String,
    pub expires_at: DateTime<Utc>,
    pub claims: T,
}

#[derive(Deserialize)]
struct AlgorithmOnly {
    alg: Option<String>,
}

impl KeyRing {
    /// Verifies a compact JWS signed by one of this ring's keys. Only the algorithm of the key
    /// named by `kid` is accepted, so `none`, HMAC and cross-algorithm tokens are refused.
    pub fn verify<T: DeserializeOwned>(
        &self,
        token: &str,
        expect: &Expectations<'_>,
        now: DateTime<Utc>,
    ) -> Result<Verified<T>, VerifyError> {
        self.verify_at(token, expect, Some(now))
    }

    /// Like [`KeyRing::verify`], but accepts an expired token: for hints such as
    /// `id_token_hint`, which name a person and grant nothing (OpenID Connect Core §3.1.2.1).
    pub fn verify_ignoring_expiry<T: DeserializeOwned>(
        &self,
        token: &str,
        expect: &Expectations<'_>,
    ) -> Result<Verified<T>, VerifyError> {
        self.verify_at(token, expect, None)
    }

    fn verify_at<T: DeserializeOwned>(
        &self,
        token: &str,
        expect: &Expectations<'_>,
        now: Option<DateTime<Utc>>,
    ) -> Result<Verified<T>, VerifyError> {
        let header = decode_header(token).map_err(|_| unreadable_header(token))?;
        let key = self
            .find(header.kid.as_deref().ok_or(VerifyError::MissingKeyId)?)
            .ok_or(VerifyError::UnknownKey)?;
        if SigningAlgorithm::from_jsonwebtoken(header.alg) != Some(key.algorithm) {
            return Err(VerifyError::AlgorithmMismatch {
                header: format!("{:?}", header.alg),
                key: key.algorithm.to_string(),
            });
        }
        if !header
            .typ
            .as_deref()
            .is_some_and(|typ| same_media_type(typ, expect.token_type))
        {
            return Err(VerifyError::WrongType {
                expected: expect.token_type.to_owned(),
                found: header.typ,
            });
        }

        let mut validation = Validation::new(key.algorithm.jsonwebtoken());
        validation.validate_exp = false;
        validation.validate_nbf = false;
        match expect.audience {
            Audience::Is(audience) => validation.set_audience(&[audience]),
            Audience::CheckedByCaller => validation.validate_aud = false,
        }
        validation.set_issuer(&[expect.issuer]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        let data =
            decode::<serde_json::Value>(token, &key.decoding, &validation).map_err(|e| match e
                .into_kind()
            {
                ErrorKind::InvalidSignature => VerifyError::BadSignature,
                ErrorKind::InvalidAudience => VerifyError::WrongAudience,
                ErrorKind::InvalidIssuer => VerifyError::WrongIssuer,
                ErrorKind::MissingRequiredClaim(claim) => VerifyError::MissingClaim(claim),
                ErrorKind::Json(e) => VerifyError::InvalidClaims(e.to_string()),
                _ => VerifyError::Malformed,
            })?;

        // Expiry is judged here, against the caller's clock, rather than by jsonwebtoken.
        let time_claim = |name: &str| {
            data.claims.get(name).map(|v| {
                v.as_i64()
                    .ok_or_else(|| VerifyError::InvalidClaims(format!("{name} is not a number")))
            })
        };
        let exp = time_claim("exp").ok_or_else(|| VerifyError::MissingClaim("exp".into()))??;
        if let Some(now) = now {
            let now_secs = now.timestamp();
            if exp <= now_secs {
                return Err(VerifyError::Expired);
            }
            if time_claim("nbf")
                .transpose()?
                .is_some_and(|nbf| nbf > now_secs)
            {
                return Err(VerifyError::NotYetValid);
            }
        }
        let expires_at = Utc
            .timestamp_opt(exp, 0)
            .single()
            .ok_or(VerifyError::Malformed)?;
        let claims =
            T::deserialize(data.claims).map_err(|e| VerifyError::InvalidClaims(e.to_string()))?;
        Ok(Verified {
            kid: key.kid.clone(),
            expires_at,
            claims,
        })
    }
}

/// Says why a header could not be read: an algorithm that is never accepted (`none`, or one
/// jsonwebtoken does not know), or a token that is not a JWS at all.
fn unreadable_header(token: &str) -> VerifyError {
    let alg = token
        .split('.')
        .next()
        .and_then(|segment| URL_SAFE_NO_PAD.decode(segment).ok())
        .and_then(|json| serde_json::from_slice::<AlgorithmOnly>(&json).ok())
        .and_then(|header| header.alg);
    match alg {
        Some(alg)
            if SigningAlgorithm::ALL
                .iter()
                .all(|known| known.as_str() != alg) =>
        {
            VerifyError::UnsupportedAlgorithm(alg)
        }
        _ => VerifyError::Malformed,
    }
}

/// Compares JWS `typ` values as RFC 7515 §4.1.9 says: case-insensitively, with an optional
/// `application/` prefix.
fn same_media_type(found: &str, expected: &str) -> bool {
    let strip = |s: &str| {
        let lower = s.to_ascii_lowercase();
        lower
            .strip_prefix("application/")
            .map(str::to_owned)
            .unwrap_or(lower)
    };
    strip(found) == strip(expected)
}

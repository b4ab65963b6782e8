//! A browser that has signed in to an account before carries a signed note saying so. It
//! opens nothing: it only lets that browser ask for the account's links from a budget of its
//! own, so strangers who spend the shared per-address budget cannot keep the person from
//! signing in (L9 of the security review).

use chrono::{DateTime, TimeDelta, Utc};
use latchkey_core::UserId;
use latchkey_keys::{Audience, Expectations, SigningAlgorithm};
use serde::{Deserialize, Serialize};

use super::link::Login;
use super::model::LoginError;

/// The JWS `typ` of the note: no other verifier accepts it.
const DEVICE_TYPE: &str = "device+jwt";
/// How long a browser is remembered after its last sign-in, at most: the note is signed with
/// the current signing key and verifies while that key is published (keys.rotation_period
/// plus keys.retired_ttl after it began signing), so with the defaults a note lasts from three
/// days to a month. Each sign-in renews it.
pub const DEVICE_TTL: TimeDelta = TimeDelta::days(30);

#[derive(Serialize, Deserialize)]
struct DeviceClaims {
    iss: String,
    aud: String,
    /// The account the browser signed in to.
    sub: String,
    iat: i64,
    exp: i64,
}

impl Login {
    /// Its own audience, apart from the magic link's.
    fn device_audience(&self) -> String {
        self.issuer.endpoint(latchkey_core::urls::LOGIN_DEVICE)
    }

    /// The note for a browser that has just signed in to `user`.
    pub fn device_note(&self, user: &UserId, now: DateTime<Utc>) -> Result<String, LoginError> {
        let claims = DeviceClaims {
            iss: self.issuer.to_string(),
            aud: self.device_audience(),
            sub: user.to_string(),
            iat: now.timestamp(),
            exp: (now + DEVICE_TTL).timestamp(),
        };
        Ok(self
            .keys
            .load()
            .sign(SigningAlgorithm::Es256, DEVICE_TYPE, &claims, now)?)
    }

    /// The account a browser's note names, if the note is genuine and current.
    pub(super) fn device_account(&self, note: &str, now: DateTime<Utc>) -> Option<String> {
        let audience = self.device_audience();
        let expect = Expectations {
            token_type: DEVICE_TYPE,
            audience: Audience::Is(&audience),
            issuer: self.issuer.as_str(),
        };
        self.keys
            .load()
            .verify::<DeviceClaims>(note, &expect, now)
            .ok()
            .map(|verified| verified.claims.sub)
    }
}

//! Tokens signed by a trusted issuer, verified one way for the jwt-bearer grant and for browser
//! sign-on: the issuer (trusted by the client's team, or by any team) is found by `iss`, the
//! key by `kid`, and the token checked against the issuer's own rules.

use chrono::{DateTime, TimeDelta, Utc};
use jsonwebtoken::jwk::Jwk;

use super::ALLOWED;
use super::issuer_cache::Trust;
use super::rejection::{Rejection, Trusting};
use super::service::Federation;
use crate::assertion::{self, Rules, Unverified, Verified};
use crate::entities::trusted_issuer;
use crate::remote_jwks::{JwksError, select};

/// How a refusal for an unknown key begins.
const NO_KEY: &str = "no key for this kid";

/// A refusal, and whether rows read afresh might change it: the issuer trusted by one more
/// team, or given a key with a new kid.
pub(crate) struct Stale {
    rejection: Rejection,
    may_be_stale: bool,
}

impl Stale {
    fn maybe(rejection: Rejection) -> Self {
        Self {
            rejection,
            may_be_stale: true,
        }
    }

    fn not(rejection: Rejection) -> Self {
        Self {
            rejection,
            may_be_stale: false,
        }
    }

    fn into_rejection(self) -> Rejection {
        self.rejection
    }
}

fn refused(why: impl Into<String>) -> Rejection {
    Rejection::Refused(why.into())
}

impl Federation {
    /// The token, verified against the issuer that signed it among those `trusting` allows.
    /// Several teams may trust one issuer: the one whose key and audience the token fits is
    /// the one, and a token that fits more than one is refused rather than guessed at.
    pub(crate) async fn verify_issuer_token(
        &self,
        token: &str,
        trusting: Trusting<'_>,
        now: DateTime<Utc>,
    ) -> Result<(trusted_issuer::Model, Verified), Rejection> {
        let unverified =
            Unverified::read(token, &ALLOWED.map(|(_, alg)| alg), "ES256, RS256, EdDSA")?;
        let iss = unverified.text("iss").ok_or_else(|| refused("no iss"))?;
        let (trusts, cached) = self.issuer_cache.trusts(&self.db, iss).await?;
        match self
            .verify_among(token, &unverified, iss, &trusts, trusting, now)
            .await
        {
            // Trusted by one more team, or given a key with a new kid, since it was cached: a
            // refusal that fresh rows could change is checked once more against them. A bad
            // signature or time is not, so forged tokens cannot keep the cache empty.
            Err(stale) if cached && stale.may_be_stale => {
                self.issuer_cache.forget(iss);
                let (fresh, _) = self.issuer_cache.trusts(&self.db, iss).await?;
                self.verify_among(token, &unverified, iss, &fresh, trusting, now)
                    .await
                    .map_err(Stale::into_rejection)
            }
            outcome => outcome.map_err(Stale::into_rejection),
        }
    }

    async fn verify_among(
        &self,
        token: &str,
        unverified: &Unverified,
        iss: &str,
        trusts: &[Trust],
        trusting: Trusting<'_>,
        now: DateTime<Utc>,
    ) -> Result<(trusted_issuer::Model, Verified), Stale> {
        let candidates: Vec<&Trust> = trusts
            .iter()
            .filter(|trust| match trusting {
                Trusting::Team(team) => trust.row.team_id == team.as_str(),
                Trusting::AnyTeam => true,
            })
            .collect();
        if candidates.is_empty() {
            return Err(Stale::maybe(refused(match trusting {
                Trusting::Team(_) => {
                    format!("the issuer {iss:?} is not trusted by this client's team")
                }
                Trusting::AnyTeam => format!("the issuer {iss:?} is not trusted by any team"),
            })));
        }
        let mut fitting = Vec::new();
        let mut last_refusal = None;
        let mut unknown_kid = false;
        for trust in candidates {
            match self
                .verify_with(token, unverified, trust, trusting, now)
                .await
            {
                Ok(verified) => fitting.push((trust.row.clone(), verified)),
                Err(rejection @ Rejection::Internal(_)) => return Err(Stale::not(rejection)),
                Err(refusal) => {
                    unknown_kid |=
                        matches!(&refusal, Rejection::Refused(why) if why.starts_with(NO_KEY));
                    last_refusal = Some(refusal);
                }
            }
        }
        match fitting.len() {
            1 => Ok(fitting.remove(0)),
            0 => {
                let refusal =
                    last_refusal.unwrap_or_else(|| refused("no trusted issuer verifies it"));
                Err(match unknown_kid {
                    true => Stale::maybe(refusal),
                    false => Stale::not(refusal),
                })
            }
            _ => Err(Stale::maybe(refused(
                "more than one team trusts this issuer with this key and audience: give each team's issuer its own audience (--audience)",
            ))),
        }
    }

    async fn verify_with(
        &self,
        token: &str,
        unverified: &Unverified,
        trust: &Trust,
        trusting: Trusting<'_>,
        now: DateTime<Utc>,
    ) -> Result<Verified, Rejection> {
        let trusted = &trust.row;
        let key = self.issuer_key(trust, unverified).await?;
        let audiences = match (&trusted.audience, trusting) {
            (Some(audience), _) => vec![audience.clone()],
            (None, Trusting::Team(_)) => self.token_audiences.clone(),
            (None, Trusting::AnyTeam) => vec![self.issuer.as_str().to_owned()],
        };
        let rules = Rules {
            issuer: &trusted.issuer,
            subject: None,
            audiences: &audiences,
            sole_audience: false,
            max_lifetime: Some(TimeDelta::seconds(i64::from(trusted.max_lifetime_secs))),
            require_jti: trusted.require_jti,
            signer: "issuer's",
        };
        Ok(assertion::verify(token, unverified, &key, &rules, now)?)
    }

    /// The issuer's key for the token's `kid`, if the issuer may sign with its algorithm.
    async fn issuer_key(&self, trust: &Trust, unverified: &Unverified) -> Result<Jwk, Rejection> {
        let trusted = &trust.row;
        let alg = unverified.header.alg;
        if !ALLOWED.iter().any(|(name, allowed)| {
            *allowed == alg && trusted.algorithms.split(',').any(|a| a == *name)
        }) {
            return Err(refused(format!(
                "the algorithm {alg:?} is not allowed for this issuer (allowed: {})",
                trusted.algorithms
            )));
        }
        let kid = unverified.header.kid.as_deref();
        match (&trust.keys, &trusted.jwks_uri) {
            (Some(inline), _) => select(inline, kid),
            (None, Some(uri)) => self.jwks.key(uri, kid).await,
            (None, None) => return Err(refused("the issuer has no keys")),
        }
        .map_err(|e| match e {
            JwksError::Unreachable => refused("the issuer's keys could not be fetched"),
            other => refused(format!("{NO_KEY}: {other}")),
        })
    }
}

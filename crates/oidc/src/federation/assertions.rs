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
    /// Within one team an `iss` is trusted once. Across teams (the shared `/sso/jwt`), see
    /// [`Federation::verify_among`] for which team's trust a token fitting several goes to.
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

    /// The first trust, oldest first, whose key and audience the token fits.
    ///
    /// Issuer strings and public keys are public, so any team can trust another team's `iss`
    /// with that team's own key, and every token of it then fits both. Refusing such a token
    /// (as this once did) let any team break another's sign-on at will, and told its people
    /// that someone else trusts their issuer. Taking the oldest trust instead means a later
    /// copy never takes over nor breaks a team's sign-on: the team that trusted the issuer
    /// first keeps it, and the copy is not even consulted while the first trust verifies the
    /// token (so a slow key set URL of the copy's cannot slow it down either). A team that
    /// trusts an issuer after another can still use it at its own URL
    /// (`/sso/jwt/teams/{team}`), where only its own trust counts; that URL is what the
    /// integrations page and `issuer add` give.
    async fn verify_among(
        &self,
        token: &str,
        unverified: &Unverified,
        iss: &str,
        trusts: &[Trust],
        trusting: Trusting<'_>,
        now: DateTime<Utc>,
    ) -> Result<(trusted_issuer::Model, Verified), Stale> {
        let mut candidates: Vec<&Trust> = trusts
            .iter()
            .filter(|trust| {
                trusting
                    .only_team()
                    .is_none_or(|team| trust.row.team_id == team.as_str())
            })
            .collect();
        candidates
            .sort_by(|a, b| (a.row.created_at, &a.row.id).cmp(&(b.row.created_at, &b.row.id)));
        if candidates.is_empty() {
            return Err(Stale::maybe(refused(match trusting {
                Trusting::Team(_) => {
                    format!("the issuer {iss:?} is not trusted by this client's team")
                }
                Trusting::TeamSignOn(_) => {
                    format!("the issuer {iss:?} is not trusted by this team")
                }
                Trusting::AnyTeam => format!("the issuer {iss:?} is not trusted by any team"),
            })));
        }
        let several = candidates.len() > 1;
        let mut last_refusal = None;
        let mut unknown_kid = false;
        for trust in candidates {
            match self
                .verify_with(token, unverified, trust, trusting, now)
                .await
            {
                Ok(verified) => {
                    if several {
                        tracing::info!(
                            issuer = iss,
                            team = %trust.row.team_id,
                            "several teams trust this issuer: the token went to the oldest trust it fits; other teams should use their own sign-on URL"
                        );
                    }
                    return Ok((trust.row.clone(), verified));
                }
                Err(rejection @ Rejection::Internal(_)) => return Err(Stale::not(rejection)),
                Err(refusal) => {
                    unknown_kid |=
                        matches!(&refusal, Rejection::Refused(why) if why.starts_with(NO_KEY));
                    last_refusal = Some(refusal);
                }
            }
        }
        let refusal = last_refusal.unwrap_or_else(|| refused("no trusted issuer verifies it"));
        Err(match unknown_kid {
            true => Stale::maybe(refusal),
            false => Stale::not(refusal),
        })
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
            // The team's own sign-on URL too: a token made out to it fits no other team's.
            (None, Trusting::TeamSignOn(team)) => vec![
                self.issuer.as_str().to_owned(),
                self.issuer
                    .endpoint(&latchkey_core::urls::sso_jwt_team(team.as_str())),
            ],
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

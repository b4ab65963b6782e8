//! What trusting an issuer asks for, each part checked on its own: its keys (a key set URL, a
//! key set, or PEM public keys), the algorithms, the lifetime and claims of its tokens, the
//! claim that may make an administrator, and the origins that may frame its sessions.

use chrono::{DateTime, TimeDelta, Utc};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey};
use latchkey_core::{TeamId, TrustedIssuerId};
use serde::Serialize;

use super::{ALLOWED, IssuerError};
use crate::entities::trusted_issuer;
use crate::remote_jwks::acceptable_url;

/// The longest lifetime an issuer's tokens may be allowed: a day, for integrations that sign
/// one token per agent shift.
pub const LONGEST_LIFETIME: TimeDelta = TimeDelta::hours(24);
/// Origins one issuer may let frame its sessions.
pub const MAX_FRAME_ORIGINS: usize = 10;

/// What trusting an issuer asks for (`latchkey issuer add`, the integrations page).
#[derive(Clone, Debug)]
pub struct NewIssuer {
    pub team_id: TeamId,
    pub issuer: String,
    pub jwks_uri: Option<String>,
    pub jwks: Option<String>,
    /// PEM public keys (SPKI or PKCS#1), each made into a JWK with its thumbprint as kid.
    pub public_keys_pem: Vec<String>,
    /// Empty: all of [`ALLOWED`].
    pub algorithms: Vec<Algorithm>,
    pub audience: Option<String>,
    /// The longest token lifetime (`exp - iat`) accepted, up to [`LONGEST_LIFETIME`].
    pub max_lifetime: TimeDelta,
    pub email_claim: String,
    pub name_claim: String,
    /// Off: a token without `jti` is accepted, and remembered by its hash until it expires.
    pub require_jti: bool,
    /// `CLAIM=VALUE`: a token carrying it makes the member an administrator.
    pub admin_claim: Option<AdminClaim>,
    /// The origins that may frame the sessions its tokens open.
    pub frame_origins: Vec<String>,
}

impl NewIssuer {
    /// An issuer with the defaults of `latchkey issuer add` and no keys yet.
    pub fn new(team_id: TeamId, issuer: impl Into<String>) -> Self {
        Self {
            team_id,
            issuer: issuer.into(),
            jwks_uri: None,
            jwks: None,
            public_keys_pem: Vec::new(),
            algorithms: Vec::new(),
            audience: None,
            max_lifetime: TimeDelta::minutes(5),
            email_claim: "email".into(),
            name_claim: "name".into(),
            require_jti: true,
            admin_claim: None,
            frame_origins: Vec::new(),
        }
    }

    /// The key set to store inline (from a JWKS or from PEM keys), or none for a key set URL.
    /// Exactly one way must be given.
    pub(super) fn checked_keys(&self) -> Result<Option<String>, IssuerError> {
        let pems: Vec<&String> = self
            .public_keys_pem
            .iter()
            .filter(|p| !p.trim().is_empty())
            .collect();
        match (&self.jwks_uri, &self.jwks, pems.is_empty()) {
            (Some(uri), None, true) if !acceptable_url(uri) => Err(IssuerError::JwksUri),
            (Some(_), None, true) => Ok(None),
            (None, Some(jwks), true) => {
                let set: JwkSet =
                    serde_json::from_str(jwks).map_err(|e| IssuerError::Jwks(e.to_string()))?;
                if set.keys.is_empty() || set.keys.iter().any(|k| DecodingKey::from_jwk(k).is_err())
                {
                    return Err(IssuerError::Jwks(
                        "a key cannot be used for verification".into(),
                    ));
                }
                // Stored as parsed, which keeps the public parameters only: a private key
                // pasted by mistake (`d`, `p`, `q`) is not kept.
                serde_json::to_string(&set)
                    .map(Some)
                    .map_err(|e| IssuerError::Jwks(e.to_string()))
            }
            (None, None, false) => {
                let keys = pems
                    .into_iter()
                    .map(|pem| latchkey_keys::jwk_from_public_key_pem(pem))
                    .collect::<Result<Vec<Jwk>, _>>()
                    .map_err(IssuerError::PublicKey)?;
                serde_json::to_string(&JwkSet { keys })
                    .map(Some)
                    .map_err(|e| IssuerError::Jwks(e.to_string()))
            }
            _ => Err(IssuerError::Keys),
        }
    }

    /// The algorithms named (all three by default), each once, as they are spelled in JOSE.
    pub(super) fn checked_algorithms(&self) -> Vec<String> {
        ALLOWED
            .iter()
            .filter(|(_, alg)| self.algorithms.is_empty() || self.algorithms.contains(alg))
            .map(|(name, _)| (*name).to_owned())
            .collect()
    }

    pub(super) fn check_limits(&self) -> Result<(), IssuerError> {
        if !(TimeDelta::seconds(1)..=LONGEST_LIFETIME).contains(&self.max_lifetime) {
            return Err(IssuerError::Lifetime);
        }
        if self.email_claim.is_empty() || self.email_claim.len() > 64 || self.name_claim.len() > 64
        {
            return Err(IssuerError::Claim);
        }
        if self.audience.as_ref().is_some_and(|a| a.len() > 512) {
            return Err(IssuerError::Audience);
        }
        Ok(())
    }

    /// The frame origins as browsers write them, each once; space-separated for storage.
    pub(super) fn checked_frame_origins(&self) -> Result<Option<String>, IssuerError> {
        let mut origins: Vec<String> = Vec::new();
        for raw in &self.frame_origins {
            let origin = frame_origin(raw)?;
            if !origins.contains(&origin) {
                origins.push(origin);
            }
        }
        if origins.len() > MAX_FRAME_ORIGINS {
            return Err(IssuerError::TooManyOrigins);
        }
        Ok((!origins.is_empty()).then(|| origins.join(" ")))
    }
}

/// An origin that may frame sessions: `https://host[:port]` (http only for this machine), with
/// no path, query, fragment or credentials, since `frame-ancestors` takes origins.
fn frame_origin(raw: &str) -> Result<String, IssuerError> {
    let refuse = || IssuerError::FrameOrigin(raw.trim().to_owned());
    // `*` is a wildcard to `frame-ancestors`: each origin is named in full.
    if raw.contains('*') {
        return Err(refuse());
    }
    let url = url::Url::parse(raw.trim()).map_err(|_| refuse())?;
    let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    let scheme_ok = url.scheme() == "https" || (url.scheme() == "http" && loopback);
    if !scheme_ok
        || url.host_str().is_none()
        || !url.username().is_empty()
        || url.password().is_some()
        || url.path() != "/"
        || url.query().is_some()
        || url.fragment().is_some()
    {
        return Err(refuse());
    }
    Ok(url.origin().ascii_serialization())
}

/// The claim, and its value, that make a member an administrator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdminClaim {
    pub claim: String,
    pub value: String,
}

impl AdminClaim {
    /// Reads `CLAIM=VALUE`.
    pub fn parse(raw: &str) -> Result<Self, IssuerError> {
        let (claim, value) = raw.split_once('=').ok_or(IssuerError::AdminClaim)?;
        let (claim, value) = (claim.trim(), value.trim());
        if claim.is_empty() || claim.len() > 64 || value.is_empty() || value.len() > 256 {
            return Err(IssuerError::AdminClaim);
        }
        Ok(Self {
            claim: claim.to_owned(),
            value: value.to_owned(),
        })
    }
}

/// A trusted issuer as listed.
#[derive(Clone, Debug, Serialize)]
pub struct TrustedIssuer {
    pub id: TrustedIssuerId,
    pub team_id: TeamId,
    pub issuer: String,
    pub jwks_uri: Option<String>,
    pub inline_jwks: bool,
    /// The kids of its inline keys (for PEM keys, their thumbprints).
    pub key_ids: Vec<String>,
    pub algorithms: Vec<String>,
    pub audience: Option<String>,
    pub max_lifetime_secs: i32,
    pub email_claim: String,
    pub name_claim: String,
    pub require_jti: bool,
    /// `CLAIM=VALUE`, when a claim may make administrators.
    pub admin_claim: Option<String>,
    pub frame_origins: Vec<String>,
    pub created_at: DateTime<Utc>,
}

impl From<trusted_issuer::Model> for TrustedIssuer {
    fn from(row: trusted_issuer::Model) -> Self {
        let key_ids = row
            .jwks
            .as_deref()
            .and_then(|jwks| serde_json::from_str::<JwkSet>(jwks).ok())
            .map(|set| {
                set.keys
                    .into_iter()
                    .filter_map(|key| key.common.key_id)
                    .collect()
            })
            .unwrap_or_default();
        Self {
            algorithms: row.algorithms.split(',').map(str::to_owned).collect(),
            inline_jwks: row.jwks.is_some(),
            key_ids,
            id: row.id.into(),
            team_id: row.team_id.into(),
            issuer: row.issuer,
            jwks_uri: row.jwks_uri,
            audience: row.audience,
            max_lifetime_secs: row.max_lifetime_secs,
            email_claim: row.email_claim,
            name_claim: row.name_claim,
            require_jti: row.require_jti,
            admin_claim: row
                .admin_claim
                .zip(row.admin_value)
                .map(|(claim, value)| format!("{claim}={value}")),
            frame_origins: row
                .frame_origins
                .as_deref()
                .unwrap_or_default()
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
            created_at: row.created_at,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn frame_origins_are_origins_and_nothing_more() {
        assert_eq!(
            frame_origin("https://acme.zendesk.com").unwrap(),
            "https://acme.zendesk.com"
        );
        assert_eq!(
            frame_origin("https://ACME.example:8443/").unwrap(),
            "https://acme.example:8443"
        );
        assert_eq!(
            frame_origin("http://127.0.0.1:9000").unwrap(),
            "http://127.0.0.1:9000"
        );
        for bad in [
            "http://acme.example",
            "https://acme.example/widget",
            "https://acme.example/?x=1",
            "https://user@acme.example",
            "*",
            "'self'",
            "https://acme.example https://evil.example",
            "javascript:alert(1)",
            "https://*.zendesk.com",
        ] {
            assert!(frame_origin(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_admin_claim_is_a_claim_and_a_value() {
        assert_eq!(
            AdminClaim::parse("role=admin").unwrap(),
            AdminClaim {
                claim: "role".into(),
                value: "admin".into()
            }
        );
        assert_eq!(AdminClaim::parse("groups=a=b").unwrap().value, "a=b");
        for bad in ["role", "=admin", "role=", ""] {
            assert!(AdminClaim::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn keys_come_one_way_only() {
        let mut new = NewIssuer::new(TeamId::from("t"), "https://agent.example");
        assert!(matches!(new.checked_keys(), Err(IssuerError::Keys)));
        new.jwks_uri = Some("https://agent.example/jwks".into());
        new.public_keys_pem = vec!["-----BEGIN PUBLIC KEY-----".into()];
        assert!(matches!(new.checked_keys(), Err(IssuerError::Keys)));
        new.jwks_uri = None;
        assert!(matches!(
            new.checked_keys(),
            Err(IssuerError::PublicKey(latchkey_keys::PemKeyError::NotPem))
        ));
    }

    #[test]
    fn a_lifetime_of_a_day_is_the_most() {
        let mut new = NewIssuer::new(TeamId::from("t"), "https://agent.example");
        new.max_lifetime = TimeDelta::hours(24);
        assert!(new.check_limits().is_ok());
        new.max_lifetime = TimeDelta::hours(24) + TimeDelta::seconds(1);
        assert!(matches!(new.check_limits(), Err(IssuerError::Lifetime)));
    }
}

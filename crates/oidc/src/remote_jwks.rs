//! Keys published by others (a client's `jwks_uri`, an integration's issuer): fetched over
//! HTTPS, kept as long as the publisher's `Cache-Control` says, and fetched again when a `kid`
//! appears that the cached set lacks — at most once a minute, so a stream of made-up kids
//! cannot turn Latchkey into a load generator.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use latchkey_core::Clock;

use crate::public_address::{PublicOnly, is_public};

use jsonwebtoken::jwk::{Jwk, JwkSet};
use url::{Host, Url};

/// Kept this long when the publisher does not say.
const DEFAULT_MAX_AGE: Duration = Duration::from_secs(300);
/// Kept at least this long, whatever the publisher says: assertions that anyone can send must
/// not each cause a fetch.
const SHORTEST_MAX_AGE: Duration = Duration::from_secs(60);
/// Never kept longer than this, whatever the publisher says.
const LONGEST_MAX_AGE: Duration = Duration::from_secs(86_400);
/// A set is fetched again for an unknown `kid` at most this often.
pub const UNKNOWN_KID_REFETCH: Duration = Duration::from_secs(60);
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// A JWKS larger than this is refused.
const LARGEST_JWKS: usize = 256 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    /// Why is logged, not told: the answer must not help map what the provider can reach.
    #[error("the keys could not be fetched")]
    Unreachable,
    #[error("the JWKS at {0} is not a JSON Web Key Set")]
    Invalid(String),
    #[error("no key with kid {0:?} in the JWKS")]
    UnknownKey(String),
    #[error("the JWKS holds several keys, so the JWT header must name one with kid")]
    KidRequired,
}

/// Whether a JWKS may be fetched from this URL: https, or http on a loopback address.
pub fn acceptable_url(raw: &str) -> bool {
    let Ok(url) = Url::parse(raw) else {
        return false;
    };
    match url.scheme() {
        "https" => url.host().is_some(),
        "http" => match url.host() {
            Some(Host::Ipv4(ip)) => ip.is_loopback(),
            Some(Host::Ipv6(ip)) => ip.is_loopback(),
            Some(Host::Domain(d)) => d == "localhost",
            None => false,
        },
        _ => false,
    }
}

/// Picks the key a JWT names from a set.
pub fn select(set: &JwkSet, kid: Option<&str>) -> Result<Jwk, JwksError> {
    match kid {
        Some(kid) => set
            .keys
            .iter()
            .find(|k| k.common.key_id.as_deref() == Some(kid))
            .cloned()
            .ok_or_else(|| JwksError::UnknownKey(kid.to_owned())),
        None if set.keys.len() == 1 => Ok(set.keys[0].clone()),
        None => Err(JwksError::KidRequired),
    }
}

struct Cached {
    set: Arc<JwkSet>,
    fetched_at: DateTime<Utc>,
    fresh_for: Duration,
}

/// A cache of remote key sets, shared by every request.
#[derive(Clone)]
pub struct RemoteJwks {
    http: reqwest::Client,
    cache: Arc<Mutex<HashMap<String, Cached>>>,
    clock: Clock,
    /// `federation.allow_private_networks`: fetch from inside addresses and over http.
    allow_private_networks: bool,
}

impl RemoteJwks {
    pub fn new(clock: Clock, allow_private_networks: bool) -> Self {
        // No proxy: it would connect on our behalf to addresses this process never checks.
        let builder = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy();
        let builder = if allow_private_networks {
            builder
        } else {
            builder.dns_resolver(PublicOnly::shared())
        };
        Self {
            // Building fails only without a TLS backend, which is compiled in.
            http: builder.build().unwrap_or_default(),
            cache: Arc::default(),
            clock,
            allow_private_networks,
        }
    }

    /// Whether `url` may be fetched under this provider's policy: https to a public host,
    /// unless private networks are allowed. A name is checked again on the addresses it
    /// resolves to, when connecting.
    fn may_fetch(&self, url: &str) -> Result<(), String> {
        if self.allow_private_networks {
            return if acceptable_url(url) {
                Ok(())
            } else {
                Err("only https URLs (or http on a loopback address) are fetched".into())
            };
        }
        let parsed = Url::parse(url).map_err(|e| e.to_string())?;
        if parsed.scheme() != "https" {
            return Err("only https URLs are fetched".into());
        }
        match parsed.host() {
            Some(Host::Ipv4(ip)) if !is_public(ip.into()) => Err(format!("{ip} is not public")),
            Some(Host::Ipv6(ip)) if !is_public(ip.into()) => Err(format!("{ip} is not public")),
            Some(_) => Ok(()),
            None => Err("no host".into()),
        }
    }

    /// The key `kid` from the set at `url`.
    pub async fn key(&self, url: &str, kid: Option<&str>) -> Result<Jwk, JwksError> {
        let cached = self.cached(url);
        if let Some((set, fetched_at, fresh)) = &cached {
            match select(set, kid) {
                Ok(key) if *fresh => return Ok(key),
                Err(e) if self.age(*fetched_at) < UNKNOWN_KID_REFETCH => return Err(e),
                _ => {}
            }
        }
        let set = self.fetch(url).await?;
        select(&set, kid)
    }

    /// How long ago `at` was, by the provider's clock.
    fn age(&self, at: DateTime<Utc>) -> Duration {
        (self.clock.now() - at).to_std().unwrap_or_default()
    }

    fn cached(&self, url: &str) -> Option<(Arc<JwkSet>, DateTime<Utc>, bool)> {
        let cache = self.cache.lock().ok()?;
        cache.get(url).map(|c| {
            (
                c.set.clone(),
                c.fetched_at,
                self.age(c.fetched_at) < c.fresh_for,
            )
        })
    }

    async fn fetch(&self, url: &str) -> Result<Arc<JwkSet>, JwksError> {
        let failed = |reason: String| {
            tracing::warn!(%url, %reason, "fetching a JWKS failed");
            JwksError::Unreachable
        };
        self.may_fetch(url).map_err(failed)?;
        let response = self
            .http
            .get(url)
            .header(
                reqwest::header::ACCEPT,
                "application/jwk-set+json, application/json",
            )
            .send()
            .await
            // The chain names the resolver's refusal, which `to_string` alone drops.
            .map_err(|e| failed(format!("{e:?}")))?;
        if !response.status().is_success() {
            return Err(failed(format!("HTTP {}", response.status())));
        }
        let fresh_for = max_age(response.headers())
            .unwrap_or(DEFAULT_MAX_AGE)
            .max(SHORTEST_MAX_AGE);
        let too_large = || failed(format!("larger than {LARGEST_JWKS} bytes"));
        if response
            .content_length()
            .is_some_and(|len| len > LARGEST_JWKS as u64)
        {
            return Err(too_large());
        }
        let mut response = response;
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| failed(e.to_string()))? {
            if body.len() + chunk.len() > LARGEST_JWKS {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        let set: JwkSet =
            serde_json::from_slice(&body).map_err(|_| JwksError::Invalid(url.to_owned()))?;
        let set = Arc::new(set);
        tracing::info!(%url, keys = set.keys.len(), "fetched a JWKS");
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(
                url.to_owned(),
                Cached {
                    set: set.clone(),
                    fetched_at: self.clock.now(),
                    fresh_for,
                },
            );
        }
        Ok(set)
    }
}

/// `max-age` from `Cache-Control` (`no-store`/`no-cache` count as zero), capped at a day.
fn max_age(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::CACHE_CONTROL)?.to_str().ok()?;
    let mut seconds = None;
    for directive in value.split(',').map(str::trim) {
        if directive.eq_ignore_ascii_case("no-store") || directive.eq_ignore_ascii_case("no-cache")
        {
            return Some(Duration::ZERO);
        }
        if let Some(v) = directive.strip_prefix("max-age=") {
            seconds = v.trim_matches('"').parse::<u64>().ok();
        }
    }
    seconds.map(|s| Duration::from_secs(s).min(LONGEST_MAX_AGE))
}

//! Keys published by others (a client's `jwks_uri`, an integration's issuer): fetched over
//! HTTPS, kept as long as the publisher's `Cache-Control` says, and fetched again when a `kid`
//! appears that the cached set lacks — at most once a minute, so a stream of made-up kids
//! cannot turn Latchkey into a load generator.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use latchkey_core::Clock;
use latchkey_egress::Egress;

use jsonwebtoken::jwk::{Jwk, JwkSet};

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

pub use latchkey_egress::acceptable_url;

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
    /// The last set fetched. Kept when a later fetch fails, for up to a day (stale-if-error).
    set: Option<Arc<JwkSet>>,
    fetched_at: DateTime<Utc>,
    fresh_for: Duration,
    /// When the last fetch failed, if it did: the URL is not tried again for a minute.
    failed_at: Option<DateTime<Utc>>,
}

/// A cache of remote key sets, shared by every request.
#[derive(Clone)]
pub struct RemoteJwks {
    /// `federation.allow_private_networks` decides what it reaches.
    egress: Egress,
    cache: Arc<Mutex<HashMap<String, Cached>>>,
    /// One fetch per URL at a time; the others wait for it and read what it stored.
    fetching: Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
    clock: Clock,
}

impl RemoteJwks {
    /// The fetcher, with its limits. Failing to build it is an error, not a fallback to a
    /// client without them (redirects followed, no timeout).
    pub fn new(clock: Clock, allow_private_networks: bool) -> Result<Self, reqwest::Error> {
        Ok(Self {
            egress: Egress::new(FETCH_TIMEOUT, allow_private_networks)?,
            cache: Arc::default(),
            fetching: Arc::default(),
            clock,
        })
    }

    /// The key `kid` from the set at `url`.
    pub async fn key(&self, url: &str, kid: Option<&str>) -> Result<Jwk, JwksError> {
        if let Some(answer) = self.cached_answer(url, kid) {
            return answer;
        }
        let gate = self.gate(url);
        let _turn = gate.lock().await;
        // Whoever held the turn before may have fetched it already.
        if let Some(answer) = self.cached_answer(url, kid) {
            return answer;
        }
        let set = self.refetch(url).await?;
        select(&set, kid)
    }

    /// Fetches the set now (not from the cache) and checks it holds a usable public key:
    /// what adding an issuer does, so a wrong URL is said at once.
    pub async fn check(&self, url: &str) -> Result<(), JwksError> {
        let gate = self.gate(url);
        let _turn = gate.lock().await;
        let (set, fresh_for) = self.fetch(url).await?;
        let usable = set
            .keys
            .iter()
            .any(|key| jsonwebtoken::DecodingKey::from_jwk(key).is_ok());
        if !usable {
            return Err(JwksError::Invalid(url.to_owned()));
        }
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(
                url.to_owned(),
                Cached {
                    set: Some(set),
                    fetched_at: self.clock.now(),
                    fresh_for,
                    failed_at: None,
                },
            );
        }
        Ok(())
    }

    /// What the cache can answer without fetching, if anything: a fresh set; a lately
    /// fetched set that lacks the kid; or, for a minute after a failed fetch, the last good
    /// set or the failure.
    fn cached_answer(&self, url: &str, kid: Option<&str>) -> Option<Result<Jwk, JwksError>> {
        let cache = self.cache.lock().ok()?;
        let cached = cache.get(url)?;
        if cached
            .failed_at
            .is_some_and(|at| self.age(at) < UNKNOWN_KID_REFETCH)
        {
            let stale_ok = self.age(cached.fetched_at) < LONGEST_MAX_AGE;
            return Some(match &cached.set {
                Some(set) if stale_ok => select(set, kid),
                _ => Err(JwksError::Unreachable),
            });
        }
        let set = cached.set.as_ref()?;
        let age = self.age(cached.fetched_at);
        match select(set, kid) {
            Ok(key) if age < cached.fresh_for => Some(Ok(key)),
            Err(e) if age < UNKNOWN_KID_REFETCH => Some(Err(e)),
            _ => None,
        }
    }

    /// The turn to fetch `url`.
    fn gate(&self, url: &str) -> Arc<tokio::sync::Mutex<()>> {
        match self.fetching.lock() {
            Ok(mut gates) => gates.entry(url.to_owned()).or_default().clone(),
            Err(_) => Arc::default(),
        }
    }

    /// Fetches the set and caches the outcome, failure included. A failure still answers
    /// with a set fetched within the last day, if there is one.
    async fn refetch(&self, url: &str) -> Result<Arc<JwkSet>, JwksError> {
        let outcome = self.fetch(url).await;
        let now = self.clock.now();
        let Ok(mut cache) = self.cache.lock() else {
            return outcome.map(|(set, _)| set);
        };
        match outcome {
            Ok((set, fresh_for)) => {
                cache.insert(
                    url.to_owned(),
                    Cached {
                        set: Some(set.clone()),
                        fetched_at: now,
                        fresh_for,
                        failed_at: None,
                    },
                );
                Ok(set)
            }
            Err(error) => {
                let cached = cache.entry(url.to_owned()).or_insert(Cached {
                    set: None,
                    fetched_at: now,
                    fresh_for: Duration::ZERO,
                    failed_at: None,
                });
                cached.failed_at = Some(now);
                let stale_ok = (now - cached.fetched_at)
                    .to_std()
                    .is_ok_and(|age| age < LONGEST_MAX_AGE);
                match &cached.set {
                    Some(set) if stale_ok => Ok(set.clone()),
                    _ => Err(error),
                }
            }
        }
    }

    /// How long ago `at` was, by the provider's clock.
    fn age(&self, at: DateTime<Utc>) -> Duration {
        (self.clock.now() - at).to_std().unwrap_or_default()
    }

    /// One fetch: the set and how long it is fresh for.
    async fn fetch(&self, url: &str) -> Result<(Arc<JwkSet>, Duration), JwksError> {
        let failed = |reason: String| {
            tracing::warn!(%url, %reason, "fetching a JWKS failed");
            JwksError::Unreachable
        };
        self.egress.may_reach(url).map_err(failed)?;
        let response = self
            .egress
            .http()
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
        let fresh_for = latchkey_egress::max_age(response.headers())
            .unwrap_or(DEFAULT_MAX_AGE)
            .clamp(SHORTEST_MAX_AGE, LONGEST_MAX_AGE);
        let body = Egress::read(response, LARGEST_JWKS)
            .await
            .map_err(|e| failed(e.to_string()))?;
        let set: JwkSet =
            serde_json::from_slice(&body).map_err(|_| JwksError::Invalid(url.to_owned()))?;
        let set = Arc::new(set);
        tracing::info!(%url, keys = set.keys.len(), "fetched a JWKS");
        Ok((set, fresh_for))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    use chrono::TimeDelta;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    const SET: &str = r#"{"keys":[{"kty":"EC","crv":"P-256","kid":"k1","use":"sig","alg":"ES256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}"#;

    /// A JWKS endpoint on loopback that counts requests and answers 500 while `down`.
    async fn publisher() -> (String, Arc<AtomicUsize>, Arc<AtomicBool>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
        let (hits, down) = (
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicBool::new(false)),
        );
        let (counted, failing) = (hits.clone(), down.clone());
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut request = [0u8; 2048];
                let _ = socket.read(&mut request).await;
                counted.fetch_add(1, Ordering::SeqCst);
                // Slow enough that concurrent callers overlap.
                tokio::time::sleep(Duration::from_millis(50)).await;
                let response = if failing.load(Ordering::SeqCst) {
                    "HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_owned()
                } else {
                    format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{SET}",
                        SET.len()
                    )
                };
                let _ = socket.write_all(response.as_bytes()).await;
            }
        });
        (url, hits, down)
    }

    #[tokio::test]
    async fn concurrent_requests_for_one_url_make_one_fetch() {
        let (url, hits, _) = publisher().await;
        let jwks = RemoteJwks::new(Clock::adjustable(), true).unwrap();
        let lookups = (0..10).map(|_| jwks.key(&url, Some("k1")));
        for found in futures_util::future::join_all(lookups).await {
            assert!(found.is_ok());
        }
        assert_eq!(hits.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_failed_fetch_is_not_retried_for_a_minute() {
        let (url, hits, down) = publisher().await;
        down.store(true, Ordering::SeqCst);
        let clock = Clock::adjustable();
        let jwks = RemoteJwks::new(clock.clone(), true).unwrap();
        for _ in 0..3 {
            assert!(matches!(
                jwks.key(&url, Some("k1")).await,
                Err(JwksError::Unreachable)
            ));
        }
        assert_eq!(hits.load(Ordering::SeqCst), 1, "failures are cached");
        down.store(false, Ordering::SeqCst);
        clock.advance(TimeDelta::seconds(61));
        assert!(jwks.key(&url, Some("k1")).await.is_ok());
        assert_eq!(hits.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_set_that_cannot_be_refreshed_still_answers_for_a_day() {
        let (url, hits, down) = publisher().await;
        let clock = Clock::adjustable();
        let jwks = RemoteJwks::new(clock.clone(), true).unwrap();
        assert!(jwks.key(&url, Some("k1")).await.is_ok());
        down.store(true, Ordering::SeqCst);
        clock.advance(TimeDelta::minutes(10));
        assert!(jwks.key(&url, Some("k1")).await.is_ok(), "stale, but known");
        assert_eq!(hits.load(Ordering::SeqCst), 2, "it did try again");
        clock.advance(TimeDelta::days(2));
        assert!(jwks.key(&url, Some("k1")).await.is_err(), "not forever");
        assert!(
            jwks.key(&url, Some("k1")).await.is_err(),
            "nor in the minute after that failure"
        );
    }

    #[tokio::test]
    async fn inside_addresses_are_refused_without_a_request() {
        let (url, hits, _) = publisher().await;
        let jwks = RemoteJwks::new(Clock::adjustable(), false).unwrap();
        assert!(matches!(
            jwks.key(&url, Some("k1")).await,
            Err(JwksError::Unreachable)
        ));
        let by_name = url.replace("http://127.0.0.1", "https://localhost");
        assert!(jwks.key(&by_name, Some("k1")).await.is_err());
        assert_eq!(hits.load(Ordering::SeqCst), 0);
    }
}

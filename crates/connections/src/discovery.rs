//! A provider's discovery document and keys, from the cache (`provider_cache`) or fetched
//! through the `openidconnect` crate, which checks that the document names the issuer it was
//! asked for. Every request goes through [`Upstream`]'s policy; a recording client reads
//! each answer's `Cache-Control` on the way.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::Duration;

use openidconnect::core::{CoreJsonWebKeySet, CoreProviderMetadata};
use openidconnect::{AsyncHttpClient, HttpClientError, HttpRequest, HttpResponse};

use crate::client::{Upstream, UpstreamError, error_chain};
use crate::provider_cache::{Entry, Kept, LONGEST_FRESHNESS, REFETCH_AFTER, freshness};

impl Upstream {
    /// The provider's metadata and keys: kept ones while fresh, else fetched (every request
    /// checked) and kept. The endpoints the document names must be ones this policy reaches.
    pub async fn discover(&self, issuer: &str) -> Result<CoreProviderMetadata, UpstreamError> {
        let url = self.issuer_url(issuer)?;
        let key = url.as_str().to_owned();
        let unreachable = || UpstreamError::Discovery(issuer.to_owned());
        match self.cache.kept(&key) {
            Kept::Fresh(metadata) => return Ok(metadata),
            Kept::Failed(kept) => return kept.ok_or_else(unreachable),
            Kept::KeysStale(_) | Kept::Nothing(_) => {}
        }
        let gate = self.cache.gate(&key);
        let _turn = gate.lock().await;
        // Whoever held the turn before may have fetched it already.
        let (fetched, previous) = match self.cache.kept(&key) {
            Kept::Fresh(metadata) => return Ok(metadata),
            Kept::Failed(kept) => return kept.ok_or_else(unreachable),
            Kept::KeysStale(entry) => (self.fetch_keys(&entry).await, Some(entry)),
            Kept::Nothing(previous) => (self.fetch_provider(url).await, previous),
        };
        match fetched {
            Ok(entry) => {
                let metadata = entry.metadata.clone();
                self.cache.keep(&key, entry);
                Ok(metadata)
            }
            Err(error) => {
                self.cache.failed(&key);
                // Stale, but known: a provider down for a while does not stop sign-ins whose
                // keys it has not changed.
                match previous {
                    Some(entry) if self.cache.age(entry.keys_fetched_at) < LONGEST_FRESHNESS => {
                        tracing::warn!(%issuer, "the provider did not answer; using what it said before");
                        Ok(entry.metadata)
                    }
                    _ => Err(error),
                }
            }
        }
    }

    /// The provider's metadata with its keys fetched again, for an ID token signed by a key
    /// the kept set lacks: the provider has rotated. At most once a minute per provider
    /// (within it, what is kept, perhaps fetched by another sign-in just now); `None` when
    /// nothing is kept or the fetch failed.
    pub(crate) async fn refresh_keys(&self, issuer: &str) -> Option<CoreProviderMetadata> {
        let key = self.issuer_url(issuer).ok()?.as_str().to_owned();
        let gate = self.cache.gate(&key);
        let _turn = gate.lock().await;
        let entry = self.cache.entry(&key)?;
        if self.cache.age(entry.keys_fetched_at) < REFETCH_AFTER {
            return Some(entry.metadata);
        }
        match self.fetch_keys(&entry).await {
            Ok(entry) => {
                let metadata = entry.metadata.clone();
                self.cache.keep(&key, entry);
                Some(metadata)
            }
            Err(_) => {
                self.cache.failed(&key);
                None
            }
        }
    }

    /// Fetches the document and the keys it names.
    async fn fetch_provider(&self, url: openidconnect::IssuerUrl) -> Result<Entry, UpstreamError> {
        let issuer = url.as_str().to_owned();
        let recording = Recording::new(self);
        let metadata = CoreProviderMetadata::discover_async(url, &recording)
            .await
            .map_err(|e| {
                tracing::warn!(%issuer, error = %error_chain(&e), "discovery failed");
                UpstreamError::Discovery(issuer.clone())
            })?;
        self.reachable_endpoints(&issuer, &metadata)?;
        let said = recording.said();
        let now = self.cache.now();
        tracing::info!(%issuer, "fetched the provider's discovery document and keys");
        Ok(Entry {
            metadata,
            discovered_at: now,
            discovery_fresh_for: freshness(said.first().copied().flatten()),
            keys_fetched_at: now,
            keys_fresh_for: freshness(said.get(1).copied().flatten()),
            failed_at: None,
        })
    }

    /// Fetches the keys a kept document names again.
    async fn fetch_keys(&self, kept: &Entry) -> Result<Entry, UpstreamError> {
        let issuer = kept.metadata.issuer().to_string();
        let recording = Recording::new(self);
        let keys = CoreJsonWebKeySet::fetch_async(kept.metadata.jwks_uri(), &recording)
            .await
            .map_err(|e| {
                tracing::warn!(%issuer, error = %error_chain(&e), "fetching the provider's keys failed");
                UpstreamError::Discovery(issuer.clone())
            })?;
        tracing::info!(%issuer, "fetched the provider's keys");
        Ok(Entry {
            metadata: kept.metadata.clone().set_jwks(keys),
            keys_fetched_at: self.cache.now(),
            keys_fresh_for: freshness(recording.said().first().copied().flatten()),
            failed_at: None,
            ..kept.clone()
        })
    }
}

/// [`Upstream`] as the crate's HTTP client, noting how long each answer says it is fresh.
struct Recording<'a> {
    upstream: &'a Upstream,
    said: Mutex<Vec<Option<Duration>>>,
}

impl<'a> Recording<'a> {
    fn new(upstream: &'a Upstream) -> Self {
        Self {
            upstream,
            said: Mutex::default(),
        }
    }

    /// Each answer's `max-age`, in the order the requests were made.
    fn said(&self) -> Vec<Option<Duration>> {
        self.said.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

impl<'c> AsyncHttpClient<'c> for Recording<'_> {
    type Error = HttpClientError<reqwest::Error>;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, Self::Error>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(async move {
            let response = self.upstream.send(request).await?;
            if let Ok(mut said) = self.said.lock() {
                said.push(latchkey_egress::max_age(response.headers()));
            }
            Ok(response)
        })
    }
}

//! Providers' discovery documents and keys, kept between sign-ins. Fetching both afresh for
//! every step of every sign-in made four requests per person, and a provider that is slow for
//! a moment made each of them slow. Each is kept as long as its own `Cache-Control` says,
//! within bounds: at least a minute (a sign-in anyone can start must not each time cause a
//! fetch), at most a day. The keys are fetched again sooner when an ID token names a key the
//! kept set lacks (the provider rotated), at most once a minute. When a provider cannot be
//! reached, what was fetched within the last day still answers (stale-if-error), and the
//! failure itself is kept for a minute, so a provider that is down is not asked at every
//! sign-in.
//!
//! The cache is keyed by the issuer URL alone: discovery is public and the same whoever
//! asks, and the document fetched is checked to name that issuer, so no team can place in it
//! anything but what the issuer itself publishes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use latchkey_core::Clock;
use openidconnect::core::CoreProviderMetadata;

/// Kept this long when the provider does not say.
pub(crate) const DEFAULT_FRESHNESS: Duration = Duration::from_secs(3600);
/// Kept at least this long, whatever the provider says.
pub(crate) const SHORTEST_FRESHNESS: Duration = Duration::from_secs(60);
/// Never kept longer than this, nor answered from after a failure past it.
pub(crate) const LONGEST_FRESHNESS: Duration = Duration::from_secs(86_400);
/// Keys are fetched again for an unknown `kid`, and a failed provider asked again, at most
/// this often.
pub(crate) const REFETCH_AFTER: Duration = Duration::from_secs(60);

/// How long an answer is fresh for, from what it said of itself.
pub(crate) fn freshness(said: Option<Duration>) -> Duration {
    said.unwrap_or(DEFAULT_FRESHNESS)
        .clamp(SHORTEST_FRESHNESS, LONGEST_FRESHNESS)
}

/// One provider's document and keys, and when each was fetched.
#[derive(Clone)]
pub(crate) struct Entry {
    /// The discovery document, with the key set it names.
    pub(crate) metadata: CoreProviderMetadata,
    pub(crate) discovered_at: DateTime<Utc>,
    pub(crate) discovery_fresh_for: Duration,
    pub(crate) keys_fetched_at: DateTime<Utc>,
    pub(crate) keys_fresh_for: Duration,
    /// When the last fetch failed, if the last one did.
    pub(crate) failed_at: Option<DateTime<Utc>>,
}

/// What the cache can say of a provider without fetching.
pub(crate) enum Kept {
    /// The document and keys, fresh.
    Fresh(CoreProviderMetadata),
    /// The document is fresh, its keys are not: fetch the keys alone.
    KeysStale(Box<Entry>),
    /// Fetch both (nothing kept, or the document is stale).
    Nothing(Option<Box<Entry>>),
    /// A fetch failed within the last minute: this answer (the last good one, if within a
    /// day), without asking again.
    Failed(Option<CoreProviderMetadata>),
}

/// The kept providers, shared by every request.
#[derive(Clone)]
pub(crate) struct ProviderCache {
    entries: Arc<Mutex<HashMap<String, Entry>>>,
    /// One fetch per issuer at a time; the others wait for it and read what it kept.
    gates: Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
    clock: Clock,
}

impl ProviderCache {
    pub(crate) fn new(clock: Clock) -> Self {
        Self {
            entries: Arc::default(),
            gates: Arc::default(),
            clock,
        }
    }

    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// How long ago `at` was.
    pub(crate) fn age(&self, at: DateTime<Utc>) -> Duration {
        (self.clock.now() - at).to_std().unwrap_or_default()
    }

    /// What is kept for `issuer`, and whether it will do.
    pub(crate) fn kept(&self, issuer: &str) -> Kept {
        let Some(entry) = self.entry(issuer) else {
            return Kept::Nothing(None);
        };
        if entry
            .failed_at
            .is_some_and(|at| self.age(at) < REFETCH_AFTER)
        {
            let stale_ok = self.age(entry.keys_fetched_at) < LONGEST_FRESHNESS;
            return Kept::Failed(stale_ok.then_some(entry.metadata));
        }
        if self.age(entry.discovered_at) >= entry.discovery_fresh_for {
            return Kept::Nothing(Some(Box::new(entry)));
        }
        if self.age(entry.keys_fetched_at) >= entry.keys_fresh_for {
            return Kept::KeysStale(Box::new(entry));
        }
        Kept::Fresh(entry.metadata)
    }

    /// The entry kept for `issuer`, if any.
    pub(crate) fn entry(&self, issuer: &str) -> Option<Entry> {
        self.entries.lock().ok()?.get(issuer).cloned()
    }

    /// Keeps what was just fetched.
    pub(crate) fn keep(&self, issuer: &str, entry: Entry) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.insert(issuer.to_owned(), entry);
        }
    }

    /// Notes a failed fetch: the provider is not asked again for a minute. What was kept
    /// stays, to answer for up to a day after its fetch.
    pub(crate) fn failed(&self, issuer: &str) {
        if let Ok(mut entries) = self.entries.lock()
            && let Some(entry) = entries.get_mut(issuer)
        {
            entry.failed_at = Some(self.clock.now());
        }
    }

    /// The turn to fetch for `issuer`.
    pub(crate) fn gate(&self, issuer: &str) -> Arc<tokio::sync::Mutex<()>> {
        match self.gates.lock() {
            Ok(mut gates) => gates.entry(issuer.to_owned()).or_default().clone(),
            Err(_) => Arc::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freshness_is_what_the_provider_says_within_a_minute_and_a_day() {
        assert_eq!(freshness(None), DEFAULT_FRESHNESS);
        assert_eq!(freshness(Some(Duration::ZERO)), SHORTEST_FRESHNESS);
        assert_eq!(
            freshness(Some(Duration::from_secs(900))),
            Duration::from_secs(900)
        );
        assert_eq!(
            freshness(Some(Duration::from_secs(90 * 86_400))),
            LONGEST_FRESHNESS
        );
    }
}

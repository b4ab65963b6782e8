//! A replica's short-lived copy of rows that change rarely and are read on every request
//! (registered clients, service providers). A change made by the CLI or another replica is
//! seen within the time to live; the replica that makes it forgets its copy at once.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// Values by key, each trusted for `ttl`. Cloning shares the copy.
pub struct TtlCache<V> {
    ttl: Duration,
    /// Entries kept before the cache starts over, so unknown keys cannot grow it without
    /// bound.
    capacity: usize,
    entries: Arc<RwLock<HashMap<String, (Instant, V)>>>,
}

impl<V> Clone for TtlCache<V> {
    fn clone(&self) -> Self {
        Self {
            ttl: self.ttl,
            capacity: self.capacity,
            entries: self.entries.clone(),
        }
    }
}

impl<V: Clone> TtlCache<V> {
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            ttl,
            capacity,
            entries: Arc::default(),
        }
    }

    /// The value kept for `key`, if it is younger than the time to live.
    pub fn get(&self, key: &str) -> Option<V> {
        let entries = self.entries.read().ok()?;
        let (at, value) = entries.get(key)?;
        (at.elapsed() < self.ttl).then(|| value.clone())
    }

    pub fn insert(&self, key: String, value: V) {
        if let Ok(mut entries) = self.entries.write() {
            if entries.len() >= self.capacity {
                entries.clear();
            }
            entries.insert(key, (Instant::now(), value));
        }
    }

    /// Forgets one value: after a change, its next read goes to the database.
    pub fn forget(&self, key: &str) {
        if let Ok(mut entries) = self.entries.write() {
            entries.remove(key);
        }
    }

    /// Forgets every value: after a change, the next read goes to the database.
    pub fn clear(&self) {
        if let Ok(mut entries) = self.entries.write() {
            entries.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_is_kept_for_its_time_and_forgotten_when_cleared() {
        let cache = TtlCache::new(Duration::from_secs(60), 2);
        cache.insert("a".into(), 1);
        assert_eq!(cache.get("a"), Some(1));
        assert_eq!(cache.get("b"), None);
        cache.clear();
        assert_eq!(cache.get("a"), None);
    }

    #[test]
    fn a_value_past_its_time_is_not_given() {
        let cache = TtlCache::new(Duration::ZERO, 2);
        cache.insert("a".into(), 1);
        assert_eq!(cache.get("a"), None);
    }

    #[test]
    fn a_full_cache_starts_over() {
        let cache = TtlCache::new(Duration::from_secs(60), 2);
        cache.insert("a".into(), 1);
        cache.insert("b".into(), 2);
        cache.insert("c".into(), 3);
        assert_eq!((cache.get("a"), cache.get("c")), (None, Some(3)));
    }
}

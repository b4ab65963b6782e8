//! What time it is. Every request and worker reads the time here, so a test can move the
//! provider's clock forward (a link expires, a cache goes stale) instead of sleeping.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, TimeDelta, Utc};

/// The system clock, or for tests the system clock moved forward by [`Clock::advance`].
#[derive(Clone, Debug, Default)]
pub struct Clock {
    /// Milliseconds added to the system time; `None` on the production clock, which cannot
    /// be moved.
    ahead_ms: Option<Arc<AtomicI64>>,
}

impl Clock {
    pub fn system() -> Self {
        Self::default()
    }

    /// A clock that starts at the system time and can be moved forward.
    pub fn adjustable() -> Self {
        Self {
            ahead_ms: Some(Arc::default()),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        let now = Utc::now();
        match &self.ahead_ms {
            Some(ahead) => now + TimeDelta::milliseconds(ahead.load(Ordering::Relaxed)),
            None => now,
        }
    }

    /// Moves an adjustable clock (and every clone of it) forward; the system clock ignores it.
    pub fn advance(&self, by: TimeDelta) {
        if let Some(ahead) = &self.ahead_ms {
            ahead.fetch_add(by.num_milliseconds(), Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_adjustable_clock_moves_with_its_clones() {
        let clock = Clock::adjustable();
        let seen_by_a_worker = clock.clone();
        let before = seen_by_a_worker.now();
        clock.advance(TimeDelta::minutes(10));
        let moved = seen_by_a_worker.now() - before;
        assert!(moved >= TimeDelta::minutes(10) && moved < TimeDelta::minutes(11));
    }

    #[test]
    fn the_system_clock_cannot_be_moved() {
        let clock = Clock::system();
        clock.advance(TimeDelta::days(1));
        assert!(clock.now() - Utc::now() < TimeDelta::seconds(1));
    }
}

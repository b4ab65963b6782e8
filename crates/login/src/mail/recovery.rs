//! Telling that the mail server is back after an outage, so the mail that waited out the
//! outage on its backoff goes out at once rather than up to a minute later.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// How long after a failed send a successful one still means "the mail server is back".
const RECOVERY_WINDOW: Duration = Duration::from_secs(120);

/// This process's view of the mail server's failures.
#[derive(Default)]
pub(super) struct Recovery {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    failed_at: Option<Instant>,
    released_at: Option<Instant>,
}

impl Recovery {
    /// A send failed because the mail server as a whole did.
    pub(super) fn server_failed(&self) {
        self.lock().failed_at = Some(Instant::now());
    }

    /// A send succeeded: whether to make the waiting mail due now. Yes if the server failed
    /// within the recovery window, at most once a second.
    pub(super) fn release_backlog(&self) -> bool {
        let mut state = self.lock();
        let recent =
            |at: Option<Instant>, within: Duration| at.is_some_and(|at| at.elapsed() < within);
        let due = recent(state.failed_at, RECOVERY_WINDOW)
            && !recent(state.released_at, Duration::from_secs(1));
        if due {
            state.released_at = Some(Instant::now());
        }
        due
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

//! When a connection is idle. hyper bounds the reading of an HTTP/1 request's headers
//! (`http.header_read_timeout`, which also runs while a keep-alive connection waits for its
//! next request), but not the first read that decides between HTTP/1 and HTTP/2, nor an HTTP/2
//! connection with no stream open: a client sending nothing, or the HTTP/2 preface and then
//! nothing, held a connection for ever. So each connection counts its requests under way, and
//! is closed when it has had none for too long: its first request must come within
//! `http.header_read_timeout` of the connection, and each next one within `http.idle_timeout`
//! of the last response.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

/// The requests under way on one connection, and since when it has had none.
#[derive(Clone)]
pub(super) struct Activity(Arc<watch::Sender<State>>);

#[derive(Clone, Copy)]
struct State {
    under_way: usize,
    /// When the connection opened, or its last request ended.
    quiet_since: Instant,
    /// Whether any request has come yet.
    served: bool,
}

/// A request under way, until dropped (when its response's head is handed to hyper: a body
/// still being written does not count, and ours are small).
pub(super) struct UnderWay(Activity);

impl Activity {
    pub(super) fn new() -> Self {
        Self(Arc::new(watch::Sender::new(State {
            under_way: 0,
            quiet_since: Instant::now(),
            served: false,
        })))
    }

    pub(super) fn begin(&self) -> UnderWay {
        self.0.send_modify(|state| {
            state.under_way += 1;
            state.served = true;
        });
        UnderWay(self.clone())
    }

    /// Resolves once no request has been under way for `first` before the first request, or
    /// for `idle` after a later one.
    pub(super) async fn until_idle(&self, first: Duration, idle: Duration) {
        let mut changes = self.0.subscribe();
        loop {
            let state = *changes.borrow_and_update();
            if state.under_way > 0 {
                // The sender lives in `self`, so this only ever waits for a change.
                let _ = changes.changed().await;
                continue;
            }
            let allowed = if state.served { idle } else { first };
            tokio::select! {
                () = tokio::time::sleep_until(state.quiet_since + allowed) => return,
                _ = changes.changed() => {}
            }
        }
    }
}

impl Drop for UnderWay {
    fn drop(&mut self) {
        self.0.0.send_modify(|state| {
            state.under_way = state.under_way.saturating_sub(1);
            state.quiet_since = Instant::now();
        });
    }
}

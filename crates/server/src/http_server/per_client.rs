//! The cap on the connections one client holds at once (`http.max_connections_per_ip`). At this
//! layer the client is the TCP peer: a forwarding header cannot be read before the request is,
//! so the trusted proxies (`http.trusted_proxies`), whose connections carry many clients', are
//! not capped. IPv6 peers are counted by their /64, like the per-IP rate limit.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use latchkey_idp::web::TrustedProxies;
use latchkey_idp::web::client_address::rate_key;

/// The open connections of each client address (by [`rate_key`]).
type OpenConnections = Arc<Mutex<HashMap<IpAddr, usize>>>;

/// Counts the open connections of each client address.
#[derive(Clone)]
pub(super) struct PerClientCap {
    max: usize,
    exempt: TrustedProxies,
    open: OpenConnections,
}

/// A connection counted against its client until dropped; `None` for an exempt proxy.
pub(super) struct Admitted {
    counted: Option<(IpAddr, OpenConnections)>,
}

impl PerClientCap {
    pub(super) fn new(max: usize, exempt: TrustedProxies) -> Self {
        Self {
            max,
            exempt,
            open: Arc::default(),
        }
    }

    /// Counts a new connection from `peer`, or `None` when its client already holds the most.
    pub(super) fn admit(&self, peer: IpAddr) -> Option<Admitted> {
        let peer = peer.to_canonical();
        if self.exempt.trusts(peer) {
            return Some(Admitted { counted: None });
        }
        let key = rate_key(peer);
        // A panic elsewhere cannot leave the counts wrong, only stale: go on with them.
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(key).or_default();
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(Admitted {
            counted: Some((key, self.open.clone())),
        })
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let Some((key, open)) = self.counted.take() else {
            return;
        };
        let mut open = open.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&key) {
            *count = count.saturating_sub(1);
            // Forget a client with no connection left, so the map holds only current ones.
            if *count == 0 {
                open.remove(&key);
            }
        }
    }
}

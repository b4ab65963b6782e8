//! The per-client limit (`http.rate_limit_per_ip` a minute, 429 with `Retry-After` past it),
//! keyed by the client's address as [`client_address`](super::client_address) reads it.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::routing::MethodRouter;
use governor::middleware::NoOpMiddleware;
use tower_governor::GovernorLayer;
use tower_governor::governor::{GovernorConfigBuilder, SharedRateLimiter};

use crate::state::AppState;
use crate::web::client_address::ClientKey;

/// One budget per client, for the routes it is applied to.
pub(super) struct PerIpLimit(Option<GovernorLayer<ClientKey, NoOpMiddleware, Body>>);

impl PerIpLimit {
    pub(super) fn new(state: &AppState) -> Self {
        let per_minute = state.rate_limit_per_ip.max(1);
        let layer = GovernorConfigBuilder::default()
            .key_extractor(ClientKey(state.trusted_proxies.clone()))
            .per_millisecond((60_000 / u64::from(per_minute)).max(1))
            .burst_size(per_minute)
            .finish()
            .map(|config| {
                forget_idle_addresses(config.limiter());
                GovernorLayer::new(Arc::new(config))
            });
        Self(layer)
    }

    pub(super) fn apply(&self, route: MethodRouter<AppState>) -> MethodRouter<AppState> {
        match &self.0 {
            Some(layer) => route.layer(layer.clone()),
            None => route,
        }
    }
}

/// Every minute, drops the entries of addresses whose budget is full again, so the limiter's
/// memory follows the addresses of the last minute instead of every address ever seen. Stops
/// when the router is dropped.
fn forget_idle_addresses(limiter: &SharedRateLimiter<std::net::IpAddr, NoOpMiddleware>) {
    let limiter = Arc::downgrade(limiter);
    tokio::spawn(async move {
        let mut every_minute = tokio::time::interval(Duration::from_secs(60));
        every_minute.tick().await;
        loop {
            every_minute.tick().await;
            let Some(limiter) = limiter.upgrade() else {
                return;
            };
            limiter.retain_recent();
            limiter.shrink_to_fit();
            metrics::gauge!("rate_limited_addresses").set(limiter.len() as f64);
        }
    });
}

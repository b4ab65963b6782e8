use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::http::{HeaderValue, Request};
use tower_http::request_id::{MakeRequestId, RequestId};

/// Request ids unique across replicas and restarts without a random draw per request: a
/// random per-process prefix and a counter (`3f9c1a7e52d04b88-42`).
#[derive(Clone)]
pub(super) struct ProcessCounter {
    prefix: Arc<str>,
    next: Arc<AtomicU64>,
}

impl ProcessCounter {
    pub(super) fn new() -> Self {
        let prefix = uuid::Uuid::new_v4().simple().to_string()[..16].to_owned();
        Self {
            prefix: prefix.into(),
            next: Arc::new(AtomicU64::new(1)),
        }
    }
}

impl MakeRequestId for ProcessCounter {
    fn make_request_id<B>(&mut self, _request: &Request<B>) -> Option<RequestId> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        HeaderValue::from_str(&format!("{}-{n}", self.prefix))
            .ok()
            .map(RequestId::new)
    }
}

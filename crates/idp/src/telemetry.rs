//! Request metrics in the Prometheus text format.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use metrics::{Counter, Histogram, SharedString};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Latency buckets, in seconds, from 100 µs to 5 s.
const LATENCY_BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// Installs the process-wide metrics recorder once and returns its handle; later calls (several
/// servers in one test process) share it. A thread folds recorded latencies into the histogram
/// buckets every few seconds, so memory stays flat whether or not anyone scrapes `/metrics`.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new();
            let builder = match builder.set_buckets(&LATENCY_BUCKETS) {
                Ok(with_buckets) => with_buckets,
                Err(_) => PrometheusBuilder::new(),
            };
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed; /metrics will be empty");
            }
            let upkeep = handle.clone();
            let spawned = std::thread::Builder::new().name("metrics-upkeep".into()).spawn(move || {
                loop {
                    std::thread::sleep(Duration::from_secs(5));
                    upkeep.run_upkeep();
                }
            });
            if let Err(error) = spawned {
                tracing::warn!(%error, "metrics upkeep thread not started; histograms fold on scrape only");
            }
            handle
        })
        .clone()
}

/// Methods as static labels; anything unusual shares one series.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::HEAD => "HEAD",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        _ => "other",
    }
}

/// The route a request matched, identified without copying it: axum keeps one string per
/// route for the router's lifetime, so its address names the route.
type SeriesKey = (usize, &'static str, u16);

/// The counter and histogram of each (route, method, status), registered once and then reused,
/// so the hot paths pay a map lookup instead of building labelled keys on every request.
#[derive(Clone, Default)]
pub struct RequestMetrics {
    series: Arc<RwLock<HashMap<SeriesKey, (Counter, Histogram)>>>,
}

impl RequestMetrics {
    fn series(
        &self,
        route: Option<&MatchedPath>,
        method: &'static str,
        status: u16,
    ) -> (Counter, Histogram) {
        let route_str = route.map(MatchedPath::as_str);
        let key = (route_str.map_or(0, |r| r.as_ptr() as usize), method, status);
        if let Some(found) = self.series.read().ok().and_then(|s| s.get(&key).cloned()) {
            return found;
        }
        let labels = [
            (
                "route",
                SharedString::from(route_str.unwrap_or("unmatched").to_owned()),
            ),
            ("method", SharedString::const_str(method)),
            ("status", SharedString::from(status.to_string())),
        ];
        let made = (
            metrics::counter!("http_requests_total", &labels),
            metrics::histogram!("http_request_duration_seconds", &labels),
        );
        if let Ok(mut series) = self.series.write() {
            series.insert(key, made.clone());
        }
        made
    }
}

/// Counts each request and records its latency, labelled by route template (never the raw
/// path, which would let clients create unbounded series), method and status.
pub async fn record_request(
    State(metrics): State<RequestMetrics>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let route = request.extensions().get::<MatchedPath>().cloned();
    let method = method_label(request.method());
    let response = next.run(request).await;
    let (count, latency) = metrics.series(route.as_ref(), method, response.status().as_u16());
    count.increment(1);
    latency.record(started.elapsed().as_secs_f64());
    response
}

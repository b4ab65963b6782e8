//! The provider cache against a provider on loopback that counts what it is asked, says how
//! long its answers keep, rotates its keys and goes down, with the clock moved by hand.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use chrono::TimeDelta;
use latchkey_core::Clock;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::client::{UPSTREAM_TIMEOUT, Upstream};

const KEY_ONE: &str = r#"{"kty":"EC","crv":"P-256","kid":"k1","use":"sig","alg":"ES256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#;
const KEY_TWO: &str = r#"{"kty":"EC","crv":"P-256","kid":"k2","use":"sig","alg":"ES256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#;

/// A provider on loopback: what it answers, and what it was asked.
#[derive(Default)]
struct Provider {
    discoveries: AtomicUsize,
    key_fetches: AtomicUsize,
    down: AtomicBool,
    /// The `Cache-Control` of the discovery document and of the keys.
    discovery_cache: Mutex<Option<String>>,
    keys_cache: Mutex<Option<String>>,
    keys: Mutex<String>,
}

impl Provider {
    fn set_keys(&self, keys: &[&str]) {
        *self.keys.lock().unwrap() = format!(r#"{{"keys":[{}]}}"#, keys.join(","));
    }

    fn counts(&self) -> (usize, usize) {
        (
            self.discoveries.load(Ordering::SeqCst),
            self.key_fetches.load(Ordering::SeqCst),
        )
    }
}

/// Starts the provider; its issuer URL and its state.
async fn provider() -> (String, Arc<Provider>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let state = Arc::new(Provider::default());
    state.set_keys(&[KEY_ONE]);
    let (served, base) = (state.clone(), issuer.clone());
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut request = [0u8; 4096];
            let read = socket.read(&mut request).await.unwrap_or(0);
            let request = String::from_utf8_lossy(&request[..read]).into_owned();
            let response = answer(&served, &base, &request);
            let _ = socket.write_all(response.as_bytes()).await;
        }
    });
    (issuer, state)
}

fn answer(provider: &Provider, issuer: &str, request: &str) -> String {
    if provider.down.load(Ordering::SeqCst) {
        return "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            .into();
    }
    let (body, cache) = if request.starts_with("GET /.well-known/openid-configuration") {
        provider.discoveries.fetch_add(1, Ordering::SeqCst);
        let body = format!(
            r#"{{"issuer":"{issuer}","authorization_endpoint":"{issuer}/authorize","token_endpoint":"{issuer}/token","jwks_uri":"{issuer}/jwks","response_types_supported":["code"],"subject_types_supported":["public"],"id_token_signing_alg_values_supported":["ES256"]}}"#
        );
        (body, provider.discovery_cache.lock().unwrap().clone())
    } else {
        provider.key_fetches.fetch_add(1, Ordering::SeqCst);
        let body = provider.keys.lock().unwrap().clone();
        (body, provider.keys_cache.lock().unwrap().clone())
    };
    let cache = cache
        .map(|value| format!("cache-control: {value}\r\n"))
        .unwrap_or_default();
    format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n{cache}content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn upstream(clock: &Clock) -> Upstream {
    Upstream::new(true, UPSTREAM_TIMEOUT)
        .unwrap()
        .with_clock(clock.clone())
}

fn kids(metadata: &openidconnect::core::CoreProviderMetadata) -> Vec<String> {
    use openidconnect::JsonWebKey;
    metadata
        .jwks()
        .keys()
        .iter()
        .filter_map(|k| k.key_id().map(|id| id.to_string()))
        .collect()
}

#[tokio::test]
async fn sign_ins_reuse_the_document_and_keys_while_they_are_fresh() {
    let (issuer, provider) = provider().await;
    let clock = Clock::adjustable();
    let upstream = upstream(&clock);
    for _ in 0..5 {
        upstream.discover(&issuer).await.unwrap();
    }
    assert_eq!(
        provider.counts(),
        (1, 1),
        "one fetch of each for five sign-ins"
    );
    // Unsaid: kept an hour.
    clock.advance(TimeDelta::minutes(59));
    upstream.discover(&issuer).await.unwrap();
    assert_eq!(provider.counts(), (1, 1));
    clock.advance(TimeDelta::minutes(2));
    upstream.discover(&issuer).await.unwrap();
    assert_eq!(provider.counts(), (2, 2));
}

#[tokio::test]
async fn each_answer_keeps_as_long_as_it_says_within_a_minute_and_a_day() {
    let (issuer, provider) = provider().await;
    *provider.discovery_cache.lock().unwrap() = Some("public, max-age=31536000".into());
    *provider.keys_cache.lock().unwrap() = Some("no-cache".into());
    let clock = Clock::adjustable();
    let upstream = upstream(&clock);
    upstream.discover(&issuer).await.unwrap();
    // `no-cache` keys still keep a minute: a sign-in anyone can start must not each time
    // make a request.
    clock.advance(TimeDelta::seconds(30));
    upstream.discover(&issuer).await.unwrap();
    assert_eq!(provider.counts(), (1, 1));
    // Then the keys alone are fetched again; the document keeps.
    clock.advance(TimeDelta::seconds(31));
    upstream.discover(&issuer).await.unwrap();
    assert_eq!(provider.counts(), (1, 2));
    // A year's max-age keeps a day at most.
    clock.advance(TimeDelta::hours(24));
    upstream.discover(&issuer).await.unwrap();
    assert_eq!(provider.counts(), (2, 3));
}

#[tokio::test]
async fn concurrent_sign_ins_make_one_fetch() {
    let (issuer, provider) = provider().await;
    let upstream = upstream(&Clock::adjustable());
    let mut lookups = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let (upstream, issuer) = (upstream.clone(), issuer.clone());
        lookups.spawn(async move { upstream.discover(&issuer).await.is_ok() });
    }
    for found in lookups.join_all().await {
        assert!(found);
    }
    assert_eq!(provider.counts(), (1, 1));
}

#[tokio::test]
async fn rotated_keys_are_fetched_again_at_most_once_a_minute() {
    let (issuer, provider) = provider().await;
    let clock = Clock::adjustable();
    let upstream = upstream(&clock);
    // The keys keep a day; the provider rotates within it.
    *provider.keys_cache.lock().unwrap() = Some("max-age=86400".into());
    upstream.discover(&issuer).await.unwrap();
    provider.set_keys(&[KEY_ONE, KEY_TWO]);
    // Just fetched: no new request, the kept set.
    let kept = upstream.refresh_keys(&issuer).await.unwrap();
    assert_eq!(kids(&kept), ["k1"]);
    assert_eq!(provider.counts(), (1, 1));
    clock.advance(TimeDelta::seconds(61));
    let refreshed = upstream.refresh_keys(&issuer).await.unwrap();
    assert_eq!(kids(&refreshed), ["k1", "k2"]);
    // What sign-ins then use, without another fetch.
    assert_eq!(
        kids(&upstream.discover(&issuer).await.unwrap()),
        ["k1", "k2"]
    );
    assert_eq!(provider.counts(), (1, 2));
    // A made-up kid a second later fetches nothing.
    upstream.refresh_keys(&issuer).await.unwrap();
    assert_eq!(provider.counts(), (1, 2));
}

#[tokio::test]
async fn a_provider_that_goes_down_is_answered_for_from_what_it_said_for_a_day() {
    let (issuer, provider) = provider().await;
    let clock = Clock::adjustable();
    let upstream = upstream(&clock);
    upstream.discover(&issuer).await.unwrap();
    provider.down.store(true, Ordering::SeqCst);
    clock.advance(TimeDelta::hours(2));
    assert!(upstream.discover(&issuer).await.is_ok(), "stale, but known");
    assert_eq!(
        provider.counts(),
        (1, 1),
        "the failed request is not counted"
    );
    // Not asked again within the minute after a failure.
    upstream.discover(&issuer).await.unwrap();
    clock.advance(TimeDelta::hours(23));
    assert!(upstream.discover(&issuer).await.is_err(), "not past a day");
    provider.down.store(false, Ordering::SeqCst);
    assert!(
        upstream.discover(&issuer).await.is_err(),
        "nor asked again within a minute of that failure"
    );
    clock.advance(TimeDelta::seconds(61));
    assert!(upstream.discover(&issuer).await.is_ok(), "back");
}

#[tokio::test]
async fn a_provider_never_reached_is_asked_again_at_the_next_sign_in() {
    let (issuer, provider) = provider().await;
    provider.down.store(true, Ordering::SeqCst);
    let upstream = upstream(&Clock::adjustable());
    assert!(upstream.discover(&issuer).await.is_err());
    provider.down.store(false, Ordering::SeqCst);
    assert!(upstream.discover(&issuer).await.is_ok());
}

#[tokio::test]
async fn a_document_naming_another_issuer_is_refused_and_not_kept() {
    let (issuer, provider) = provider().await;
    let upstream = upstream(&Clock::adjustable());
    // The same provider under another name: its document names the first.
    let other = issuer.replace("127.0.0.1", "localhost");
    assert!(upstream.discover(&other).await.is_err());
    assert!(upstream.discover(&issuer).await.is_ok());
    assert_eq!(provider.counts().0, 2);
}

//! The HTTP shapes of the router, in process: one request through the whole stack of layers
//! (`tower::ServiceExt::oneshot`) on a SQLite database in memory, and a few rules behind the
//! routes that need the whole provider's state. What needs real processes (replicas, SMTP, a
//! relying party, a browser, shutdown) stays in the end-to-end suite.

use std::net::SocketAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;
use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, Response, StatusCode, header};
use chrono::TimeDelta;
use latchkey_core::{Clock, Db, Issuer};
use latchkey_idp::AppState;
use latchkey_keys::{KeyPolicy, KeyStore, MasterKey};
use latchkey_login::mail::{MailSettings, MailTransport, Outbox};
use latchkey_migrations::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, Database};
use tower::ServiceExt;

use crate::app::{self, Ground};
use crate::config::{Config, Settings};

/// A provider on a fresh database, answering as `issuer`.
async fn provider(issuer: &str) -> (Router, tempfile::TempDir) {
    let (state, outbox) = state(issuer).await;
    (latchkey_idp::web::router(state), outbox)
}

/// The provider's state on a fresh database, for tests of what lies behind the routes.
async fn state(issuer: &str) -> (AppState, tempfile::TempDir) {
    state_with(issuer, |_| {}).await
}

/// The same, with some settings changed.
async fn state_with(
    issuer: &str,
    adjust: impl FnOnce(&mut Settings),
) -> (AppState, tempfile::TempDir) {
    let mut settings = Config::default().check().expect("the defaults are valid");
    settings.issuer = Issuer::parse(issuer).expect("issuer");
    settings.rate_limit_per_ip = 600;
    settings.jwks_cache = crate::duration::Ttl::from_secs(90);
    adjust(&mut settings);
    // One connection: every connection to `sqlite::memory:` is a database of its own.
    let mut options = ConnectOptions::new("sqlite::memory:");
    options.max_connections(1).sqlx_logging(false);
    let conn = Database::connect(options).await.expect("sqlite");
    Migrator::up(&conn, None).await.expect("migrations");
    let clock = Clock::system();
    let (master_key, _) = MasterKey::generate().expect("master key");
    let master_key = Arc::new(master_key);
    let policy = KeyPolicy {
        rotation_period: TimeDelta::days(30),
        publish_ahead: TimeDelta::days(1),
        retain_retired: TimeDelta::days(1),
    };
    let store = KeyStore::new(conn.clone(), master_key.clone(), policy);
    store.maintain(clock.now()).await.expect("keys");
    let ring = store.load(clock.now()).await.expect("ring");
    let db = Db::new(conn);
    let outbox_dir = tempfile::tempdir().expect("outbox folder");
    let mail = MailSettings {
        from: "Latchkey <no-reply@example.test>".parse().expect("sender"),
        transport: MailTransport::new("", outbox_dir.path().to_owned()).expect("file transport"),
    };
    let ground = Ground {
        db: db.clone(),
        keys: Arc::new(ArcSwap::from_pointee(ring)),
        outbox: Outbox::new(db, master_key.clone(), mail, clock.clone()),
        master_key,
        clock,
    };
    let state = app::build(&settings, ground).expect("state");
    (state, outbox_dir)
}

/// Sends `request` from a client at 192.0.2.1 and returns the response.
async fn send(app: &Router, mut request: Request<Body>) -> Response<Body> {
    request
        .extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(([192, 0, 2, 1], 50_000))));
    app.clone().oneshot(request).await.expect("infallible")
}

async fn get(app: &Router, path: &str) -> Response<Body> {
    send(
        app,
        Request::get(path).body(Body::empty()).expect("request"),
    )
    .await
}

async fn text(response: Response<Body>) -> String {
    let bytes = to_bytes(response.into_body(), 1 << 20).await.expect("body");
    String::from_utf8(bytes.to_vec()).expect("utf-8")
}

async fn json(response: Response<Body>) -> serde_json::Value {
    serde_json::from_str(&text(response).await).expect("json")
}

#[tokio::test]
async fn the_jwks_carries_a_short_max_age_and_revalidates_with_its_etag() {
    let (app, _outbox) = provider("http://127.0.0.1:8080").await;
    let first = get(&app, "/.well-known/jwks.json").await;
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(
        first.headers()[header::CONTENT_TYPE],
        "application/jwk-set+json"
    );
    assert_eq!(first.headers()[header::CACHE_CONTROL], "public, max-age=90");
    let etag = first.headers()[header::ETAG].clone();
    let body = json(first).await;
    let keys = body["keys"].as_array().expect("keys");
    assert!(!keys.is_empty());
    for key in keys {
        assert_eq!(key["use"], "sig");
        assert!(key["alg"] == "ES256" || key["alg"] == "RS256", "{key}");
        assert!(
            key.get("d").is_none() && key.get("p").is_none(),
            "no private parameter is ever published: {key}"
        );
    }

    let revalidate = |tag| {
        Request::get("/.well-known/jwks.json")
            .header(header::IF_NONE_MATCH, tag)
            .body(Body::empty())
            .expect("request")
    };
    let revalidated = send(&app, revalidate(etag.clone())).await;
    assert_eq!(revalidated.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(revalidated.headers()[header::ETAG], etag);
    assert!(text(revalidated).await.is_empty());
    let other = send(&app, revalidate("\"other\"".parse().expect("tag"))).await;
    assert_eq!(other.status(), StatusCode::OK);
}

#[tokio::test]
async fn every_response_has_security_headers_and_a_request_id() {
    let (app, _outbox) = provider("http://127.0.0.1:8080").await;
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/jwks.json",
        "/authorize",
        "/login",
        "/healthz",
        "/no-such-page",
    ] {
        let response = get(&app, path).await;
        let headers = response.headers();
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["referrer-policy"], "same-origin", "{path}");
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
        let csp = headers["content-security-policy"].to_str().expect("ascii");
        assert!(
            csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
            "{path}: {csp}"
        );
        assert!(!headers["x-request-id"].is_empty(), "{path}");
        assert!(
            headers.get("strict-transport-security").is_none(),
            "no HSTS on a plain-http issuer"
        );
    }
    let traced = send(
        &app,
        Request::get("/healthz")
            .header("x-request-id", "trace-me-123")
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(
        traced.headers()["x-request-id"],
        "trace-me-123",
        "a caller's request id is kept"
    );
}

#[tokio::test]
async fn an_unknown_address_gets_a_page_that_says_so() {
    let (app, _outbox) = provider("http://127.0.0.1:8080").await;
    let missing = get(&app, "/no-such-page").await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert!(
        missing.headers()[header::CONTENT_TYPE]
            .to_str()
            .expect("ascii")
            .starts_with("text/html")
    );
    assert!(
        text(missing)
            .await
            .contains("There is nothing at this address")
    );
}

#[tokio::test]
async fn an_https_issuer_gets_strict_transport_security_and_is_published_as_configured() {
    let (app, _outbox) = provider("https://id.example.test").await;
    let response = get(&app, "/healthz").await;
    assert!(
        response.headers()["strict-transport-security"]
            .to_str()
            .expect("ascii")
            .starts_with("max-age=")
    );
    let metadata = json(get(&app, "/.well-known/openid-configuration").await).await;
    assert_eq!(metadata["issuer"], "https://id.example.test");
    assert_eq!(
        metadata["jwks_uri"],
        "https://id.example.test/.well-known/jwks.json"
    );
}

#[tokio::test]
async fn discovery_names_only_endpoints_that_answer() {
    let issuer = "http://127.0.0.1:8080";
    let (app, _outbox) = provider(issuer).await;
    let metadata = json(get(&app, "/.well-known/openid-configuration").await).await;
    assert_eq!(metadata["issuer"], issuer);
    assert_eq!(metadata["code_challenge_methods_supported"][0], "S256");
    assert_eq!(
        metadata["authorization_response_iss_parameter_supported"],
        true
    );
    let mut checked = 0;
    for (key, value) in metadata.as_object().expect("object") {
        if key.ends_with("_endpoint") || key == "jwks_uri" {
            let url = value.as_str().expect("url");
            let path = url
                .strip_prefix(issuer)
                .expect("an endpoint of this issuer");
            let status = get(&app, path).await.status();
            assert_ne!(
                status,
                StatusCode::NOT_FOUND,
                "{key} = {url} is published but not served"
            );
            checked += 1;
        }
    }
    assert!(checked >= 6, "only {checked} endpoints published");
}

#[tokio::test]
async fn the_authorization_endpoint_never_redirects_for_an_unknown_client() {
    let (app, _outbox) = provider("http://127.0.0.1:8080").await;
    let response = get(
        &app,
        "/authorize?client_id=unknown&redirect_uri=https%3A%2F%2Fevil.example%2Fcb&response_type=code&scope=openid",
    )
    .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(
        response.headers().get(header::LOCATION).is_none(),
        "must not redirect to an unverified URI"
    );
    let page = text(response).await;
    assert!(page.contains("is not registered"), "{page}");
    assert!(
        !page.contains("evil.example"),
        "the unverified redirect URI is not echoed"
    );
}

#[tokio::test]
async fn the_token_endpoint_answers_an_unknown_client_with_invalid_client() {
    let (app, _outbox) = provider("http://127.0.0.1:8080").await;
    let request = |auth: Option<&str>| {
        let builder = Request::builder()
            .method(Method::POST)
            .uri("/token")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        let builder = match auth {
            Some(auth) => builder.header(header::AUTHORIZATION, auth),
            None => builder,
        };
        builder
            .body(Body::from("grant_type=client_credentials"))
            .expect("request")
    };
    // RFC 6749 §5.2: 401 with a challenge for the scheme the client tried.
    let wrong = send(&app, request(Some("Basic bm9ib2R5OnNlY3JldA=="))).await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(
        wrong.headers()[header::WWW_AUTHENTICATE]
            .to_str()
            .expect("ascii")
            .starts_with("Basic")
    );
    assert_eq!(wrong.headers()[header::CACHE_CONTROL], "no-store");
    assert_eq!(json(wrong).await["error"], "invalid_client");

    let anonymous = send(&app, request(None)).await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(json(anonymous).await["error"], "invalid_client");
}

#[tokio::test]
async fn a_form_posted_from_another_site_is_refused() {
    let (app, _outbox) = provider("http://127.0.0.1:8080").await;
    let response = send(
        &app,
        Request::post("/login")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header("sec-fetch-site", "cross-site")
            .header(header::ORIGIN, "https://evil.example")
            .body(Body::from("email=ann%40example.com&csrf=x"))
            .expect("request"),
    )
    .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(text(response).await.contains("expired"));
}

/// Collects what the provider logs while `during` runs, as text.
async fn logs_of<F: std::future::Future>(during: F) -> String {
    #[derive(Clone, Default)]
    struct Buffer(Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            if let Ok(mut held) = self.0.lock() {
                held.extend_from_slice(bytes);
            }
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _default = tracing::subscriber::set_default(subscriber);
    during.await;
    let held = buffer.0.lock().map(|b| b.clone()).unwrap_or_default();
    String::from_utf8_lossy(&held).into_owned()
}

#[tokio::test]
async fn a_join_links_token_never_reaches_the_log() {
    let (app, _outbox) = provider("http://127.0.0.1:8080").await;
    let token = "j0inT0kenThatMustNotBeLogged";
    let logs = logs_of(async {
        // A form refused by the CSRF check is logged, inside the request's span.
        let refused = send(
            &app,
            Request::post(format!("/join/{token}"))
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header("sec-fetch-site", "cross-site")
                .body(Body::from("email=ann%40example.com"))
                .expect("request"),
        )
        .await;
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
        get(&app, &format!("/join/{token}")).await;
    })
    .await;
    assert!(logs.contains("/join/{token}"), "{logs}");
    assert!(!logs.contains(token), "{logs}");
}

#[tokio::test]
async fn metrics_are_for_this_machine_or_the_bearer_of_the_token() {
    let local = |token: Option<&str>| {
        let mut request = Request::get("/metrics")
            .body(Body::empty())
            .expect("request");
        request
            .extensions_mut()
            .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 50_000))));
        if let Some(token) = token {
            request.headers_mut().insert(
                header::AUTHORIZATION,
                format!("Bearer {token}").parse().expect("header"),
            );
        }
        request
    };
    let (app, _outbox) = provider("http://127.0.0.1:8080").await;
    assert_eq!(get(&app, "/metrics").await.status(), StatusCode::NOT_FOUND);
    let answered = app.clone().oneshot(local(None)).await.expect("infallible");
    assert_eq!(answered.status(), StatusCode::OK);
    // A proxy on this machine relaying someone else's request is not this machine.
    let mut relayed = local(None);
    relayed
        .headers_mut()
        .insert("x-forwarded-for", "203.0.113.9".parse().expect("header"));
    let relayed = app.clone().oneshot(relayed).await.expect("infallible");
    assert_eq!(relayed.status(), StatusCode::NOT_FOUND);

    let token = "0123456789abcdef0123";
    let (state, _outbox) = state_with("http://127.0.0.1:8080", |c| {
        c.metrics_token = Some(token.into())
    })
    .await;
    let app = latchkey_idp::web::router(state);
    let bearer = |t: &str| {
        Request::get("/metrics")
            .header(header::AUTHORIZATION, format!("Bearer {t}"))
            .body(Body::empty())
            .expect("request")
    };
    assert_eq!(send(&app, bearer(token)).await.status(), StatusCode::OK);
    assert_eq!(
        send(&app, bearer("wrong-token-wrong-token")).await.status(),
        StatusCode::NOT_FOUND
    );
    let unauthenticated_local = app.clone().oneshot(local(None)).await.expect("infallible");
    assert_eq!(
        unauthenticated_local.status(),
        StatusCode::NOT_FOUND,
        "the token rules"
    );
}

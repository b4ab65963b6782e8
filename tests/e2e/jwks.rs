//! The JWKS is served from memory with caching headers, and every response carries the
//! security headers and a request id.

use reqwest::StatusCode;
use reqwest::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH};

use crate::harness::{TestApp, TestDb, config, master_key};

#[tokio::test]
async fn the_jwks_carries_a_short_max_age_and_revalidates_with_its_etag() {
    let db = TestDb::sqlite();
    let mut cfg = config(&db, &master_key());
    cfg.keys.jwks_cache = latchkey_server::duration::Ttl::parse("90s").unwrap();
    let app = TestApp::spawn(cfg).await;

    let first = app.get("/.well-known/jwks.json").await;
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(first.headers()[CONTENT_TYPE], "application/jwk-set+json");
    assert_eq!(first.headers()[CACHE_CONTROL], "public, max-age=90");
    let etag = first.headers()[ETAG].to_str().unwrap().to_owned();
    let body: serde_json::Value = first.json().await.unwrap();
    for key in body["keys"].as_array().unwrap() {
        assert_eq!(key["use"], "sig");
        assert!(key["alg"] == "ES256" || key["alg"] == "RS256", "{key}");
        assert!(
            key.get("d").is_none() && key.get("p").is_none(),
            "no private parameter is ever published: {key}"
        );
    }

    let revalidated = app
        .http
        .get(app.url("/.well-known/jwks.json"))
        .header(IF_NONE_MATCH, &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(revalidated.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(revalidated.headers()[ETAG], etag.as_str());
    assert!(revalidated.bytes().await.unwrap().is_empty());

    let stale = app
        .http
        .get(app.url("/.well-known/jwks.json"))
        .header(IF_NONE_MATCH, "\"other\"")
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), StatusCode::OK);
    app.stop().await;
}

#[tokio::test]
async fn every_response_has_security_headers_and_a_request_id() {
    let db = TestDb::sqlite();
    let app = TestApp::spawn(config(&db, &master_key())).await;
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/jwks.json",
        "/authorize",
        "/healthz",
        "/no-such-page",
    ] {
        let response = app.get(path).await;
        let headers = response.headers();
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["referrer-policy"], "same-origin", "{path}");
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
        let csp = headers["content-security-policy"].to_str().unwrap();
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
    let traced = app
        .http
        .get(app.url("/healthz"))
        .header("x-request-id", "trace-me-123")
        .send()
        .await
        .unwrap();
    assert_eq!(
        traced.headers()["x-request-id"],
        "trace-me-123",
        "a caller's request id is kept"
    );

    let missing = app.get("/no-such-page").await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert!(
        missing
            .text()
            .await
            .unwrap()
            .contains("There is nothing at this address")
    );
    app.stop().await;
}

#[tokio::test]
async fn an_https_issuer_gets_strict_transport_security() {
    let db = TestDb::sqlite();
    let mut cfg = config(&db, &master_key());
    cfg.issuer = "https://id.example.test".into();
    let app = TestApp::spawn(cfg).await;
    let response = app.get("/healthz").await;
    assert!(
        response.headers()["strict-transport-security"]
            .to_str()
            .unwrap()
            .starts_with("max-age=")
    );
    let metadata: serde_json::Value = app
        .get("/.well-known/openid-configuration")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        metadata["issuer"], "https://id.example.test",
        "the issuer is published exactly as configured"
    );
    assert_eq!(
        metadata["jwks_uri"],
        "https://id.example.test/.well-known/jwks.json"
    );
    app.stop().await;
}

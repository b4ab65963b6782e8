//! Clients that prove themselves with a signed JWT (`private_key_jwt`, RFC 7523 §2.2) and
//! public clients that have nothing to prove but must use PKCE.

use std::sync::{Arc, Mutex};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use chrono::Utc;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::harness::{TestApp, TestDb, config, latchkey, master_key, stderr, stdout, write_file};
use crate::on_both_databases;

/// A P-256 key of the client's, with its public JWK.
pub(crate) struct ClientKey {
    pub(crate) kid: String,
    pub(crate) encoding: EncodingKey,
    pub(crate) jwk: Jwk,
}

impl ClientKey {
    pub(crate) fn generate(kid: &str) -> Self {
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .expect("generate");
        let encoding = EncodingKey::from_ec_der(pkcs8.as_ref());
        let mut jwk = Jwk::from_encoding_key(&encoding, Algorithm::ES256).expect("jwk");
        jwk.common.key_id = Some(kid.to_owned());
        Self {
            kid: kid.to_owned(),
            encoding,
            jwk,
        }
    }

    pub(crate) fn assertion(&self, alg: Algorithm, claims: &Value) -> String {
        let mut header = Header::new(alg);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).expect("sign")
    }
}

/// Serves a JWKS over HTTP on loopback, as a client's `jwks_uri`.
pub(crate) async fn serve_jwks(set: Arc<Mutex<JwkSet>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = axum::Router::new().route(
        "/jwks.json",
        axum::routing::get(move || {
            let set = set.lock().expect("lock").clone();
            async move { axum::Json(set) }
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}/jwks.json")
}

fn cli(db: &TestDb, app: &TestApp, args: &[&str]) -> Value {
    let env = [
        ("LATCHKEY_DATABASE_URL", db.url.as_str()),
        ("LATCHKEY_ISSUER", app.base_url.as_str()),
    ];
    let output = latchkey(db.dir.path(), &env, args);
    assert!(output.status.success(), "{args:?}: {}", stderr(&output));
    serde_json::from_str(&stdout(&output)).expect("json")
}

/// Registers a machine client that proves itself with keys published at `jwks_uri`.
fn machine_with_keys_at(db: &TestDb, app: &TestApp, name: &str, jwks_uri: &str) -> Value {
    machine_with_keys(db, app, name, ("--jwks-uri", jwks_uri))
}

/// Registers a machine client that proves itself with keys given by `keys` (a flag and its
/// value: `--jwks-uri URI` or `--jwks-file FILE`).
fn machine_with_keys(db: &TestDb, app: &TestApp, name: &str, keys: (&str, &str)) -> Value {
    cli(
        db,
        app,
        &[
            "client",
            "create",
            "--json",
            "--name",
            name,
            "--grant-type",
            "client_credentials",
            "--scope",
            "api",
            "--auth-method",
            "private_key_jwt",
            keys.0,
            keys.1,
        ],
    )
}

async fn token_with_assertion(app: &TestApp, assertion: &str) -> (StatusCode, Value) {
    let response = app
        .http
        .post(app.url("/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", assertion),
        ])
        .send()
        .await
        .expect("token");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn clients_sign_their_own_assertions(db: TestDb) {
    let app = TestApp::spawn(config(&db, &master_key())).await;
    let key = ClientKey::generate("client-key-1");
    let jwks_uri = serve_jwks(Arc::new(Mutex::new(JwkSet {
        keys: vec![key.jwk.clone()],
    })))
    .await;
    let remote = machine_with_keys_at(&db, &app, "Agent SDK", &jwks_uri);
    assert!(
        remote["client_secret"].is_null(),
        "no secret for private_key_jwt"
    );
    let client_id = remote["client_id"].as_str().unwrap().to_owned();
    let now = Utc::now().timestamp();
    let claims = |aud: &str, exp: i64, jti: &str| json!({ "iss": client_id, "sub": client_id, "aud": aud, "exp": exp, "iat": now, "jti": jti });
    let token_endpoint = app.url("/token");
    let issuer = app.base_url.clone();

    // Accepted with the issuer as the one audience, or the token endpoint (OpenID Connect Core
    // §9, RFC 9126 §2), as libraries sign it.
    let first = key.assertion(Algorithm::ES256, &claims(&issuer, now + 60, "jti-1"));
    let (status, body) = token_with_assertion(&app, &first).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["scope"], "api");
    let for_endpoint = key.assertion(
        Algorithm::ES256,
        &claims(&token_endpoint, now + 60, "jti-te"),
    );
    let (status, body) = token_with_assertion(&app, &for_endpoint).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Not a list, another server's token endpoint, the authorization endpoint, nor another
    // endpoint's URL: each says what aud must be.
    for (what, aud) in [
        ("a list", json!([issuer, "https://elsewhere.example"])),
        ("a list of the token endpoint", json!([token_endpoint])),
        (
            "another server's token endpoint",
            json!("https://elsewhere.example/token"),
        ),
        ("the authorization endpoint", json!(app.url("/authorize"))),
        ("the introspection endpoint", json!(app.url("/introspect"))),
    ] {
        let mut listed = claims(&issuer, now + 60, "jti-2");
        listed["aud"] = aud;
        let (status, body) =
            token_with_assertion(&app, &key.assertion(Algorithm::ES256, &listed)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}: {body}");
        assert_eq!(body["error"], "invalid_client", "{what}");
        let said = body["error_description"].as_str().unwrap_or_default();
        assert!(
            said.contains("aud must be one string") && said.contains(&token_endpoint),
            "{what}: {body}"
        );
    }

    // Refused: a replay, another audience, an expired one, a far-future one, no jti, a
    // forged signature, HMAC with the public key (alg confusion), and alg none.
    let other_key = ClientKey::generate("client-key-1");
    let public_key_bytes = serde_json::to_vec(&key.jwk).unwrap();
    let hmac = jsonwebtoken::encode(
        &Header {
            kid: Some(key.kid.clone()),
            ..Header::new(Algorithm::HS256)
        },
        &claims(&issuer, now + 60, "jti-hs"),
        &EncodingKey::from_secret(&public_key_bytes),
    )
    .unwrap();
    let unsigned = {
        use base64::Engine;
        let b64 = |v: &Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
        };
        format!(
            "{}.{}.",
            b64(&json!({"alg": "none", "kid": key.kid})),
            b64(&claims(&issuer, now + 60, "jti-none"))
        )
    };
    for (what, assertion, expect) in [
        ("a replay", first.clone(), "replay"),
        (
            "another audience",
            key.assertion(
                Algorithm::ES256,
                &claims("https://elsewhere.example/token", now + 60, "jti-3"),
            ),
            "aud",
        ),
        (
            "an expired one",
            key.assertion(Algorithm::ES256, &claims(&issuer, now - 120, "jti-4")),
            "expired",
        ),
        (
            "one valid for days",
            key.assertion(Algorithm::ES256, &claims(&issuer, now + 86_400, "jti-5")),
            "exp",
        ),
        (
            "a forged one",
            other_key.assertion(Algorithm::ES256, &claims(&issuer, now + 60, "jti-6")),
            "signature",
        ),
        ("HMAC with the public key", hmac, "algorithm"),
        ("alg none", unsigned, "algorithm"),
    ] {
        let (status, body) = token_with_assertion(&app, &assertion).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}: {body}");
        assert_eq!(body["error"], "invalid_client", "{what}");
        assert!(
            body["error_description"].as_str().unwrap().contains(expect),
            "{what}: {body}"
        );
    }
    let no_jti = key.assertion(
        Algorithm::ES256,
        &json!({ "iss": client_id, "sub": client_id, "aud": issuer, "iat": now, "exp": now + 60 }),
    );
    assert_eq!(
        token_with_assertion(&app, &no_jti).await.0,
        StatusCode::UNAUTHORIZED
    );
    // iat is required (draft-ietf-oauth-rfc7523bis), and nbf is honoured (RFC 7523 §3).
    let no_iat = key.assertion(
        Algorithm::ES256,
        &json!({ "iss": client_id, "sub": client_id, "aud": issuer, "exp": now + 60, "jti": "jti-no-iat" }),
    );
    let (status, body) = token_with_assertion(&app, &no_iat).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        body["error_description"].as_str().unwrap().contains("iat"),
        "{body}"
    );
    let early = key.assertion(
        Algorithm::ES256,
        &json!({ "iss": client_id, "sub": client_id, "aud": issuer, "iat": now,
                 "nbf": now + 600, "exp": now + 900, "jti": "jti-early" }),
    );
    let (status, body) = token_with_assertion(&app, &early).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("not valid yet"),
        "{body}"
    );

    // Keys can also be registered inline, from a file.
    let inline_key = ClientKey::generate("inline-1");
    let file = write_file(
        db.dir.path(),
        "jwks.json",
        &serde_json::to_string(&JwkSet {
            keys: vec![inline_key.jwk.clone()],
        })
        .unwrap(),
    );
    let inline = machine_with_keys(&db, &app, "Inline", ("--jwks-file", file.to_str().unwrap()));
    let inline_id = inline["client_id"].as_str().unwrap();
    let assertion = inline_key.assertion(
        Algorithm::ES256,
        &json!({ "iss": inline_id, "sub": inline_id, "aud": issuer, "iat": now, "exp": now + 60, "jti": "inline-jti" }),
    );
    assert_eq!(
        token_with_assertion(&app, &assertion).await.0,
        StatusCode::OK
    );
    // The first client's key does not prove the second client.
    let crossed = key.assertion(
        Algorithm::ES256,
        &json!({ "iss": inline_id, "sub": inline_id, "aud": issuer, "exp": now + 60, "jti": "crossed" }),
    );
    assert_eq!(
        token_with_assertion(&app, &crossed).await.0,
        StatusCode::UNAUTHORIZED
    );
}
on_both_databases!(clients_sign_their_own_assertions);

async fn public_clients_must_use_pkce_and_may_use_any_loopback_port(db: TestDb) {
    let app = TestApp::spawn(config(&db, &master_key())).await;
    let public = cli(
        &db,
        &app,
        &[
            "client",
            "create",
            "--json",
            "--name",
            "Desktop app",
            "--public",
            "--redirect-uri",
            "http://127.0.0.1/callback",
        ],
    );
    let id = public["client_id"].as_str().unwrap();
    let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    let authorize = |redirect: &str, pkce: bool| {
        let mut url = format!(
            "/authorize?client_id={id}&response_type=code&scope=openid&state=s1&redirect_uri={}",
            url::form_urlencoded::byte_serialize(redirect.as_bytes()).collect::<String>()
        );
        if pkce {
            url.push_str(&format!(
                "&code_challenge={challenge}&code_challenge_method=S256"
            ));
        }
        url
    };
    // RFC 8252 §7.3: a native app's loopback redirect may use any port.
    let response = app
        .get(&authorize("http://127.0.0.1:51004/callback", true))
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(
        response.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/login?request=")
    );
    // But only the port: another path is unknown, and never redirected to.
    let response = app
        .get(&authorize("http://127.0.0.1:51004/other", true))
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    // A public client without PKCE is refused at its redirect URI.
    let response = app
        .get(&authorize("http://127.0.0.1:51004/callback", false))
        .await;
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with("http://127.0.0.1:51004/callback?error=invalid_request"),
        "{location}"
    );
    // At the token endpoint it has no secret and no client_credentials.
    let response = app
        .http
        .post(app.url("/token"))
        .form(&[("grant_type", "client_credentials"), ("client_id", id)])
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "unauthorized_client", "{body}");
    // Nor may it introspect.
    let response = app
        .http
        .post(app.url("/introspect"))
        .form(&[("client_id", id), ("token", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "unauthorized_client");
}
on_both_databases!(public_clients_must_use_pkce_and_may_use_any_loopback_port);

/// Anyone who signs up can name a `jwks_uri`, so by default the provider fetches keys only
/// from public addresses over https: never from loopback, whether named by address or by a
/// name that resolves to it, and the caller learns only that the keys could not be fetched.
async fn keys_are_not_fetched_from_inside_addresses(db: TestDb) {
    let mut cfg = config(&db, &master_key());
    cfg.federation.allow_private_networks = false;
    let app = TestApp::spawn(cfg).await;
    let key = ClientKey::generate("inside-key");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let fetched = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = fetched.clone();
    let set = JwkSet {
        keys: vec![key.jwk.clone()],
    };
    let jwks = axum::Router::new().fallback(move || {
        counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let set = set.clone();
        async move { axum::Json(set) }
    });
    tokio::spawn(async move {
        let _ = axum::serve(listener, jwks).await;
    });
    for jwks_uri in [
        format!("http://127.0.0.1:{port}/jwks.json"),
        format!("https://localhost:{port}/jwks.json"),
    ] {
        let client = machine_with_keys_at(&db, &app, "Inside", &jwks_uri);
        let client_id = client["client_id"].as_str().expect("id").to_owned();
        let now = Utc::now().timestamp();
        let assertion = key.assertion(
            Algorithm::ES256,
            &json!({ "iss": client_id, "sub": client_id, "aud": app.base_url,
                     "exp": now + 60, "iat": now, "jti": format!("inside-{port}-{jwks_uri}") }),
        );
        let (status, body) = token_with_assertion(&app, &assertion).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{jwks_uri}: {body}");
        assert_eq!(body["error"], "invalid_client");
        let said = body["error_description"].as_str().unwrap_or_default();
        assert!(said.contains("could not be fetched"), "{jwks_uri}: {said}");
        assert!(
            !said.contains("127.0.0.1"),
            "nothing about the network: {said}"
        );
    }
    assert_eq!(
        fetched.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "no request reached the inside address"
    );
    app.stop().await;
}
on_both_databases!(keys_are_not_fetched_from_inside_addresses);

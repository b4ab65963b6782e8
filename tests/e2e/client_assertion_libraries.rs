//! `private_key_jwt` as libraries nobody here wrote sign it: Authlib (its OAuth2Session with
//! `PrivateKeyJWT`, run from `authlib-client/client.py`) and the `openidconnect` crate (which
//! has no assertion helper of its own: the relying party signs one whose audience is the token
//! endpoint it discovered, as OpenID Connect Core §9 says, and adds it to the crate's
//! requests). Each is accepted at the token, introspection and revocation endpoints; with
//! `oauth.client_assertion_audience = "issuer"` (FAPI 2.0) the endpoint forms are refused.

use std::path::{Path, PathBuf};

use chrono::Utc;
use jsonwebtoken::Algorithm;
use openidconnect::core::{CoreClient, CoreProviderMetadata};
use openidconnect::{AccessToken, AuthType, ClientId, IntrospectionUrl, IssuerUrl, Scope};
use serde_json::{Value, json};

use crate::client_auth::ClientKey;
use crate::harness::{TestApp, TestDb, config, master_key};
use crate::oidc::create_client;
use crate::on_both_databases;

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

fn python() -> PathBuf {
    match std::env::var("LATCHKEY_TEST_AUTHLIB_PYTHON") {
        Ok(python) if !python.is_empty() => PathBuf::from(python),
        _ => client_folder().join(".venv/bin/python"),
    }
}

fn client_folder() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/e2e/authlib-client")
}

/// Runs `client.py` with `args`, returning what it printed.
async fn authlib(args: &[&str]) -> String {
    let output = tokio::process::Command::new(python())
        .arg(client_folder().join("client.py"))
        .args(args)
        .output()
        .await
        .expect("the Authlib client runs (test.sh installs it into authlib-client/.venv)");
    assert!(
        output.status.success(),
        "client.py {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A machine client with Authlib's RSA key: its folder (holding `private.pem`) and its id.
async fn authlib_client(db: &TestDb, app: &TestApp) -> (tempfile::TempDir, String) {
    let keys = tempfile::tempdir().expect("tempdir");
    authlib(&["keygen", keys.path().to_str().unwrap()]).await;
    let jwks = keys.path().join("jwks.json");
    let created = create_client(
        db,
        app,
        &[
            "--name",
            "Authlib machine",
            "--grant-type",
            "client_credentials",
            "--scope",
            "api",
            "--auth-method",
            "private_key_jwt",
            "--jwks-file",
            jwks.to_str().unwrap(),
        ],
    );
    (keys, created["client_id"].as_str().unwrap().to_owned())
}

/// Authlib gets a token, introspects it and revokes it, signing each assertion's audience as
/// `audience` says (`token-endpoint` or `request-url`).
async fn authlib_run(app: &TestApp, keys: &Path, client_id: &str, audience: &str) -> Value {
    let key = keys.join("private.pem");
    let printed = authlib(&[
        "run",
        &app.base_url,
        client_id,
        key.to_str().unwrap(),
        audience,
    ])
    .await;
    serde_json::from_str(&printed).unwrap_or_else(|_| panic!("one JSON object: {printed}"))
}

async fn authlib_assertions_are_accepted_at_every_endpoint(db: TestDb) {
    let app = TestApp::spawn(config(&db, &master_key())).await;
    let (keys, client_id) = authlib_client(&db, &app).await;

    // As Authlib's documentation shows it (every assertion names the token endpoint), and with
    // no endpoint given (each names the URL it is sent to).
    for audience in ["token-endpoint", "request-url"] {
        let ran = authlib_run(&app, keys.path(), &client_id, audience).await;
        assert_eq!(ran["token"]["status"], 200, "{audience}: {ran}");
        assert_eq!(ran["token"]["body"]["scope"], "api", "{audience}: {ran}");
        assert_eq!(ran["introspection"]["status"], 200, "{audience}: {ran}");
        assert_eq!(
            ran["introspection"]["body"]["active"], true,
            "{audience}: {ran}"
        );
        assert_eq!(
            ran["introspection"]["body"]["client_id"], client_id,
            "{audience}"
        );
        assert_eq!(ran["revocation"]["status"], 200, "{audience}: {ran}");
    }
    app.stop().await;
}
on_both_databases!(authlib_assertions_are_accepted_at_every_endpoint);

async fn the_issuer_setting_refuses_what_authlib_signs_by_default(db: TestDb) {
    let mut cfg = config(&db, &master_key());
    cfg.oauth.client_assertion_audience = "issuer".into();
    let app = TestApp::spawn(cfg).await;
    let (keys, client_id) = authlib_client(&db, &app).await;

    let ran = authlib_run(&app, keys.path(), &client_id, "token-endpoint").await;
    let said = ran["token"]["body"].as_str().unwrap_or_default();
    assert!(ran["token"]["status"].is_null(), "refused: {ran}");
    assert!(said.contains("invalid_client"), "{said}");
    assert!(
        said.contains("alone"),
        "says the issuer alone is accepted: {said}"
    );
    app.stop().await;
}
on_both_databases!(the_issuer_setting_refuses_what_authlib_signs_by_default);

/// A machine client with a P-256 key the test holds, registered through the CLI.
fn machine(db: &TestDb, app: &TestApp, key: &ClientKey) -> String {
    let jwks = json!({ "keys": [key.jwk] }).to_string();
    let file = crate::harness::write_file(db.dir.path(), "machine-jwks.json", &jwks);
    let created = create_client(
        db,
        app,
        &[
            "--name",
            "Rust machine",
            "--grant-type",
            "client_credentials",
            "--scope",
            "api",
            "--auth-method",
            "private_key_jwt",
            "--jwks-file",
            file.to_str().unwrap(),
        ],
    );
    created["client_id"].as_str().unwrap().to_owned()
}

fn assertion(key: &ClientKey, client_id: &str, aud: &str) -> String {
    let now = Utc::now().timestamp();
    key.assertion(
        Algorithm::ES256,
        &json!({ "iss": client_id, "sub": client_id, "aud": aud, "iat": now,
                 "exp": now + 60, "jti": uuid::Uuid::new_v4().to_string() }),
    )
}

async fn openidconnect_requests_with_an_assertion_for_the_token_endpoint_are_accepted(db: TestDb) {
    let app = TestApp::spawn(config(&db, &master_key())).await;
    let key = ClientKey::generate("rp-key-1");
    let client_id = machine(&db, &app, &key);
    let http = openidconnect::reqwest::Client::builder()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(app.base_url.clone()).unwrap(), &http)
            .await
            .unwrap();
    let token_endpoint = metadata.token_endpoint().unwrap().to_string();
    // The crate's metadata has no introspection endpoint: read it from the same document.
    let discovery: Value = app
        .http
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let introspection = discovery["introspection_endpoint"].as_str().unwrap();
    let rp = CoreClient::from_provider_metadata(metadata, ClientId::new(client_id.clone()), None)
        .set_auth_type(AuthType::RequestBody)
        .set_introspection_url(IntrospectionUrl::new(introspection.to_owned()).unwrap());

    let token = rp
        .exchange_client_credentials()
        .unwrap()
        .add_scope(Scope::new("api".into()))
        .add_extra_param("client_assertion_type", ASSERTION_TYPE)
        .add_extra_param(
            "client_assertion",
            assertion(&key, &client_id, &token_endpoint),
        )
        .request_async(&http)
        .await
        .expect("a token for an assertion naming the token endpoint");
    use openidconnect::{OAuth2TokenResponse, TokenIntrospectionResponse};
    let access = AccessToken::new(token.access_token().secret().clone());
    // One audience for every endpoint: the same form of assertion introspects the token.
    let introspected = rp
        .introspect(&access)
        .add_extra_param("client_assertion_type", ASSERTION_TYPE)
        .add_extra_param(
            "client_assertion",
            assertion(&key, &client_id, &token_endpoint),
        )
        .request_async(&http)
        .await
        .expect("introspection with an assertion naming the token endpoint");
    assert!(introspected.active());
    app.stop().await;
}
on_both_databases!(openidconnect_requests_with_an_assertion_for_the_token_endpoint_are_accepted);

//! A relying party discovers the provider and verifies what it signs, with nothing hard-coded.

use chrono::{TimeDelta, Utc};
use latchkey_keys::SigningAlgorithm;
use openidconnect::core::{
    CoreIdToken, CoreIdTokenVerifier, CoreJwsSigningAlgorithm, CoreProviderMetadata,
};
use openidconnect::{ClientId, IssuerUrl, Nonce};

use crate::harness::{TestApp, TestDb, config, master_key};
use crate::on_both_databases;

async fn the_openidconnect_crate_discovers_the_provider_and_verifies_its_tokens(db: TestDb) {
    let app = TestApp::spawn(config(&db, &master_key())).await;
    let http = openidconnect::reqwest::Client::builder()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .expect("client");

    let metadata = CoreProviderMetadata::discover_async(
        IssuerUrl::new(app.base_url.clone()).expect("issuer"),
        &http,
    )
    .await
    .expect("discovery succeeds");

    assert_eq!(metadata.issuer().as_str(), app.base_url);
    assert_eq!(
        metadata.jwks_uri().as_str(),
        app.url("/.well-known/jwks.json")
    );
    assert_eq!(
        metadata.jwks().keys().len(),
        4,
        "an active and a next key for each of ES256 and RS256"
    );
    let algs: Vec<_> = metadata.id_token_signing_alg_values_supported().to_vec();
    assert!(algs.contains(&CoreJwsSigningAlgorithm::EcdsaP256Sha256));
    assert!(algs.contains(&CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256));

    // A token signed by the provider's active key verifies against the discovered JWKS, with
    // either algorithm; a relying party needs nothing but the issuer URL.
    for (alg, core_alg) in [
        (
            SigningAlgorithm::Es256,
            CoreJwsSigningAlgorithm::EcdsaP256Sha256,
        ),
        (
            SigningAlgorithm::Rs256,
            CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        ),
    ] {
        let now = Utc::now();
        let claims = serde_json::json!({
            "iss": app.base_url, "sub": "user-1", "aud": ["client-1"], "nonce": "n-0S6_WzA2Mj",
            "iat": now.timestamp(), "exp": (now + TimeDelta::minutes(5)).timestamp(),
        });
        let token = app.ring().sign(alg, "JWT", &claims, now).expect("sign");
        let id_token: CoreIdToken = token.parse().expect("parses as an ID token");
        let verifier = CoreIdTokenVerifier::new_public_client(
            ClientId::new("client-1".into()),
            metadata.issuer().clone(),
            metadata.jwks().clone(),
        )
        .set_allowed_algs(vec![core_alg.clone()]);
        let verified = id_token
            .claims(&verifier, &Nonce::new("n-0S6_WzA2Mj".into()))
            .expect("verifies");
        assert_eq!(verified.subject().as_str(), "user-1");

        let wrong_client = CoreIdTokenVerifier::new_public_client(
            ClientId::new("client-2".into()),
            metadata.issuer().clone(),
            metadata.jwks().clone(),
        )
        .set_allowed_algs(vec![core_alg]);
        assert!(
            id_token
                .claims(&wrong_client, &Nonce::new("n-0S6_WzA2Mj".into()))
                .is_err(),
            "wrong audience"
        );
    }
    app.stop().await;
}
on_both_databases!(the_openidconnect_crate_discovers_the_provider_and_verifies_its_tokens);

async fn discovery_names_only_endpoints_that_answer(db: TestDb) {
    let app = TestApp::spawn(config(&db, &master_key())).await;
    let metadata: serde_json::Value = app
        .get("/.well-known/openid-configuration")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(metadata["issuer"], app.base_url.as_str());
    for (key, value) in metadata.as_object().expect("object") {
        if key.ends_with("_endpoint") || key == "jwks_uri" {
            let url = value.as_str().expect("url");
            let status = app.http.get(url).send().await.expect("request").status();
            assert_ne!(
                status,
                reqwest::StatusCode::NOT_FOUND,
                "{key} = {url} is published but not served"
            );
        }
    }
    app.stop().await;
}
on_both_databases!(discovery_names_only_endpoints_that_answer);

#[tokio::test]
async fn the_authorization_endpoint_shows_an_error_page_and_never_redirects_for_an_unknown_client()
{
    let db = TestDb::sqlite();
    let app = TestApp::spawn(config(&db, &master_key())).await;
    let response = app
        .get("/authorize?client_id=unknown&redirect_uri=https%3A%2F%2Fevil.example%2Fcb&response_type=code&scope=openid")
        .await;
    assert_eq!(response.status(), reqwest::StatusCode::BAD_REQUEST);
    assert!(
        response.headers().get("location").is_none(),
        "must not redirect to an unverified URI"
    );
    let page = response.text().await.expect("body");
    assert!(page.contains("is not registered"), "{page}");
    assert!(
        !page.contains("evil.example"),
        "the unverified redirect URI is not echoed"
    );
    app.stop().await;
}

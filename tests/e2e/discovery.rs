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

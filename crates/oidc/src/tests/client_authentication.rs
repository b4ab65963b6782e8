//! Client authentication at the token, introspection and revocation endpoints: a confidential
//! client proves itself with its secret or its signed assertion, by the method it registered.

use super::fixture::Fixture;
use crate::{Endpoint, ErrorCode, Presented};

#[tokio::test]
async fn the_registered_secret_authenticates_the_client() {
    let f = Fixture::new().await;
    let app = f.client(|_| {}).await;

    let client = f
        .authenticate_basic(&app.client, app.secret.as_deref().unwrap())
        .await
        .unwrap();

    assert_eq!(client.id, app.client.id);
}

#[tokio::test]
async fn a_wrong_secret_is_refused() {
    let f = Fixture::new().await;
    let app = f.client(|_| {}).await;
    let other = f.client(|c| c.name = "Other".to_owned()).await;

    // Another client's real secret is as wrong as a made-up one.
    for wrong in [other.secret.as_deref().unwrap(), "not-the-secret", ""] {
        let refused = f.authenticate_basic(&app.client, wrong).await.unwrap_err();
        assert_eq!(refused.code, ErrorCode::InvalidClient, "{wrong:?}");
    }
}

#[tokio::test]
async fn a_confidential_client_cannot_pass_as_public_by_leaving_out_its_secret() {
    let f = Fixture::new().await;
    let app = f.client(|_| {}).await;
    let presented = Presented {
        client_id: Some(app.client.id.to_string()),
        ..Presented::default()
    };

    let refused = f
        .provider
        .authenticator()
        .authenticate(presented, Endpoint::Token, f.now)
        .await
        .unwrap_err();

    assert_eq!(refused.code, ErrorCode::InvalidClient);
}

//! `grant_type=client_credentials`: a client's token for itself, with only scopes it was
//! registered with, and never one about a person.

use super::fixture::Fixture;
use crate::{ErrorCode, GrantType};

/// A machine client registered with `reports:read reports:write`.
async fn machine(f: &Fixture) -> super::fixture::Registered {
    f.client(|c| {
        c.name = "Reports job".to_owned();
        c.redirect_uris.clear();
        c.grant_types = vec![GrantType::ClientCredentials];
        c.scopes = vec!["reports:read".to_owned(), "reports:write".to_owned()];
    })
    .await
}

#[tokio::test]
async fn without_a_scope_the_token_has_every_registered_scope() {
    let f = Fixture::new().await;
    let job = machine(&f).await;

    let token = f
        .token(&job.client, &[("grant_type", "client_credentials")], f.now)
        .await
        .unwrap();

    assert_eq!(token.scope, "reports:read reports:write");
    assert!(token.refresh_token.is_none() && token.id_token.is_none());
}

#[tokio::test]
async fn a_client_may_narrow_its_scopes() {
    let f = Fixture::new().await;
    let job = machine(&f).await;

    let form = [
        ("grant_type", "client_credentials"),
        ("scope", "reports:read"),
    ];
    let token = f.token(&job.client, &form, f.now).await.unwrap();

    assert_eq!(token.scope, "reports:read");
}

#[tokio::test]
async fn a_scope_the_client_was_not_registered_with_is_refused() {
    let f = Fixture::new().await;
    let job = machine(&f).await;

    let form = [
        ("grant_type", "client_credentials"),
        ("scope", "reports:read billing:read"),
    ];
    let refused = f.token(&job.client, &form, f.now).await.unwrap_err();

    assert_eq!(refused.code, ErrorCode::InvalidScope);
    assert!(refused.description.contains("billing:read"), "{refused:?}");
}

#[tokio::test]
async fn a_client_acting_for_itself_gets_no_scope_about_a_person() {
    let f = Fixture::new().await;
    // A client allowed both flows holds `openid` for sign-ins, not for its own tokens.
    let app = f
        .client(|c| {
            c.grant_types = vec![GrantType::AuthorizationCode, GrantType::ClientCredentials];
        })
        .await;

    let form = [("grant_type", "client_credentials"), ("scope", "openid")];
    let refused = f.token(&app.client, &form, f.now).await.unwrap_err();

    assert_eq!(refused.code, ErrorCode::InvalidScope);
}

#[tokio::test]
async fn a_client_not_registered_for_the_grant_is_refused() {
    let f = Fixture::new().await;
    let app = f.client(|_| {}).await;

    let refused = f
        .token(&app.client, &[("grant_type", "client_credentials")], f.now)
        .await
        .unwrap_err();

    assert_eq!(refused.code, ErrorCode::UnauthorizedClient);
}

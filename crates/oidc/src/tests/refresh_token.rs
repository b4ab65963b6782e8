//! `grant_type=refresh_token`: rotated on every use, a reused token revokes its family, and
//! a refresh may narrow the granted scopes but never widen them.

use chrono::TimeDelta;

use super::fixture::Fixture;
use crate::ErrorCode;
use crate::tokens::TokenResponse;

/// Bo's tokens from a code exchange, with `scope` asked for.
async fn first_tokens(f: &Fixture, client: &crate::Client, scope: &str) -> TokenResponse {
    let bo = f.signed_in(&f.bo).await;
    let code = f
        .code(client, &bo, |p| p.scope = Some(scope.to_owned()))
        .await;
    f.exchange(client, &code, f.now).await.unwrap()
}

#[tokio::test]
async fn a_refresh_token_is_rotated_on_use() {
    let f = Fixture::new().await;
    let app = f.client(|_| {}).await;
    let first = first_tokens(&f, &app.client, "openid offline_access").await;
    let old = first.refresh_token.unwrap();

    let next = f.refresh(&app.client, &old, None, f.now).await.unwrap();

    let new = next.refresh_token.expect("a new refresh token");
    assert_ne!(new, old);
    assert!(f.refresh(&app.client, &new, None, f.now).await.is_ok());
}

#[tokio::test]
async fn a_reused_refresh_token_revokes_its_whole_family() {
    let f = Fixture::new().await;
    let app = f.client(|_| {}).await;
    let first = first_tokens(&f, &app.client, "openid offline_access").await;
    let stolen = first.refresh_token.unwrap();
    let rotated = f.refresh(&app.client, &stolen, None, f.now).await.unwrap();

    let reuse = f
        .refresh(&app.client, &stolen, None, f.now)
        .await
        .unwrap_err();

    assert_eq!(reuse.code, ErrorCode::InvalidGrant);
    let successor = rotated.refresh_token.unwrap();
    let refused = f.refresh(&app.client, &successor, None, f.now).await;
    assert_eq!(refused.unwrap_err().code, ErrorCode::InvalidGrant);
    assert!(
        !f.accepted(&rotated.access_token, f.now).await,
        "the family's access tokens end too"
    );
}

#[tokio::test]
async fn a_refresh_may_narrow_the_granted_scopes() {
    let f = Fixture::new().await;
    let app = f.client(|_| {}).await;
    let first = first_tokens(&f, &app.client, "openid email offline_access").await;

    let narrowed = f
        .refresh(
            &app.client,
            &first.refresh_token.unwrap(),
            Some("email"),
            f.now,
        )
        .await
        .unwrap();

    assert_eq!(narrowed.scope, "email");
    assert!(narrowed.id_token.is_none(), "no openid, no ID token");
}

#[tokio::test]
async fn a_refresh_cannot_widen_the_granted_scopes() {
    let f = Fixture::new().await;
    let app = f.client(|_| {}).await;
    let first = first_tokens(&f, &app.client, "openid offline_access").await;
    let refresh = first.refresh_token.unwrap();

    // `profile` is the client's to ask for, but was not granted in this sign-in.
    let refused = f
        .refresh(&app.client, &refresh, Some("openid profile"), f.now)
        .await
        .unwrap_err();

    assert_eq!(refused.code, ErrorCode::InvalidScope);
    // Refused before rotating: the token still works.
    assert!(f.refresh(&app.client, &refresh, None, f.now).await.is_ok());
}

#[tokio::test]
async fn a_refresh_token_is_refused_to_another_client() {
    let f = Fixture::new().await;
    let app = f.client(|_| {}).await;
    let other = f.client(|c| c.name = "Other".to_owned()).await;
    let first = first_tokens(&f, &app.client, "openid offline_access").await;

    let refused = f
        .refresh(&other.client, &first.refresh_token.unwrap(), None, f.now)
        .await
        .unwrap_err();

    assert_eq!(refused.code, ErrorCode::InvalidGrant);
}

#[tokio::test]
async fn a_refresh_token_left_unused_for_a_day_is_refused() {
    let f = Fixture::new().await;
    let app = f.client(|_| {}).await;
    let first = first_tokens(&f, &app.client, "openid offline_access").await;

    let late = f.later(TimeDelta::days(1) + TimeDelta::seconds(1));
    let refused = f
        .refresh(&app.client, &first.refresh_token.unwrap(), None, late)
        .await
        .unwrap_err();

    assert_eq!(refused.code, ErrorCode::InvalidGrant);
    assert!(refused.description.contains("expired"), "{refused:?}");
}

#[tokio::test]
async fn without_offline_access_no_refresh_token_is_issued() {
    let f = Fixture::new().await;
    let app = f.client(|_| {}).await;

    let first = first_tokens(&f, &app.client, "openid").await;

    assert!(first.refresh_token.is_none());
}

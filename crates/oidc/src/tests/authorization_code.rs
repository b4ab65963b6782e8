//! `grant_type=authorization_code`: a code is spent once, by the client it was issued to,
//! with the redirect URI it was issued for, before it expires.

use chrono::TimeDelta;

use super::fixture::{Fixture, REDIRECT_URI, VERIFIER};
use crate::ErrorCode;

#[tokio::test]
async fn a_code_gives_an_id_token_an_access_token_and_a_refresh_token() {
    let f = Fixture::new().await;
    let app = f.client(|_| {}).await;
    let bo = f.signed_in(&f.bo).await;
    let code = f.code(&app.client, &bo, |_| {}).await;

    let tokens = f.exchange(&app.client, &code, f.now).await.unwrap();

    assert!(tokens.id_token.is_some(), "openid asks for an ID token");
    assert!(
        tokens.refresh_token.is_some(),
        "offline_access asks for one"
    );
    assert_eq!(tokens.scope, "openid offline_access");
    assert!(f.accepted(&tokens.access_token, f.now).await);
}

#[tokio::test]
async fn a_replayed_code_is_refused_and_revokes_what_it_gave() {
    let f = Fixture::new().await;
    let app = f.client(|_| {}).await;
    let bo = f.signed_in(&f.bo).await;
    let code = f.code(&app.client, &bo, |_| {}).await;
    let first = f.exchange(&app.client, &code, f.now).await.unwrap();

    let replay = f.exchange(&app.client, &code, f.now).await.unwrap_err();

    assert_eq!(replay.code, ErrorCode::InvalidGrant);
    assert!(
        !f.accepted(&first.access_token, f.now).await,
        "the first exchange's access token is revoked"
    );
    let refresh = first.refresh_token.unwrap();
    let refused = f.refresh(&app.client, &refresh, None, f.now).await;
    assert_eq!(refused.unwrap_err().code, ErrorCode::InvalidGrant);
}

#[tokio::test]
async fn a_code_past_its_minute_is_refused() {
    let f = Fixture::new().await;
    let app = f.client(|_| {}).await;
    let bo = f.signed_in(&f.bo).await;
    let code = f.code(&app.client, &bo, |_| {}).await;

    let late = f.later(TimeDelta::minutes(1) + TimeDelta::seconds(1));
    let refused = f.exchange(&app.client, &code, late).await.unwrap_err();

    assert_eq!(refused.code, ErrorCode::InvalidGrant);
    assert!(refused.description.contains("expired"), "{refused:?}");
}

#[tokio::test]
async fn a_code_is_refused_at_another_redirect_uri() {
    let f = Fixture::new().await;
    let app = f
        .client(|c| {
            c.redirect_uris
                .push("https://app.example.test/other".to_owned());
        })
        .await;
    let bo = f.signed_in(&f.bo).await;
    let code = f.code(&app.client, &bo, |_| {}).await;

    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", "https://app.example.test/other"),
        ("code_verifier", VERIFIER),
    ];
    let refused = f.token(&app.client, &form, f.now).await.unwrap_err();

    assert_eq!(refused.code, ErrorCode::InvalidGrant);
    // A wrong attempt does not burn the rightful client's code.
    assert!(f.exchange(&app.client, &code, f.now).await.is_ok());
}

#[tokio::test]
async fn a_code_is_refused_to_another_client() {
    let f = Fixture::new().await;
    let app = f.client(|_| {}).await;
    let other = f.client(|c| c.name = "Other".to_owned()).await;
    let bo = f.signed_in(&f.bo).await;
    let code = f.code(&app.client, &bo, |_| {}).await;

    let refused = f.exchange(&other.client, &code, f.now).await.unwrap_err();

    assert_eq!(refused.code, ErrorCode::InvalidGrant);
    assert!(
        refused.description.contains("another client"),
        "{refused:?}"
    );
}

#[tokio::test]
async fn a_redirect_uri_must_match_a_registered_one_exactly() {
    let f = Fixture::new().await;
    let app = f.client(|_| {}).await;
    let bo = f.signed_in(&f.bo).await;

    for near_miss in [
        "https://app.example.test/callback/",
        "https://app.example.test/callback?x=1",
        "https://APP.example.test/callback",
        "http://app.example.test/callback",
    ] {
        let params = f.params(&app.client, |p| p.redirect_uri = Some(near_miss.to_owned()));
        let refused = f.start(params, Some(&bo)).await;
        // Never redirected: an unregistered address is not trusted with even an error.
        assert!(
            matches!(refused, Err(crate::AuthorizeError::Page(..))),
            "{near_miss}: {refused:?}"
        );
    }
    let params = f.params(&app.client, |p| {
        p.redirect_uri = Some(REDIRECT_URI.to_owned())
    });
    assert!(f.start(params, Some(&bo)).await.is_ok());
}

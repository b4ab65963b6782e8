//! The authorization request before its code: who must sign in (nobody, `prompt=login`,
//! `max_age`, `prompt=none`), the request kept meanwhile, consent, and the answer at the
//! client's redirect URI naming the issuer (RFC 9207).

use chrono::TimeDelta;
use latchkey_core::RequestId;
use latchkey_login::Opening;

use super::fixture::{
    Fixture, REDIRECT_URI, query_param, redirect_error, redirected, refused_to_client,
    sign_in_asked,
};
use crate::{AuthorizeError, Next};

#[tokio::test]
async fn the_answer_names_the_issuer_and_returns_the_state() {
    let f = Fixture::new().await;
    let app = f.client(|_| {}).await;
    let bo = f.signed_in(&f.bo).await;

    let next = f.start(f.params(&app.client, |_| {}), Some(&bo)).await;

    let to = redirected(next.unwrap());
    assert!(to.starts_with(REDIRECT_URI), "{to}");
    assert_eq!(
        query_param(&to, "iss").as_deref(),
        Some("https://id.example.test")
    );
    assert_eq!(query_param(&to, "state").as_deref(), Some("xyz"));
}

#[tokio::test]
async fn an_error_answer_names_the_issuer_too() {
    let f = Fixture::new().await;
    let app = f.client(|_| {}).await;
    let params = f.params(&app.client, |p| p.prompt = Some("none".to_owned()));

    let to = redirected(f.start(params, None).await.unwrap());

    assert_eq!(
        query_param(&to, "iss").as_deref(),
        Some("https://id.example.test")
    );
    assert_eq!(query_param(&to, "state").as_deref(), Some("xyz"));
}

#[tokio::test]
async fn prompt_none_with_nobody_signed_in_is_login_required() {
    let f = Fixture::new().await;
    let app = f.client(|_| {}).await;
    let params = f.params(&app.client, |p| p.prompt = Some("none".to_owned()));

    let next = f.start(params, None).await.unwrap();

    assert_eq!(redirect_error(next), "login_required");
}

#[tokio::test]
async fn nobody_signed_in_is_sent_to_sign_in_and_the_request_resumes_after() {
    let f = Fixture::new().await;
    let app = f.client(|_| {}).await;
    let params = f.params(&app.client, |p| {
        p.login_hint = Some("bo@acme.test".to_owned())
    });

    let next = f.start(params, None).await.unwrap();
    let Next::SignIn {
        request_id,
        login_hint,
    } = next
    else {
        panic!("expected to sign in, got {next:?}");
    };
    assert_eq!(login_hint.as_deref(), Some("bo@acme.test"));

    let soon = f.later(TimeDelta::minutes(2));
    let bo = f.signed_in_at(&f.bo, Opening::default(), soon).await;
    let id = RequestId::from(request_id.as_str());
    let to = redirected(f.provider.resume(&id, Some(&bo), soon).await.unwrap());
    assert!(query_param(&to, "code").is_some(), "{to}");
}

#[tokio::test]
async fn a_kept_request_gives_one_code_only() {
    let f = Fixture::new().await;
    let app = f.client(|_| {}).await;
    let id = sign_in_asked(f.start(f.params(&app.client, |_| {}), None).await.unwrap());
    let id = RequestId::from(id.as_str());
    let bo = f.signed_in(&f.bo).await;
    redirected(f.provider.resume(&id, Some(&bo), f.now).await.unwrap());

    let again = f.provider.resume(&id, Some(&bo), f.now).await;

    assert!(matches!(again, Err(AuthorizeError::Page(..))), "{again:?}");
}

#[tokio::test]
async fn a_kept_request_ends_after_half_an_hour() {
    let f = Fixture::new().await;
    let app = f.client(|_| {}).await;
    let id = sign_in_asked(f.start(f.params(&app.client, |_| {}), None).await.unwrap());
    let late = f.later(TimeDelta::minutes(30) + TimeDelta::seconds(1));
    let bo = f.signed_in_at(&f.bo, Opening::default(), late).await;

    let resumed = f
        .provider
        .resume(&RequestId::from(id.as_str()), Some(&bo), late)
        .await;

    assert!(
        matches!(resumed, Err(AuthorizeError::Page(..))),
        "{resumed:?}"
    );
}

#[tokio::test]
async fn prompt_login_asks_a_person_signed_in_earlier_to_sign_in_again() {
    let f = Fixture::new().await;
    let app = f.client(|_| {}).await;
    let earlier = f
        .signed_in_at(&f.bo, Opening::default(), f.later(-TimeDelta::minutes(5)))
        .await;
    let params = f.params(&app.client, |p| p.prompt = Some("login".to_owned()));

    let id = sign_in_asked(f.start(params, Some(&earlier)).await.unwrap());

    // The earlier session cannot answer the kept request either; a new sign-in can.
    let id = RequestId::from(id.as_str());
    let still = f.provider.resume(&id, Some(&earlier), f.now).await.unwrap();
    sign_in_asked(still);
    let fresh = f.signed_in(&f.bo).await;
    let to = redirected(f.provider.resume(&id, Some(&fresh), f.now).await.unwrap());
    assert!(query_param(&to, "code").is_some(), "{to}");
}

#[tokio::test]
async fn max_age_asks_a_person_signed_in_too_long_ago_to_sign_in_again() {
    let f = Fixture::new().await;
    let app = f.client(|_| {}).await;
    let two_hours_ago = f
        .signed_in_at(&f.bo, Opening::default(), f.later(-TimeDelta::hours(2)))
        .await;

    let strict = f.params(&app.client, |p| p.max_age = Some("3600".to_owned()));
    sign_in_asked(f.start(strict, Some(&two_hours_ago)).await.unwrap());

    let lenient = f.params(&app.client, |p| p.max_age = Some("10800".to_owned()));
    let to = redirected(f.start(lenient, Some(&two_hours_ago)).await.unwrap());
    assert!(query_param(&to, "code").is_some(), "{to}");
}

#[tokio::test]
async fn prompt_none_cannot_be_combined_with_another_prompt() {
    let f = Fixture::new().await;
    let app = f.client(|_| {}).await;
    let bo = f.signed_in(&f.bo).await;
    let params = f.params(&app.client, |p| p.prompt = Some("none login".to_owned()));

    let next = f.start(params, Some(&bo)).await;

    assert_eq!(refused_to_client(next), crate::ErrorCode::InvalidRequest);
}

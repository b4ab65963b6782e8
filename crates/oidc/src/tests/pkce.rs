//! PKCE (RFC 7636): S256 only, required unless a confidential client opted out, and the
//! verifier checked at the token endpoint.

use super::fixture::{CHALLENGE, Fixture, OTHER_VERIFIER, REDIRECT_URI, refused_to_client};
use crate::ErrorCode;

#[tokio::test]
async fn a_request_must_carry_an_s256_challenge() {
    let f = Fixture::new().await;
    let public = f.client(|c| c.public = true).await;
    let bo = f.signed_in(&f.bo).await;
    // None where PKCE is required (a public client), and `plain` anywhere.
    for method in [None, Some("plain")] {
        let params = f.params(&public.client, |p| {
            p.code_challenge = method.map(|_| CHALLENGE.to_owned());
            p.code_challenge_method = method.map(str::to_owned);
        });
        let refused = f.start(params, Some(&bo)).await;
        assert_eq!(
            refused_to_client(refused),
            ErrorCode::InvalidRequest,
            "{method:?}"
        );
    }
}

#[tokio::test]
async fn a_wrong_or_missing_verifier_is_refused_and_leaves_the_code_unspent() {
    let f = Fixture::new().await;
    let app = f.client(|_| {}).await;
    let bo = f.signed_in(&f.bo).await;
    let code = f.code(&app.client, &bo, |_| {}).await;
    let form = |verifier: Option<&'static str>| {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT_URI),
        ];
        form.extend(verifier.map(|v| ("code_verifier", v)));
        form
    };

    let wrong = f
        .token(&app.client, &form(Some(OTHER_VERIFIER)), f.now)
        .await
        .unwrap_err();
    let missing = f.token(&app.client, &form(None), f.now).await.unwrap_err();

    assert_eq!(wrong.code, ErrorCode::InvalidGrant);
    assert!(wrong.description.contains("code_verifier"), "{wrong:?}");
    assert_eq!(missing.code, ErrorCode::InvalidGrant);
    assert!(f.exchange(&app.client, &code, f.now).await.is_ok());
}

#[tokio::test]
async fn a_verifier_without_a_challenge_is_refused() {
    let f = Fixture::new().await;
    let app = f.client(|c| c.pkce_optional = true).await;
    let bo = f.signed_in(&f.bo).await;
    let code = f
        .code(&app.client, &bo, |p| {
            p.code_challenge = None;
            p.code_challenge_method = None;
        })
        .await;

    // A verifier the request never committed to proves nothing: a downgrade, refused.
    let refused = f.exchange(&app.client, &code, f.now).await.unwrap_err();

    assert_eq!(refused.code, ErrorCode::InvalidGrant);
}

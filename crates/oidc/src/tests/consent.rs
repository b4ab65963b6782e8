//! Consent: a client that is not first-party asks the person once; a refusal reaches the
//! client as `access_denied`, and `prompt=none` cannot ask.

use latchkey_core::RequestId;

use super::fixture::{Fixture, query_param, redirect_error, redirected};
use crate::Next;

/// A client the operator does not vouch for: the person is asked.
async fn third_party(f: &Fixture) -> super::fixture::Registered {
    f.client(|c| {
        c.name = "Planner".to_owned();
        c.first_party = false;
    })
    .await
}

fn consent_asked(next: Next) -> RequestId {
    match next {
        Next::Consent { request_id, .. } => RequestId::from(request_id.as_str()),
        other => panic!("expected the consent page, got {other:?}"),
    }
}

#[tokio::test]
async fn a_third_party_client_gets_a_code_once_the_person_agrees_and_is_not_asked_again() {
    let f = Fixture::new().await;
    let app = third_party(&f).await;
    let bo = f.signed_in(&f.bo).await;
    let id = consent_asked(f.authorize(&app.client, &bo).await);

    let agreed = f.provider.decide_consent(&id, &bo, true, f.now).await;

    assert!(query_param(&redirected(agreed.unwrap()), "code").is_some());
    let again = f.start(f.params(&app.client, |_| {}), Some(&bo)).await;
    assert!(query_param(&redirected(again.unwrap()), "code").is_some());
}

#[tokio::test]
async fn a_declined_consent_is_access_denied() {
    let f = Fixture::new().await;
    let app = third_party(&f).await;
    let bo = f.signed_in(&f.bo).await;
    let id = consent_asked(f.authorize(&app.client, &bo).await);

    let declined = f.provider.decide_consent(&id, &bo, false, f.now).await;

    assert_eq!(redirect_error(declined.unwrap()), "access_denied");
}

#[tokio::test]
async fn prompt_none_without_consent_is_consent_required() {
    let f = Fixture::new().await;
    let app = third_party(&f).await;
    let bo = f.signed_in(&f.bo).await;
    let params = f.params(&app.client, |p| p.prompt = Some("none".to_owned()));

    let next = f.start(params, Some(&bo)).await.unwrap();

    assert_eq!(redirect_error(next), "consent_required");
}

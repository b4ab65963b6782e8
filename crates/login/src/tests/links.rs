//! The magic link: it signs in once, the person it was mailed to, for ten minutes.

use chrono::TimeDelta;
use latchkey_core::secret::SecretToken;

use super::fixture::{BO, Fixture, requester};
use crate::LinkError;

#[tokio::test]
async fn a_link_signs_in_once() {
    let f = Fixture::new().await;
    let mail = f.bo_asks(&SecretToken::generate()).await;

    let signed_in = f.login.confirm(&mail.token(), &requester(), f.now).await;
    assert_eq!(signed_in.unwrap().email, BO);

    let again = f.login.confirm(&mail.token(), &requester(), f.now).await;
    assert!(matches!(again, Err(LinkError::Used)), "{again:?}");
}

#[tokio::test]
async fn a_link_is_refused_after_ten_minutes() {
    let f = Fixture::new().await;
    let mail = f.bo_asks(&SecretToken::generate()).await;

    let late = f.later(TimeDelta::minutes(10) + TimeDelta::seconds(1));
    let refused = f.login.confirm(&mail.token(), &requester(), late).await;

    assert!(matches!(refused, Err(LinkError::Expired)), "{refused:?}");
}

#[tokio::test]
async fn a_link_works_until_its_tenth_minute() {
    let f = Fixture::new().await;
    let mail = f.bo_asks(&SecretToken::generate()).await;

    let just_in_time = f.later(TimeDelta::minutes(10) - TimeDelta::seconds(1));
    let signed_in = f
        .login
        .confirm(&mail.token(), &requester(), just_in_time)
        .await;

    assert!(signed_in.is_ok(), "{signed_in:?}");
}

#[tokio::test]
async fn looking_at_a_link_does_not_spend_it() {
    let f = Fixture::new().await;
    let mail = f.bo_asks(&SecretToken::generate()).await;

    // Mail scanners fetch links before the person clicks them.
    let view = f.login.inspect(&mail.token(), f.now).await.unwrap();
    assert_eq!(view.email.as_str(), BO);

    assert!(
        f.login
            .confirm(&mail.token(), &requester(), f.now)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn an_altered_link_is_refused() {
    let f = Fixture::new().await;
    let mail = f.bo_asks(&SecretToken::generate()).await;
    let token = mail.token();
    // Another payload under the same signature: the signature no longer covers it.
    let mut parts: Vec<&str> = token.split('.').collect();
    parts[1] = "eyJzdWIiOiJhZGFAYWNtZS50ZXN0In0";
    let forged = parts.join(".");

    let refused = f.login.confirm(&forged, &requester(), f.now).await;

    assert!(matches!(refused, Err(LinkError::Invalid)), "{refused:?}");
}

#[tokio::test]
async fn each_link_signs_in_the_person_it_was_mailed_to_whoever_opens_it() {
    let f = Fixture::new().await;
    latchkey_testkit::account(&f.db, "ada@acme.test", f.now).await;
    let ada_browser = SecretToken::generate();
    assert!(
        f.ask_at("ada@acme.test", crate::Purpose::Login, &ada_browser, f.now)
            .await
    );
    let ada_mail = f.last_mail().await;
    let bo_mail = f.bo_asks(&SecretToken::generate()).await;

    let bo = f.login.confirm(&bo_mail.token(), &requester(), f.now).await;
    let ada = f
        .login
        .confirm(&ada_mail.token(), &requester(), f.now)
        .await;

    assert_eq!(bo.unwrap().email, BO);
    assert_eq!(ada.unwrap().email, "ada@acme.test");
}

//! Requests anyone could have written: an unsigned request for an SP that takes no sign-on it
//! did not ask for is not answered for a session that was there before it without asking
//! the person (L1), and a status goes to the SP on its own only for a signed request or a
//! person signed in for the SP's team (L2).

use chrono::TimeDelta;
use latchkey_login::Opening;

use super::fixture::{ACS, Fixture, asked_first, kept_id, posted, redirected, status_page};
use super::messages::{AuthnRequest, SpKey};
use crate::Refusal;

const X509: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:X509SubjectName";

#[tokio::test]
async fn an_unsigned_request_asks_a_signed_in_person_first_and_their_yes_answers_it() {
    let f = Fixture::new().await;
    f.sp(|new| new.idp_initiated = false).await;
    let (_, bo) = f.signed_in(&f.bo).await;
    let later = f.later(TimeDelta::seconds(5));
    let request = AuthnRequest::new("_u", later).post(Some("back"));
    let question = asked_first(f.receive(request, Some(&bo), later).await.unwrap());
    assert_eq!(
        (question.sp.as_str(), question.email.as_str()),
        ("Helpdesk", "bo@acme.test")
    );
    let form = posted(
        f.sign_ons
            .confirm(&question.request, Some(&bo), later)
            .await
            .unwrap(),
    );
    assert_eq!(
        (form.action.as_str(), form.field("RelayState")),
        (ACS, Some("back"))
    );
    assert!(form.response_xml().contains("InResponseTo=\"_u\""));
    let again = f
        .sign_ons
        .confirm(&question.request, Some(&bo), later)
        .await;
    assert!(matches!(again, Err(Refusal::Expired)), "{again:?}");
}

#[tokio::test]
async fn the_question_cannot_be_skipped_by_continuing_the_kept_sign_on() {
    let f = Fixture::new().await;
    f.sp(|new| new.idp_initiated = false).await;
    let (_, bo) = f.signed_in(&f.bo).await;
    let later = f.later(TimeDelta::seconds(5));
    // Sent by someone else's browser, then the member's is sent to continue it.
    let request = AuthnRequest::new("_forged", later).post(None);
    let id = kept_id(&redirected(f.receive(request, None, later).await.unwrap()));
    let question = asked_first(f.sign_ons.resume(&id, Some(&bo), later).await.unwrap());
    assert_eq!(question.request, id);
}

#[tokio::test]
async fn a_person_who_signs_in_for_the_request_is_not_asked_again() {
    let f = Fixture::new().await;
    f.sp(|new| new.idp_initiated = false).await;
    let request = AuthnRequest::new("_u", f.now).post(None);
    let id = kept_id(&redirected(f.receive(request, None, f.now).await.unwrap()));
    let later = f.later(TimeDelta::minutes(1));
    let (_, bo) = f.bo.sign_in(&f.db, Opening::default(), later).await;
    posted(f.sign_ons.resume(&id, Some(&bo), later).await.unwrap());
}

#[tokio::test]
async fn a_signed_request_is_answered_at_once() {
    let f = Fixture::new().await;
    let key = SpKey::generate();
    f.sp(|new| {
        new.idp_initiated = false;
        new.signing_cert = Some(key.cert_pem.clone());
    })
    .await;
    let (_, bo) = f.signed_in(&f.bo).await;
    let request = AuthnRequest::new("_s", f.now).redirect(None, Some(&key));
    posted(f.receive(request, Some(&bo), f.now).await.unwrap());
}

#[tokio::test]
async fn someone_outside_the_team_is_refused_rather_than_asked() {
    let f = Fixture::new().await;
    f.sp(|new| new.idp_initiated = false).await;
    let (_, cy) = f.signed_in(&f.cy).await;
    let refused = f
        .receive(AuthnRequest::new("_cy", f.now).post(None), Some(&cy), f.now)
        .await;
    assert!(
        matches!(refused, Err(Refusal::NotMember { .. })),
        "{refused:?}"
    );
}

#[tokio::test]
async fn a_passive_unsigned_request_that_would_ask_is_answered_no_passive() {
    let f = Fixture::new().await;
    f.sp(|new| new.idp_initiated = false).await;
    let (_, bo) = f.signed_in(&f.bo).await;
    let mut request = AuthnRequest::new("_pa", f.now);
    request.is_passive = true;
    let form = posted(
        f.receive(request.post(None), Some(&bo), f.now)
            .await
            .unwrap(),
    );
    assert!(form.response_xml().contains("status:NoPassive"));
}

#[tokio::test]
async fn a_status_for_an_unsigned_request_and_nobody_signed_in_waits_for_a_press() {
    let f = Fixture::new().await;
    f.sp(|_| {}).await;
    let mut request = AuthnRequest::new("_x", f.now);
    request.name_id_format = Some(X509.to_owned());
    let page = status_page(
        f.receive(request.post(Some("r")), None, f.now)
            .await
            .unwrap(),
    );
    assert_eq!(page.form.action, ACS);
    assert_eq!(page.form.field("RelayState"), Some("r"));
    assert!(
        page.form
            .response_xml()
            .contains("status:InvalidNameIDPolicy")
    );
    assert!(page.message.contains("Helpdesk"), "{}", page.message);
    let replay = f.receive(request.post(None), None, f.now).await;
    assert!(matches!(replay, Err(Refusal::Replay)), "kept: {replay:?}");
}

#[tokio::test]
async fn a_status_for_a_signed_request_is_posted_at_once() {
    let f = Fixture::new().await;
    let key = SpKey::generate();
    f.sp(|new| new.signing_cert = Some(key.cert_pem.clone()))
        .await;
    let mut unmet = AuthnRequest::new("_x", f.now);
    unmet.name_id_format = Some(X509.to_owned());
    let form = posted(
        f.receive(unmet.redirect(None, Some(&key)), None, f.now)
            .await
            .unwrap(),
    );
    assert!(form.response_xml().contains("status:InvalidNameIDPolicy"));
    let mut passive = AuthnRequest::new("_p", f.now);
    passive.is_passive = true;
    let next = redirected(
        f.receive(passive.redirect(None, Some(&key)), None, f.now)
            .await
            .unwrap(),
    );
    let form = posted(
        f.sign_ons
            .resume(&kept_id(&next), None, f.now)
            .await
            .unwrap(),
    );
    assert!(form.response_xml().contains("status:NoPassive"));
}

#[tokio::test]
async fn a_status_for_an_unsigned_request_is_posted_at_once_to_a_member_only() {
    let f = Fixture::new().await;
    f.sp(|_| {}).await;
    // Cy is signed in, in no team: the status waits for a press, as for nobody signed in.
    let (_, cy) = f.signed_in(&f.cy).await;
    let mut request = AuthnRequest::new("_cy", f.now);
    request.name_id_format = Some(X509.to_owned());
    let page = status_page(
        f.receive(request.post(None), Some(&cy), f.now)
            .await
            .unwrap(),
    );
    assert!(
        page.form
            .response_xml()
            .contains("status:InvalidNameIDPolicy")
    );
    // Bo is a member of the SP's team: posted at once.
    let (_, bo) = f.signed_in(&f.bo).await;
    let mut request = AuthnRequest::new("_bo", f.now);
    request.name_id_format = Some(X509.to_owned());
    let form = posted(
        f.receive(request.post(None), Some(&bo), f.now)
            .await
            .unwrap(),
    );
    assert!(form.response_xml().contains("status:InvalidNameIDPolicy"));
}

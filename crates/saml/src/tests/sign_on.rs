//! Sign-ons: kept, resumed and answered once; ForceAuthn and IsPassive; replays and
//! signatures; who may sign in; and sign-ons started here.

use chrono::TimeDelta;
use latchkey_login::Opening;

use super::fixture::{ACS, Fixture, kept_id, posted, redirected, status_page};
use super::messages::{AuthnRequest, SpKey};
use crate::Refusal;

#[tokio::test]
async fn nobody_signed_in_is_kept_then_sent_to_sign_in_and_answered_after() {
    let f = Fixture::new().await;
    f.sp(|_| {}).await;
    let request = AuthnRequest::new("_r1", f.now);
    let next = redirected(
        f.receive(request.post(Some("ticket/42")), None, f.now)
            .await
            .unwrap(),
    );
    assert!(next.starts_with("/saml/continue?request=saml"), "{next}");
    let id = kept_id(&next);
    let login = redirected(f.sign_ons.resume(&id, None, f.now).await.unwrap());
    assert_eq!(login, format!("/login?request={id}"));
    let (_, bo) = f.signed_in(&f.bo).await;
    let form = posted(f.sign_ons.resume(&id, Some(&bo), f.now).await.unwrap());
    assert_eq!(form.action, ACS);
    assert_eq!(form.field("RelayState"), Some("ticket/42"));
    let xml = form.response_xml();
    assert!(xml.contains("InResponseTo=\"_r1\""), "{xml}");
    assert!(xml.contains(">bo@acme.test</saml:NameID>"), "{xml}");
    assert!(
        xml.contains("urn:oasis:names:tc:SAML:2.0:status:Success"),
        "{xml}"
    );
}

#[tokio::test]
async fn a_sign_on_is_answered_once() {
    let f = Fixture::new().await;
    f.sp(|_| {}).await;
    let next = redirected(
        f.receive(AuthnRequest::new("_r1", f.now).post(None), None, f.now)
            .await
            .unwrap(),
    );
    let id = kept_id(&next);
    let (_, bo) = f.signed_in(&f.bo).await;
    posted(f.sign_ons.resume(&id, Some(&bo), f.now).await.unwrap());
    let again = f.sign_ons.resume(&id, Some(&bo), f.now).await;
    assert!(matches!(again, Err(Refusal::Expired)), "{again:?}");
}

#[tokio::test]
async fn a_member_signed_in_already_is_answered_at_once_with_their_attributes() {
    let f = Fixture::new().await;
    f.sp(|_| {}).await;
    let (_, bo) = f.signed_in(&f.bo).await;
    let reply = f
        .receive(AuthnRequest::new("_r1", f.now).post(None), Some(&bo), f.now)
        .await;
    let xml = posted(reply.unwrap()).response_xml();
    assert!(
        xml.contains("Destination=\"https://sp.example.test/acs\""),
        "{xml}"
    );
    assert!(
        xml.contains("<saml:Audience>https://sp.example.test/metadata</saml:Audience>"),
        "{xml}"
    );
    assert!(xml.contains("<saml:Attribute Name=\"email\""), "{xml}");
    assert!(xml.contains("SessionIndex=\"_"), "{xml}");
}

#[tokio::test]
async fn a_request_is_refused_when_received_again() {
    let f = Fixture::new().await;
    f.sp(|_| {}).await;
    let request = AuthnRequest::new("_once", f.now);
    f.receive(request.post(None), None, f.now).await.unwrap();
    let replay = f.receive(request.redirect(None, None), None, f.now).await;
    assert!(matches!(replay, Err(Refusal::Replay)), "{replay:?}");
}

#[tokio::test]
async fn a_request_from_an_unregistered_sp_is_refused() {
    let f = Fixture::new().await;
    f.sp(|_| {}).await;
    let mut request = AuthnRequest::new("_r1", f.now);
    request.issuer = "https://stranger.example.test".to_owned();
    let refused = f.receive(request.post(None), None, f.now).await;
    assert!(matches!(refused, Err(Refusal::UnknownSp)), "{refused:?}");
}

#[tokio::test]
async fn a_request_that_is_not_saml_is_refused_as_unreadable() {
    let f = Fixture::new().await;
    f.sp(|_| {}).await;
    let garbage = crate::Inbound::Post {
        message: "bm90IFhNTA==".to_owned(),
        relay_state: None,
    };
    let refused = f.receive(garbage, None, f.now).await;
    assert!(
        matches!(refused, Err(Refusal::Unreadable(_))),
        "{refused:?}"
    );
}

#[tokio::test]
async fn a_request_older_than_five_minutes_is_refused() {
    let f = Fixture::new().await;
    f.sp(|_| {}).await;
    let stale = AuthnRequest::new("_old", f.now - TimeDelta::minutes(11));
    let refused = f.receive(stale.post(None), None, f.now).await;
    assert!(
        matches!(refused, Err(Refusal::Unreadable(_))),
        "{refused:?}"
    );
}

#[tokio::test]
async fn force_authn_asks_for_a_sign_in_after_the_request() {
    let f = Fixture::new().await;
    f.sp(|_| {}).await;
    let before = f.now - TimeDelta::minutes(1);
    let (_, earlier) = f.bo.sign_in(&f.db, Opening::default(), before).await;
    let mut request = AuthnRequest::new("_force", f.now);
    request.force_authn = true;
    let id = kept_id(&redirected(
        f.receive(request.post(None), Some(&earlier), f.now)
            .await
            .unwrap(),
    ));
    let login = redirected(f.sign_ons.resume(&id, Some(&earlier), f.now).await.unwrap());
    assert!(login.starts_with("/login?"), "{login}");
    let later = f.later(TimeDelta::seconds(30));
    let (_, fresh) = f.bo.sign_in(&f.db, Opening::default(), later).await;
    posted(f.sign_ons.resume(&id, Some(&fresh), later).await.unwrap());
}

#[tokio::test]
async fn is_passive_with_nobody_signed_in_is_answered_no_passive_once() {
    let f = Fixture::new().await;
    f.sp(|_| {}).await;
    let mut request = AuthnRequest::new("_passive", f.now);
    request.is_passive = true;
    let next = redirected(f.receive(request.post(None), None, f.now).await.unwrap());
    assert!(!next.contains("passive"), "kept, not in the URL: {next}");
    let id = kept_id(&next);
    // Unsigned, and nobody signed in: a page says so, and posts only on a press (L2).
    let page = status_page(f.sign_ons.resume(&id, None, f.now).await.unwrap());
    let xml = page.form.response_xml();
    assert!(
        xml.contains("status:NoPassive") && xml.contains("InResponseTo=\"_passive\""),
        "{xml}"
    );
    assert_eq!(page.button, "Return to Helpdesk");
    let again = f.sign_ons.resume(&id, None, f.now).await;
    assert!(matches!(again, Err(Refusal::Expired)), "{again:?}");
}

#[tokio::test]
async fn a_sign_on_that_was_not_passive_never_becomes_so() {
    let f = Fixture::new().await;
    let sp = f.sp(|_| {}).await;
    let started = redirected(
        f.sign_ons
            .start(&f.identity, &sp.entity_id, None, f.now)
            .await
            .unwrap(),
    );
    // Whatever the URL says: the kept sign-on is not passive, so nobody gets a status.
    let next = redirected(
        f.sign_ons
            .resume(&kept_id(&format!("{started}&passive=1")), None, f.now)
            .await
            .unwrap(),
    );
    assert!(next.starts_with("/login?"), "{next}");
}

#[tokio::test]
async fn a_kept_sign_on_expires_after_twenty_minutes() {
    let f = Fixture::new().await;
    f.sp(|_| {}).await;
    let id = kept_id(&redirected(
        f.receive(AuthnRequest::new("_slow", f.now).post(None), None, f.now)
            .await
            .unwrap(),
    ));
    let late = f.later(TimeDelta::minutes(21));
    let (_, bo) = f.bo.sign_in(&f.db, Opening::default(), late).await;
    let refused = f.sign_ons.resume(&id, Some(&bo), late).await;
    assert!(matches!(refused, Err(Refusal::Expired)), "{refused:?}");
}

#[tokio::test]
async fn someone_outside_the_sps_team_is_refused() {
    let f = Fixture::new().await;
    f.sp(|_| {}).await;
    let (_, cy) = f.signed_in(&f.cy).await;
    let refused = f
        .receive(AuthnRequest::new("_cy", f.now).post(None), Some(&cy), f.now)
        .await;
    match refused {
        Err(Refusal::NotMember { sp, email }) => assert_eq!(
            (sp.as_str(), email.as_str()),
            ("Helpdesk", "cy@elsewhere.test")
        ),
        other => panic!("expected NotMember, got {other:?}"),
    }
}

#[tokio::test]
async fn a_session_an_integration_opened_signs_in_to_its_own_team_only() {
    let f = Fixture::new().await;
    f.sp(|_| {}).await;
    let other = latchkey_testkit::Team::found(&f.db, "Other", "olga@other.test", f.now).await;
    let bound_elsewhere = Opening {
        team_id: Some(&other.id),
        opened_by: Some("https://widget.other.test"),
        ..Opening::default()
    };
    let (_, bo) = f.bo.sign_in(&f.db, bound_elsewhere, f.now).await;
    let reply = f
        .receive(
            AuthnRequest::new("_bound", f.now).post(None),
            Some(&bo),
            f.now,
        )
        .await;
    let id = kept_id(&redirected(reply.unwrap()));
    let login = redirected(f.sign_ons.resume(&id, Some(&bo), f.now).await.unwrap());
    assert!(login.starts_with("/login?"), "{login}");
    let bound_here = Opening {
        team_id: Some(&f.team.id),
        opened_by: Some("https://widget.acme.test"),
        ..Opening::default()
    };
    let (_, bo) = f.bo.sign_in(&f.db, bound_here, f.now).await;
    posted(f.sign_ons.resume(&id, Some(&bo), f.now).await.unwrap());
}

#[tokio::test]
async fn an_sp_that_requires_signed_requests_must_sign_and_its_signature_is_checked() {
    let f = Fixture::new().await;
    let key = SpKey::generate();
    f.sp(|new| {
        new.signing_cert = Some(key.cert_pem.clone());
        new.requires_signed_requests = true;
    })
    .await;
    let (_, bo) = f.signed_in(&f.bo).await;
    let unsigned = f
        .receive(
            AuthnRequest::new("_u", f.now).redirect(None, None),
            Some(&bo),
            f.now,
        )
        .await;
    assert!(
        matches!(unsigned, Err(Refusal::NotSigned { .. })),
        "{unsigned:?}"
    );
    let forged = SpKey::generate();
    let wrong = f
        .receive(
            AuthnRequest::new("_w", f.now).redirect(None, Some(&forged)),
            Some(&bo),
            f.now,
        )
        .await;
    assert!(matches!(wrong, Err(Refusal::NotSigned { .. })), "{wrong:?}");
    let signed = f
        .receive(
            AuthnRequest::new("_s", f.now).redirect(Some("r"), Some(&key)),
            Some(&bo),
            f.now,
        )
        .await;
    assert_eq!(posted(signed.unwrap()).field("RelayState"), Some("r"));
}

#[tokio::test]
async fn a_signed_request_from_an_sp_without_a_certificate_cannot_be_checked() {
    let f = Fixture::new().await;
    f.sp(|_| {}).await;
    let key = SpKey::generate();
    let refused = f
        .receive(
            AuthnRequest::new("_s", f.now).redirect(None, Some(&key)),
            None,
            f.now,
        )
        .await;
    assert!(
        matches!(refused, Err(Refusal::Unchecked { .. })),
        "{refused:?}"
    );
}

#[tokio::test]
async fn a_sign_on_started_here_answers_the_first_acs_url_unasked() {
    let f = Fixture::new().await;
    let sp = f.sp(|_| {}).await;
    let next = redirected(
        f.sign_ons
            .start(&f.identity, &sp.entity_id, Some("home"), f.now)
            .await
            .unwrap(),
    );
    let (_, bo) = f.signed_in(&f.bo).await;
    let form = posted(
        f.sign_ons
            .resume(&kept_id(&next), Some(&bo), f.now)
            .await
            .unwrap(),
    );
    assert_eq!(
        (form.action.as_str(), form.field("RelayState")),
        (ACS, Some("home"))
    );
    assert!(!form.response_xml().contains("InResponseTo"));
}

#[tokio::test]
async fn a_sign_on_started_here_is_refused_for_an_sp_that_starts_its_own_or_is_unknown() {
    let f = Fixture::new().await;
    let sp = f.sp(|new| new.idp_initiated = false).await;
    let refused = f
        .sign_ons
        .start(&f.identity, &sp.entity_id, None, f.now)
        .await;
    assert!(
        matches!(refused, Err(Refusal::StartsAtApplication { .. })),
        "{refused:?}"
    );
    let unknown = f
        .sign_ons
        .start(&f.identity, "https://nobody.example.test", None, f.now)
        .await;
    assert!(matches!(unknown, Err(Refusal::UnknownSp)), "{unknown:?}");
}

#[tokio::test]
async fn an_id_that_was_never_kept_has_expired() {
    let f = Fixture::new().await;
    let refused = f
        .sign_ons
        .resume(&latchkey_core::SamlRequestId::generate(), None, f.now)
        .await;
    assert!(matches!(refused, Err(Refusal::Expired)), "{refused:?}");
}

//! What a sign-on's answer is made of: the ACS URL it goes to (by URL, by index, or the
//! first), and the NameID the SP is given (its format, and a persistent one's opacity).

use super::fixture::{ACS, Fixture, SECOND_ACS, posted};
use super::messages::AuthnRequest;
use crate::{NameIdFormat, Refusal};

const PERSISTENT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent";
const UNSPECIFIED: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified";
const EMAIL: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress";
const X509: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:X509SubjectName";

#[tokio::test]
async fn an_acs_url_the_sp_has_not_registered_is_refused() {
    let f = Fixture::new().await;
    f.sp(|_| {}).await;
    let mut request = AuthnRequest::new("_r1", f.now);
    request.acs_url = Some("https://attacker.example.test/acs".to_owned());
    let refused = f.receive(request.post(None), None, f.now).await;
    assert!(
        matches!(refused, Err(Refusal::AcsNotRegistered { .. })),
        "{refused:?}"
    );
}

#[tokio::test]
async fn a_registered_acs_url_is_answered_and_none_named_means_the_first() {
    let f = Fixture::new().await;
    f.sp(|_| {}).await;
    let (_, bo) = f.signed_in(&f.bo).await;
    let mut second = AuthnRequest::new("_second", f.now);
    second.acs_url = Some(SECOND_ACS.to_owned());
    let form = posted(
        f.receive(second.post(None), Some(&bo), f.now)
            .await
            .unwrap(),
    );
    assert_eq!(form.action, SECOND_ACS);
    let mut unnamed = AuthnRequest::new("_unnamed", f.now);
    unnamed.acs_url = None;
    let form = posted(
        f.receive(unnamed.post(None), Some(&bo), f.now)
            .await
            .unwrap(),
    );
    assert_eq!(form.action, ACS);
}

#[tokio::test]
async fn an_acs_index_picks_a_registered_url_and_an_unknown_index_is_refused() {
    let f = Fixture::new().await;
    f.sp(|_| {}).await;
    let (_, bo) = f.signed_in(&f.bo).await;
    let mut by_index = AuthnRequest::new("_i1", f.now);
    (by_index.acs_url, by_index.acs_index) = (None, Some(1));
    let form = posted(
        f.receive(by_index.post(None), Some(&bo), f.now)
            .await
            .unwrap(),
    );
    assert_eq!(form.action, SECOND_ACS);
    let mut unknown = AuthnRequest::new("_i9", f.now);
    (unknown.acs_url, unknown.acs_index) = (None, Some(9));
    let refused = f.receive(unknown.post(None), Some(&bo), f.now).await;
    assert!(
        matches!(
            refused,
            Err(Refusal::AcsIndexNotRegistered { index: 9, .. })
        ),
        "{refused:?}"
    );
}

#[tokio::test]
async fn a_name_id_format_latchkey_cannot_give_is_answered_with_invalid_name_id_policy() {
    let f = Fixture::new().await;
    f.sp(|_| {}).await;
    let mut request = AuthnRequest::new("_p1", f.now);
    request.name_id_format = Some(X509.to_owned());
    let (_, bo) = f.signed_in(&f.bo).await;
    let form = posted(
        f.receive(request.post(Some("back")), Some(&bo), f.now)
            .await
            .unwrap(),
    );
    assert_eq!(form.action, ACS);
    assert_eq!(form.field("RelayState"), Some("back"));
    let xml = form.response_xml();
    assert!(xml.contains("status:Requester"), "{xml}");
    assert!(xml.contains("status:InvalidNameIDPolicy"), "{xml}");
    assert!(!xml.contains("<saml:Assertion"), "no assertion: {xml}");
}

#[tokio::test]
async fn the_sp_format_and_unspecified_are_met() {
    let f = Fixture::new().await;
    f.sp(|_| {}).await;
    let (_, bo) = f.signed_in(&f.bo).await;
    for (id, format) in [("_e", EMAIL), ("_u", UNSPECIFIED)] {
        let mut request = AuthnRequest::new(id, f.now);
        request.name_id_format = Some(format.to_owned());
        let xml = posted(
            f.receive(request.post(None), Some(&bo), f.now)
                .await
                .unwrap(),
        )
        .response_xml();
        assert!(
            xml.contains(">bo@acme.test</saml:NameID>"),
            "{format}: {xml}"
        );
    }
}

#[tokio::test]
async fn persistent_name_ids_are_opaque_stable_and_differ_between_sps() {
    let f = Fixture::new().await;
    f.sp(|new| new.name_id_format = NameIdFormat::Persistent)
        .await;
    f.sp(|new| {
        new.entity_id = "https://other.example.test".to_owned();
        new.name_id_format = NameIdFormat::Persistent;
    })
    .await;
    let (_, bo) = f.signed_in(&f.bo).await;
    let name_id = |xml: String| {
        let start = xml.find(PERSISTENT).unwrap();
        let value = &xml[start..];
        value[value.find('>').unwrap() + 1..value.find("</saml:NameID>").unwrap()].to_owned()
    };
    let first = name_id(
        posted(
            f.receive(AuthnRequest::new("_a", f.now).post(None), Some(&bo), f.now)
                .await
                .unwrap(),
        )
        .response_xml(),
    );
    let again = name_id(
        posted(
            f.receive(AuthnRequest::new("_b", f.now).post(None), Some(&bo), f.now)
                .await
                .unwrap(),
        )
        .response_xml(),
    );
    let mut other = AuthnRequest::new("_c", f.now);
    (other.issuer, other.acs_url) = (
        "https://other.example.test".to_owned(),
        Some(ACS.to_owned()),
    );
    let elsewhere = name_id(
        posted(f.receive(other.post(None), Some(&bo), f.now).await.unwrap()).response_xml(),
    );
    assert_eq!(first, again);
    assert_ne!(first, elsewhere);
    assert!(!first.contains('@') && first.len() == 40, "{first}");
}

//! What real service providers send with their default settings: transient and unspecified
//! NameIDs, a certificate in their metadata without `AuthnRequestsSigned`, an ACS named by
//! its metadata index, long `RelayState`s, and (from old ones) SHA-1 signatures.

use chrono::TimeDelta;

use super::fixture::{ACS, Fixture, SECOND_ACS, kept_id, posted, redirected};
use super::messages::{AuthnRequest, Hash, LogoutRequest, SpKey, long_relay_state};
use crate::{NameIdFormat, NewServiceProvider, Refusal, SamlError, SpMetadata};

const TRANSIENT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient";
const UNSPECIFIED: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified";
const PERSISTENT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent";
const EMAIL: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress";

/// The NameID of a response, and its format.
fn name_id(xml: &str) -> (String, String) {
    let start = xml.find("<saml:NameID Format=\"").expect("a NameID") + 21;
    let rest = &xml[start..];
    let format = rest[..rest.find('"').unwrap()].to_owned();
    let value = &rest[rest.find('>').unwrap() + 1..rest.find("</saml:NameID>").unwrap()];
    (format, value.to_owned())
}

fn asking(id: &str, f: &Fixture, format: Option<&str>) -> AuthnRequest {
    let mut request = AuthnRequest::new(id, f.now);
    request.name_id_format = format.map(str::to_owned);
    request
}

#[tokio::test]
async fn transient_asked_is_opaque_and_differs_per_session_and_per_sp() {
    let f = Fixture::new().await;
    f.sp(|_| {}).await;
    f.sp(|new| new.entity_id = "https://other.example.test".to_owned())
        .await;
    let (_, bo) = f.signed_in(&f.bo).await;
    let (_, bo_again) = f.signed_in(&f.bo).await;
    let mut given = Vec::new();
    for (id, session) in [("_t1", &bo), ("_t2", &bo), ("_t3", &bo_again)] {
        let request = asking(id, &f, Some(TRANSIENT));
        let form = posted(
            f.receive(request.post(None), Some(session), f.now)
                .await
                .unwrap(),
        );
        given.push(name_id(&form.response_xml()));
    }
    let mut other = asking("_t4", &f, Some(TRANSIENT));
    other.issuer = "https://other.example.test".to_owned();
    let form = posted(f.receive(other.post(None), Some(&bo), f.now).await.unwrap());
    given.push(name_id(&form.response_xml()));
    for (format, value) in &given {
        assert_eq!(format, TRANSIENT);
        assert!(!value.contains('@') && value.len() == 40, "{value}");
    }
    assert_eq!(given[0], given[1], "the same session at the same SP");
    assert_ne!(given[0], given[2], "another session");
    assert_ne!(given[0], given[3], "another SP");
}

#[tokio::test]
async fn a_logout_naming_a_transient_name_id_ends_its_session() {
    let f = Fixture::new().await;
    let sp = f
        .sp(|new| new.name_id_format = NameIdFormat::Transient)
        .await;
    let (secret, bo) = f.signed_in(&f.bo).await;
    let form = posted(
        f.receive(asking("_t", &f, None).post(None), Some(&bo), f.now)
            .await
            .unwrap(),
    );
    let (format, transient) = name_id(&form.response_xml());
    assert_eq!(format, TRANSIENT, "registered transient, asked nothing");
    let logout = LogoutRequest {
        id: "_l".to_owned(),
        issued: f.now,
        name_id: transient,
        session_indexes: vec![sp.session_index(&bo.sid)],
    };
    let outcome = f
        .logout(logout.redirect(None), Some(&bo), false, f.now)
        .await
        .unwrap();
    assert!(outcome.end_this_browser);
    let sessions = latchkey_testkit::sessions(&f.db);
    assert!(sessions.current(&secret, f.now).await.unwrap().is_none());
}

#[tokio::test]
async fn unspecified_or_nothing_asked_gets_the_registered_format() {
    let f = Fixture::new().await;
    f.sp(|new| new.name_id_format = NameIdFormat::Persistent)
        .await;
    let (_, bo) = f.signed_in(&f.bo).await;
    for (id, asked) in [("_u", Some(UNSPECIFIED)), ("_n", None)] {
        let form = posted(
            f.receive(asking(id, &f, asked).post(None), Some(&bo), f.now)
                .await
                .unwrap(),
        );
        let (format, value) = name_id(&form.response_xml());
        assert_eq!(format, PERSISTENT, "{asked:?}");
        assert!(!value.contains('@'), "{value}");
    }
}

#[tokio::test]
async fn an_sp_registered_unspecified_gets_the_address_under_that_format() {
    let f = Fixture::new().await;
    f.sp(|new| new.name_id_format = NameIdFormat::Unspecified)
        .await;
    let (_, bo) = f.signed_in(&f.bo).await;
    let form = posted(
        f.receive(asking("_u", &f, None).post(None), Some(&bo), f.now)
            .await
            .unwrap(),
    );
    assert_eq!(
        name_id(&form.response_xml()),
        (UNSPECIFIED.to_owned(), "bo@acme.test".to_owned())
    );
}

#[tokio::test]
async fn email_or_persistent_asked_is_given_whatever_is_registered() {
    let f = Fixture::new().await;
    f.sp(|new| new.name_id_format = NameIdFormat::Transient)
        .await;
    let (_, bo) = f.signed_in(&f.bo).await;
    let form = posted(
        f.receive(asking("_e", &f, Some(EMAIL)).post(None), Some(&bo), f.now)
            .await
            .unwrap(),
    );
    assert_eq!(
        name_id(&form.response_xml()),
        (EMAIL.to_owned(), "bo@acme.test".to_owned())
    );
    let form = posted(
        f.receive(
            asking("_p", &f, Some(PERSISTENT)).post(None),
            Some(&bo),
            f.now,
        )
        .await
        .unwrap(),
    );
    assert_eq!(name_id(&form.response_xml()).0, PERSISTENT);
}

#[tokio::test]
async fn transient_and_unspecified_are_in_the_identity_providers_metadata() {
    let f = Fixture::new().await;
    f.sp(|_| {}).await;
    let xml = f.sign_ons.metadata_xml(&f.identity, f.now).await.unwrap();
    for format in [TRANSIENT, UNSPECIFIED, PERSISTENT, EMAIL] {
        assert!(xml.contains(&format!("<md:NameIDFormat>{format}</md:NameIDFormat>")));
    }
}

#[tokio::test]
async fn a_certificate_alone_verifies_signed_requests_and_accepts_unsigned_ones() {
    let f = Fixture::new().await;
    let key = SpKey::generate();
    let sp = f
        .sp(|new| new.signing_cert = Some(key.cert_pem.clone()))
        .await;
    assert!(!sp.requires_signed_requests && sp.verifies_signed_requests);
    let (_, bo) = f.signed_in(&f.bo).await;
    let unsigned = AuthnRequest::new("_u", f.now).redirect(None, None);
    posted(f.receive(unsigned, Some(&bo), f.now).await.unwrap());
    let signed = AuthnRequest::new("_s", f.now).redirect(None, Some(&key));
    posted(f.receive(signed, Some(&bo), f.now).await.unwrap());
    let posted_signed = AuthnRequest::new("_p", f.now).post_signed(None, &key, Hash::Sha256);
    posted(f.receive(posted_signed, Some(&bo), f.now).await.unwrap());
    let forged = AuthnRequest::new("_f", f.now).redirect(None, Some(&SpKey::generate()));
    let refused = f.receive(forged, Some(&bo), f.now).await;
    assert!(
        matches!(refused, Err(Refusal::NotSigned { .. })),
        "a signature present is verified: {refused:?}"
    );
}

#[tokio::test]
async fn requiring_signed_requests_needs_a_certificate() {
    let f = Fixture::new().await;
    let new = NewServiceProvider {
        team_id: f.team.id.clone(),
        entity_id: "https://sp.example.test/metadata".to_owned(),
        acs_urls: vec![ACS.to_owned()],
        requires_signed_requests: true,
        ..NewServiceProvider::default()
    };
    let refused = f.sps.add(new, &f.team.admin.actor, f.now).await;
    assert!(
        matches!(refused, Err(SamlError::SignedRequestsNeedCertificate)),
        "{refused:?}"
    );
}

#[tokio::test]
async fn forgetting_the_certificate_stops_requiring_signed_requests() {
    let f = Fixture::new().await;
    let key = SpKey::generate();
    let sp = f
        .sp(|new| {
            new.signing_cert = Some(key.cert_pem.clone());
            new.requires_signed_requests = true;
        })
        .await;
    let change = crate::ServiceProviderChange {
        signing_cert: Some(None),
        ..Default::default()
    };
    let (updated, changed) = f
        .sps
        .update(&sp.sp_id, change, &f.team.admin.actor, f.now)
        .await
        .unwrap();
    assert!(!updated.requires_signed_requests && !updated.verifies_signed_requests);
    assert_eq!(changed, ["signing_cert", "requires_signed_requests"]);
}

/// An SP's metadata listing a POST ACS at indexes 1 and 2, and an Artifact one at 3.
const INDEXED_METADATA: &str = r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://sp.example.test/metadata">
  <md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:X509SubjectName</md:NameIDFormat>
    <md:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:transient</md:NameIDFormat>
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact" Location="https://sp.example.test/acs/artifact" index="3"/>
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://sp.example.test/acs/second" index="2"/>
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://sp.example.test/acs" index="1" isDefault="true"/>
  </md:SPSSODescriptor>
</md:EntityDescriptor>"#;

/// The SP registered from [`INDEXED_METADATA`], as the CLI and the page do.
async fn registered_from_metadata(f: &Fixture) {
    let metadata = SpMetadata::parse(INDEXED_METADATA).unwrap();
    assert_eq!(metadata.name_id_format, Some(NameIdFormat::Transient));
    assert_eq!(metadata.authn_requests_signed, None);
    f.sp(|new| {
        new.acs_urls = metadata.acs_urls;
        new.acs_endpoints = metadata.acs_endpoints;
        new.name_id_format = metadata.name_id_format.unwrap_or_default();
    })
    .await;
}

fn by_index(id: &str, f: &Fixture, index: u16) -> AuthnRequest {
    let mut request = AuthnRequest::new(id, f.now);
    (request.acs_url, request.acs_index) = (None, Some(index));
    request
}

#[tokio::test]
async fn an_acs_index_is_the_metadatas_index() {
    let f = Fixture::new().await;
    registered_from_metadata(&f).await;
    let (_, bo) = f.signed_in(&f.bo).await;
    for (id, index, acs) in [("_1", 1, ACS), ("_2", 2, SECOND_ACS)] {
        let request = by_index(id, &f, index);
        let form = posted(
            f.receive(request.post(None), Some(&bo), f.now)
                .await
                .unwrap(),
        );
        assert_eq!(form.action, acs, "index {index}");
    }
}

#[tokio::test]
async fn an_acs_index_of_another_binding_or_not_listed_is_refused() {
    let f = Fixture::new().await;
    registered_from_metadata(&f).await;
    let artifact = f
        .receive(by_index("_3", &f, 3).post(None), None, f.now)
        .await;
    match artifact {
        Err(refusal @ Refusal::AcsBinding { .. }) => assert_eq!(
            refusal.to_string(),
            "Helpdesk asks for the answer over the Artifact binding; Latchkey answers over HTTP-POST"
        ),
        other => panic!("expected AcsBinding, got {other:?}"),
    }
    let unlisted = f
        .receive(by_index("_0", &f, 0).post(None), None, f.now)
        .await;
    assert!(
        matches!(
            unlisted,
            Err(Refusal::AcsIndexNotRegistered { index: 0, .. })
        ),
        "{unlisted:?}"
    );
}

#[tokio::test]
async fn an_acs_index_and_url_together_are_refused() {
    let f = Fixture::new().await;
    f.sp(|_| {}).await;
    let mut both = AuthnRequest::new("_both", f.now);
    both.acs_index = Some(0);
    let refused = f.receive(both.post(None), None, f.now).await;
    assert!(
        matches!(refused, Err(Refusal::AcsIndexAndUrl { .. })),
        "{refused:?}"
    );
}

#[tokio::test]
async fn a_two_kilobyte_relay_state_is_returned_over_both_bindings() {
    let f = Fixture::new().await;
    let key = SpKey::generate();
    f.sp(|new| new.signing_cert = Some(key.cert_pem.clone()))
        .await;
    let (_, bo) = f.signed_in(&f.bo).await;
    let deep_link = long_relay_state(2048);
    let request = |id| AuthnRequest::new(id, f.now);
    for inbound in [
        request("_r").redirect(Some(&deep_link), None),
        request("_rs").redirect(Some(&deep_link), Some(&key)),
        request("_p").post(Some(&deep_link)),
        request("_ps").post_signed(Some(&deep_link), &key, Hash::Sha256),
    ] {
        let form = posted(f.receive(inbound, Some(&bo), f.now).await.unwrap());
        assert_eq!(form.field("RelayState"), Some(deep_link.as_str()));
    }
}

#[tokio::test]
async fn a_long_relay_state_is_kept_while_the_person_signs_in() {
    let f = Fixture::new().await;
    f.sp(|_| {}).await;
    let deep_link = long_relay_state(4096);
    let request = AuthnRequest::new("_r", f.now).redirect(Some(&deep_link), None);
    let id = kept_id(&redirected(f.receive(request, None, f.now).await.unwrap()));
    let later = f.later(TimeDelta::minutes(2));
    let (_, bo) =
        f.bo.sign_in(&f.db, latchkey_login::Opening::default(), later)
            .await;
    let form = posted(f.sign_ons.resume(&id, Some(&bo), later).await.unwrap());
    assert_eq!(form.field("RelayState"), Some(deep_link.as_str()));
}

#[tokio::test]
async fn a_hundred_kilobyte_relay_state_is_refused_over_both_bindings() {
    let f = Fixture::new().await;
    f.sp(|_| {}).await;
    let huge = long_relay_state(100 * 1024);
    let request = |id| AuthnRequest::new(id, f.now);
    for inbound in [
        request("_r").redirect(Some(&huge), None),
        request("_p").post(Some(&huge)),
    ] {
        let refused = f.receive(inbound, None, f.now).await;
        assert!(
            matches!(refused, Err(Refusal::RelayStateTooLong { .. })),
            "{refused:?}"
        );
    }
}

#[tokio::test]
async fn a_sign_on_started_here_keeps_a_long_relay_state_and_refuses_a_longer_one() {
    let f = Fixture::new().await;
    let sp = f.sp(|_| {}).await;
    let deep_link = long_relay_state(2048);
    let next = redirected(
        f.sign_ons
            .start(&f.identity, &sp.entity_id, Some(&deep_link), f.now)
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
    assert_eq!(form.field("RelayState"), Some(deep_link.as_str()));
    let too_long = long_relay_state(crate::MAX_RELAY_STATE + 1);
    let refused = f
        .sign_ons
        .start(&f.identity, &sp.entity_id, Some(&too_long), f.now)
        .await;
    assert!(
        matches!(refused, Err(Refusal::RelayStateTooLong { .. })),
        "{refused:?}"
    );
}

#[tokio::test]
async fn sha1_signatures_are_refused_unless_the_sp_is_allowed_them() {
    let f = Fixture::new().await;
    let key = SpKey::generate();
    let sp = f
        .sp(|new| new.signing_cert = Some(key.cert_pem.clone()))
        .await;
    let (_, bo) = f.signed_in(&f.bo).await;
    let request = |id| AuthnRequest::new(id, f.now);
    for inbound in [
        request("_r").redirect_hashed(None, &key, Hash::Sha1),
        request("_p").post_signed(None, &key, Hash::Sha1),
    ] {
        let refused = f.receive(inbound, Some(&bo), f.now).await;
        assert!(matches!(refused, Err(Refusal::Sha1 { .. })), "{refused:?}");
    }
    let allow = crate::ServiceProviderChange {
        allow_sha1: Some(true),
        ..Default::default()
    };
    f.sps
        .update(&sp.sp_id, allow, &f.team.admin.actor, f.now)
        .await
        .unwrap();
    for inbound in [
        request("_r2").redirect_hashed(Some("back"), &key, Hash::Sha1),
        request("_p2").post_signed(Some("back"), &key, Hash::Sha1),
    ] {
        let form = posted(f.receive(inbound, Some(&bo), f.now).await.unwrap());
        assert_eq!(form.field("RelayState"), Some("back"));
    }
}

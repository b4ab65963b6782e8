//! Single logout across SPs: the chain of `LogoutRequest`s Latchkey sends, read by a real
//! saml-rs SP, and the answers that move it.

use std::time::SystemTime;

use chrono::{DateTime, Utc};
use latchkey_login::SessionUser;
use saml_rs::{
    AcsEndpoint, BrowserInput, EntityId, IdpDescriptor, LogoutPolicy, LogoutSignaturePolicy,
    MetadataTrustPolicy, ReplayPolicy, Saml, SamlValidationContext, SloEndpoint, SpConfig,
    SpValidationPolicy,
};

use super::fixture::{Fixture, redirected};
use super::logout::index_of;
use super::messages::{AuthnRequest, LogoutRequest, SpKey, redirect};
use crate::{Inbound, LogoutChain, Refusal, ServiceProvider, SignOutNext, StepOutcome};

/// One of the person's SPs: its registration, and the key it signs with.
struct Sp {
    entity_id: String,
    acs: String,
    slo: String,
    key: SpKey,
    registered: ServiceProvider,
}

/// A LogoutRequest as the SP read it.
struct Asked {
    id: String,
    name_id: String,
    session_indexes: Vec<String>,
    relay_state: String,
}

impl Sp {
    async fn register(f: &Fixture, host: &str, name: &str, slo: bool) -> Self {
        let key = SpKey::generate();
        let entity_id = format!("https://{host}/metadata");
        let acs = format!("https://{host}/acs");
        let slo_url = format!("https://{host}/slo");
        let registered = f
            .sp(|new| {
                new.entity_id = entity_id.clone();
                new.name = Some(name.to_owned());
                new.acs_urls = vec![acs.clone()];
                new.slo_url = slo.then(|| slo_url.clone());
                new.signing_cert = Some(key.cert_pem.clone());
            })
            .await;
        Self {
            entity_id,
            acs,
            slo: slo_url,
            key,
            registered,
        }
    }

    /// `user`'s browser signs in to it: an assertion is answered at once.
    async fn signs_in(&self, f: &Fixture, user: &SessionUser, id: &str) {
        let mut request = AuthnRequest::new(id, f.now);
        request.issuer = self.entity_id.clone();
        request.acs_url = Some(self.acs.clone());
        let reply = f
            .receive(request.redirect(None, Some(&self.key)), Some(user), f.now)
            .await
            .unwrap();
        assert!(matches!(reply, crate::Reply::Post(_)), "{reply:?}");
    }

    /// Reads the LogoutRequest at `url` as the SP does: from Latchkey (its metadata), to
    /// this SP's logout URL, signed.
    async fn reads(&self, f: &Fixture, url: &str) -> Asked {
        let (to, query) = url.split_once('?').expect("a query");
        assert_eq!(to, self.slo, "sent to the SP's logout URL");
        let config = SpConfig::builder(EntityId::try_new(self.entity_id.clone()).unwrap())
            .acs_endpoint(AcsEndpoint::post(self.acs.clone()).unwrap())
            .slo_endpoint(SloEndpoint::redirect(self.slo.clone()).unwrap())
            .validation(SpValidationPolicy {
                logout: LogoutPolicy {
                    requests: LogoutSignaturePolicy::RequireSigned,
                    responses: LogoutSignaturePolicy::RequireSigned,
                },
                ..SpValidationPolicy::recommended()
            })
            .build()
            .unwrap();
        let sp = Saml::sp(config).unwrap();
        let metadata = f.sign_ons.metadata_xml(&f.identity, f.now).await.unwrap();
        let idp_entity = f
            .identity
            .addresses(&latchkey_testkit::issuer())
            .idp_entity_id;
        let idp = IdpDescriptor::from_metadata_xml_for(
            EntityId::try_new(idp_entity).unwrap(),
            &metadata,
            MetadataTrustPolicy::UnsignedForCompatibility,
        )
        .unwrap();
        // Latchkey stamps its requests with the real clock.
        let context =
            SamlValidationContext::new(SystemTime::now(), ReplayPolicy::DisabledForCompatibility);
        let received = sp
            .receive_slo(
                &idp,
                BrowserInput::<saml_rs::LogoutRequest>::redirect(query),
                context,
            )
            .expect("a signed LogoutRequest from Latchkey");
        let message = received.message();
        Asked {
            id: message.id().as_str().to_owned(),
            name_id: message.name_id().expect("a NameID").value().to_owned(),
            session_indexes: message
                .session_indexes()
                .iter()
                .map(|s| s.as_str().to_owned())
                .collect(),
            relay_state: received
                .relay_state()
                .as_deref()
                .unwrap_or_default()
                .to_owned(),
        }
    }

    /// Its LogoutResponse to `asked` over HTTP-Redirect, signed with `key` (its own
    /// unless another is given).
    fn answers(
        &self,
        asked: &Asked,
        status: &str,
        in_response_to: &str,
        key: Option<&SpKey>,
        at: DateTime<Utc>,
    ) -> Inbound {
        let xml = format!(
            concat!(
                "<samlp:LogoutResponse xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\"",
                " ID=\"_answer{id}\" Version=\"2.0\" IssueInstant=\"{issued}\" Destination=\"{destination}\" InResponseTo=\"{in_response_to}\">",
                "<saml:Issuer>{issuer}</saml:Issuer><samlp:Status><samlp:StatusCode Value=\"urn:oasis:names:tc:SAML:2.0:status:{status}\"/></samlp:Status></samlp:LogoutResponse>"
            ),
            id = asked.id.trim_start_matches('_'),
            issued = crate::response::instant(at),
            destination = super::fixture::destination(
                latchkey_core::urls::SAML_SLO,
                latchkey_core::urls::SAML_TEAM_SLO
            ),
            in_response_to = in_response_to,
            issuer = self.entity_id,
            status = status,
        );
        redirect(
            "SAMLResponse",
            &xml,
            Some(&asked.relay_state),
            Some((key.unwrap_or(&self.key), super::messages::Hash::Sha256)),
        )
    }
}

fn went_to(chain: &LogoutChain) -> String {
    match &chain.next {
        SignOutNext::Go(reply) | SignOutNext::Over(reply) => match reply {
            crate::Reply::Redirect(to) => to.clone(),
            other => panic!("expected a redirect, got {other:?}"),
        },
        SignOutNext::Done(status) => {
            panic!("expected a next step, the chain is over: {status:?}")
        }
    }
}

fn done(chain: LogoutChain) -> crate::SignOutStatus {
    match chain.next {
        SignOutNext::Done(status) => status,
        SignOutNext::Go(reply) | SignOutNext::Over(reply) => {
            panic!("expected the chain's page, got {reply:?}")
        }
    }
}

/// Two SPs the person signed in to with the same browser.
async fn signed_in_to_two(f: &Fixture) -> (Sp, Sp, SessionUser) {
    let one = Sp::register(f, "one.example.test", "Helpdesk", true).await;
    let two = Sp::register(f, "two.example.test", "Wiki", true).await;
    let (_, bo) = f.signed_in(&f.bo).await;
    one.signs_in(f, &bo, "_a1").await;
    two.signs_in(f, &bo, "_a2").await;
    (one, two, bo)
}

#[tokio::test]
async fn a_sign_out_at_latchkey_asks_each_sp_in_turn_as_it_was_told_of_the_person() {
    let f = Fixture::new().await;
    let (one, two, bo) = signed_in_to_two(&f).await;
    let chain = f
        .sign_ons
        .sign_out_of_applications(&bo.sid, f.now)
        .await
        .unwrap()
        .expect("a chain: the session signed in to two SPs");
    assert!(chain.id.len() <= 80, "fits in RelayState");

    let asked = one.reads(&f, &went_to(&chain)).await;
    assert_eq!(asked.name_id, "bo@acme.test");
    assert_eq!(
        asked.session_indexes,
        vec![index_of(&one.registered, &bo.sid)]
    );
    assert_eq!(asked.relay_state, chain.id);
    let answer = one.answers(&asked, "Success", &asked.id, None, f.now);
    let chain = f.sign_ons.logout_answered(answer, f.now).await.unwrap();

    let asked = two.reads(&f, &went_to(&chain)).await;
    assert_eq!(asked.name_id, "bo@acme.test");
    assert_eq!(
        asked.session_indexes,
        vec![index_of(&two.registered, &bo.sid)]
    );
    assert_ne!(
        asked.session_indexes[0],
        index_of(&one.registered, &bo.sid),
        "each SP has its own SessionIndex"
    );
    let answer = two.answers(&asked, "Success", &asked.id, None, f.now);
    let status = done(
        f.sign_ons
            .logout_answered(answer.clone_inbound(), f.now)
            .await
            .unwrap(),
    );
    assert_eq!(status.signed_out, vec!["Helpdesk", "Wiki"]);
    assert!(status.may_be_signed_in.is_empty(), "{status:?}");
    assert!(!status.returns_to_application);

    // Each answer moves the chain once.
    let again = f.sign_ons.logout_answered(answer, f.now).await;
    assert!(matches!(again, Err(Refusal::SignOutOver)), "{again:?}");
}

#[tokio::test]
async fn a_failure_status_is_noted_and_the_chain_goes_on() {
    let f = Fixture::new().await;
    let (one, two, bo) = signed_in_to_two(&f).await;
    let chain = f
        .sign_ons
        .sign_out_of_applications(&bo.sid, f.now)
        .await
        .unwrap()
        .unwrap();
    let asked = one.reads(&f, &went_to(&chain)).await;
    let failed = one.answers(&asked, "Responder", &asked.id, None, f.now);
    let chain = f.sign_ons.logout_answered(failed, f.now).await.unwrap();
    let asked = two.reads(&f, &went_to(&chain)).await;
    let answer = two.answers(&asked, "Success", &asked.id, None, f.now);
    let status = done(f.sign_ons.logout_answered(answer, f.now).await.unwrap());
    assert_eq!(status.signed_out, vec!["Wiki"]);
    assert_eq!(
        status.may_be_signed_in,
        vec![("Helpdesk".to_owned(), StepOutcome::Failed)]
    );
}

#[tokio::test]
async fn an_answer_to_another_request_or_signed_by_another_key_is_refused() {
    let f = Fixture::new().await;
    let (one, two, bo) = signed_in_to_two(&f).await;
    let chain = f
        .sign_ons
        .sign_out_of_applications(&bo.sid, f.now)
        .await
        .unwrap()
        .unwrap();
    let asked = one.reads(&f, &went_to(&chain)).await;
    let wrong = one.answers(&asked, "Success", "_some_other_request", None, f.now);
    let chain = f.sign_ons.logout_answered(wrong, f.now).await.unwrap();
    let asked = two.reads(&f, &went_to(&chain)).await;
    let forged = two.answers(
        &asked,
        "Success",
        &asked.id,
        Some(&SpKey::generate()),
        f.now,
    );
    let status = done(f.sign_ons.logout_answered(forged, f.now).await.unwrap());
    assert!(status.signed_out.is_empty(), "{status:?}");
    assert_eq!(
        status.may_be_signed_in,
        vec![
            ("Helpdesk".to_owned(), StepOutcome::Refused),
            ("Wiki".to_owned(), StepOutcome::Refused),
        ]
    );
}

#[tokio::test]
async fn an_sp_without_a_logout_url_is_skipped_and_named_on_the_page() {
    let f = Fixture::new().await;
    let one = Sp::register(&f, "one.example.test", "Helpdesk", false).await;
    let two = Sp::register(&f, "two.example.test", "Wiki", true).await;
    let (_, bo) = f.signed_in(&f.bo).await;
    one.signs_in(&f, &bo, "_a1").await;
    two.signs_in(&f, &bo, "_a2").await;
    let chain = f
        .sign_ons
        .sign_out_of_applications(&bo.sid, f.now)
        .await
        .unwrap()
        .unwrap();
    let asked = two.reads(&f, &went_to(&chain)).await;
    let answer = two.answers(&asked, "Success", &asked.id, None, f.now);
    let status = done(f.sign_ons.logout_answered(answer, f.now).await.unwrap());
    assert_eq!(status.signed_out, vec!["Wiki"]);
    assert_eq!(
        status.may_be_signed_in,
        vec![("Helpdesk".to_owned(), StepOutcome::NoLogoutUrl)]
    );
}

#[tokio::test]
async fn an_sp_that_never_answers_is_passed_over_when_the_person_goes_on() {
    let f = Fixture::new().await;
    let (one, two, bo) = signed_in_to_two(&f).await;
    let chain = f
        .sign_ons
        .sign_out_of_applications(&bo.sid, f.now)
        .await
        .unwrap()
        .unwrap();
    one.reads(&f, &went_to(&chain)).await;
    let status = f
        .sign_ons
        .sign_out_status(&chain.id, f.now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.waiting_on.as_deref(), Some("Helpdesk"));
    assert_eq!(status.not_yet, vec!["Wiki"]);
    let next = f.sign_ons.go_on(&chain.id, f.now).await.unwrap();
    let SignOutNext::Go(reply) = next else {
        panic!("expected the next SP");
    };
    let asked = two.reads(&f, &redirected(reply)).await;
    let answer = two.answers(&asked, "Success", &asked.id, None, f.now);
    let status = done(f.sign_ons.logout_answered(answer, f.now).await.unwrap());
    assert_eq!(
        status.may_be_signed_in,
        vec![("Helpdesk".to_owned(), StepOutcome::NoAnswer)]
    );
    // Its page lasts as long as the chain, then the row is swept.
    let later = f.now + crate::LOGOUT_CHAIN_TTL;
    assert!(
        f.sign_ons
            .sign_out_status(&chain.id, later)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn a_logout_started_by_one_sp_signs_out_of_the_other_and_then_answers_it() {
    let f = Fixture::new().await;
    let (one, two, bo) = signed_in_to_two(&f).await;
    let request = LogoutRequest {
        id: "_from_one".to_owned(),
        issued: f.now,
        name_id: "bo@acme.test".to_owned(),
        session_indexes: vec![index_of(&one.registered, &bo.sid)],
    };
    let xml = request
        .xml()
        .replace(super::fixture::SP_ENTITY_ID, &one.entity_id);
    let inbound = redirect(
        "SAMLRequest",
        &xml,
        Some("back-to-one"),
        Some((&one.key, crate::tests::messages::Hash::Sha256)),
    );
    let asked_by_one = f
        .sign_ons
        .check_logout(&f.identity, inbound, f.now)
        .await
        .unwrap();
    let outcome = f
        .sign_ons
        .logout(asked_by_one, Some(&bo), false, f.now)
        .await
        .unwrap();
    assert!(outcome.end_this_browser, "Latchkey's session ends first");
    let chain_id = outcome.chain.clone().expect("a chain");
    let SignOutNext::Go(reply) = outcome.next else {
        panic!("expected the other SP");
    };
    let asked = two.reads(&f, &redirected(reply)).await;
    assert_eq!(asked.relay_state, chain_id);
    let answer = two.answers(&asked, "Success", &asked.id, None, f.now);
    let chain = f.sign_ons.logout_answered(answer, f.now).await.unwrap();
    // Every other SP confirmed: the SP that asked gets its LogoutResponse at once.
    let to = went_to(&chain);
    assert!(
        to.starts_with(&format!("{}?SAMLResponse=", one.slo)),
        "{to}"
    );
}

trait CloneInbound {
    fn clone_inbound(&self) -> Inbound;
}

impl CloneInbound for Inbound {
    fn clone_inbound(&self) -> Inbound {
        match self {
            Inbound::Redirect(query) => Inbound::Redirect(query.clone()),
            Inbound::Post {
                message,
                relay_state,
            } => Inbound::Post {
                message: message.clone(),
                relay_state: relay_state.clone(),
            },
        }
    }
}

//! Single logout started by an SP: which sessions a `LogoutRequest` ends, by whether it is
//! signed and what it names, and the reply over the binding it came by.

use latchkey_login::Opening;

use super::fixture::{Fixture, SLO, posted, redirected};
use super::messages::{AuthnRequest, LogoutRequest, SpKey};
use crate::{Refusal, ServiceProvider, SignOutNext};

/// The SessionIndex `sp` was given for a session.
pub(super) fn index_of(sp: &ServiceProvider, sid: &str) -> String {
    sp.session_index(sid)
}

fn ask(id: &str, f: &Fixture, name_id: &str, indexes: Vec<String>) -> LogoutRequest {
    LogoutRequest {
        id: id.to_owned(),
        issued: f.now,
        name_id: name_id.to_owned(),
        session_indexes: indexes,
    }
}

/// The LogoutResponse itself: no other SP to sign out of first.
fn answered(next: SignOutNext) -> crate::Reply {
    match next {
        SignOutNext::Go(reply) => reply,
        SignOutNext::Over(reply) => panic!("expected no chain, got its end: {reply:?}"),
        SignOutNext::Done(status) => panic!("expected the LogoutResponse, got {status:?}"),
    }
}

/// Kept requests (sign-ons and logout request IDs).
async fn kept_rows(f: &Fixture) -> u64 {
    use sea_orm::{EntityTrait, PaginatorTrait};
    crate::entities::pending_request::Entity::find()
        .count(f.db.read())
        .await
        .unwrap()
}

async fn live(f: &Fixture, secret: &latchkey_core::secret::SecretToken) -> bool {
    let sessions = latchkey_testkit::sessions(&f.db);
    sessions.current(secret, f.now).await.unwrap().is_some()
}

#[tokio::test]
async fn an_unsigned_request_ends_this_browser_only_when_it_names_its_session() {
    let f = Fixture::new().await;
    let sp = f.sp(|_| {}).await;
    let (secret, bo) = f.signed_in(&f.bo).await;
    let by_address = ask("_l1", &f, "bo@acme.test", vec![]);
    let outcome = f
        .logout(by_address.redirect(None), Some(&bo), false, f.now)
        .await
        .unwrap();
    assert!(!outcome.end_this_browser, "an address alone ends nothing");
    let named = ask("_l2", &f, "bo@acme.test", vec![index_of(&sp, &bo.sid)]);
    let outcome = f
        .logout(named.redirect(None), Some(&bo), false, f.now)
        .await
        .unwrap();
    assert!(outcome.end_this_browser);
    assert!(!live(&f, &secret).await, "this browser's session ended");
    let to = redirected(answered(outcome.next));
    assert!(to.starts_with(&format!("{SLO}?SAMLResponse=")), "{to}");
}

#[tokio::test]
async fn an_unsigned_request_naming_someone_else_leaves_this_browser_signed_in() {
    let f = Fixture::new().await;
    let sp = f.sp(|_| {}).await;
    let (_, bo) = f.signed_in(&f.bo).await;
    let other = ask("_l1", &f, "ada@acme.test", vec![index_of(&sp, &bo.sid)]);
    let outcome = f
        .logout(other.redirect(None), Some(&bo), false, f.now)
        .await
        .unwrap();
    assert!(!outcome.end_this_browser);
}

#[tokio::test]
async fn an_unsigned_request_never_ends_sessions_elsewhere() {
    let f = Fixture::new().await;
    let sp = f.sp(|_| {}).await;
    let (elsewhere, bo) = f.signed_in(&f.bo).await;
    let named = ask("_l1", &f, "bo@acme.test", vec![index_of(&sp, &bo.sid)]);
    f.logout(named.redirect(None), None, false, f.now)
        .await
        .unwrap();
    assert!(live(&f, &elsewhere).await);
}

#[tokio::test]
async fn a_signed_request_ends_the_sessions_it_names_wherever_they_are() {
    let f = Fixture::new().await;
    let key = SpKey::generate();
    let sp = f
        .sp(|new| {
            new.signing_cert = Some(key.cert_pem.clone());
            new.requires_signed_requests = true;
        })
        .await;
    let (named_secret, named) = f.signed_in(&f.bo).await;
    let (other_secret, _) = f.bo.sign_in(&f.db, Opening::default(), f.now).await;
    let request = ask("_l1", &f, "bo@acme.test", vec![index_of(&sp, &named.sid)]);
    let outcome = f
        .logout(request.redirect(Some(&key)), None, false, f.now)
        .await
        .unwrap();
    assert!(!outcome.end_this_browser);
    assert!(!live(&f, &named_secret).await, "the named session ended");
    assert!(
        live(&f, &other_secret).await,
        "another session of the same person stays"
    );
}

#[tokio::test]
async fn a_signed_request_ends_this_browser_by_its_person_alone() {
    let f = Fixture::new().await;
    let key = SpKey::generate();
    f.sp(|new| {
        new.signing_cert = Some(key.cert_pem.clone());
        new.requires_signed_requests = true;
    })
    .await;
    let (_, bo) = f.signed_in(&f.bo).await;
    let request = ask("_l1", &f, "bo@acme.test", vec![]);
    let outcome = f
        .logout(request.redirect(Some(&key)), Some(&bo), false, f.now)
        .await
        .unwrap();
    assert!(outcome.end_this_browser);
    let unsigned = ask("_l2", &f, "bo@acme.test", vec![]);
    let refused = f
        .logout(unsigned.redirect(None), Some(&bo), false, f.now)
        .await;
    assert!(
        matches!(refused, Err(Refusal::NotSigned { .. })),
        "{refused:?}"
    );
}

#[tokio::test]
async fn a_logout_request_is_refused_when_received_again() {
    let f = Fixture::new().await;
    let sp = f.sp(|_| {}).await;
    let (_, bo) = f.signed_in(&f.bo).await;
    let request = ask("_again", &f, "bo@acme.test", vec![index_of(&sp, &bo.sid)]);
    f.logout(request.redirect(None), Some(&bo), false, f.now)
        .await
        .unwrap();
    let replay = f.logout(request.post(), Some(&bo), true, f.now).await;
    assert!(matches!(replay, Err(Refusal::LogoutReplay)), "{replay:?}");
    // Once the session is over it names nothing, and is still refused.
    let replay = f.logout(request.post(), None, true, f.now).await;
    assert!(matches!(replay, Err(Refusal::LogoutReplay)), "{replay:?}");
}

#[tokio::test]
async fn a_logout_request_signed_with_sha1_is_refused_unless_the_sp_is_allowed_it() {
    let f = Fixture::new().await;
    let key = SpKey::generate();
    let sp = f
        .sp(|new| {
            new.signing_cert = Some(key.cert_pem.clone());
            new.requires_signed_requests = true;
        })
        .await;
    let (_, bo) = f.signed_in(&f.bo).await;
    let request = ask("_sha1", &f, "bo@acme.test", vec![index_of(&sp, &bo.sid)]);
    let sha1 = request.redirect_hashed(&key, super::messages::Hash::Sha1);
    let refused = f.logout(sha1, Some(&bo), false, f.now).await;
    assert!(matches!(refused, Err(Refusal::Sha1 { .. })), "{refused:?}");
    let allowed = f
        .sps
        .update(
            &sp.sp_id,
            crate::ServiceProviderChange {
                allow_sha1: Some(true),
                ..Default::default()
            },
            &f.team.admin.actor,
            f.now,
        )
        .await;
    allowed.unwrap();
    f.sps.forget_copies();
    let sha1 = request.redirect_hashed(&key, super::messages::Hash::Sha1);
    let answered = f.logout(sha1, Some(&bo), false, f.now).await;
    assert!(answered.is_ok(), "{answered:?}");
}

#[tokio::test]
async fn an_authn_request_id_cannot_be_used_again_as_a_logout_request() {
    let f = Fixture::new().await;
    let sp = f.sp(|_| {}).await;
    let (_, bo) = f.signed_in(&f.bo).await;
    f.receive(AuthnRequest::new("_shared", f.now).post(None), None, f.now)
        .await
        .unwrap();
    let replay = f
        .logout(
            ask("_shared", &f, "bo@acme.test", vec![index_of(&sp, &bo.sid)]).post(),
            Some(&bo),
            true,
            f.now,
        )
        .await;
    assert!(matches!(replay, Err(Refusal::LogoutReplay)), "{replay:?}");
}

#[tokio::test]
async fn a_forged_unsigned_request_writes_no_row() {
    let f = Fixture::new().await;
    f.sp(|_| {}).await;
    let (secret, bo) = f.signed_in(&f.bo).await;
    let before = kept_rows(&f).await;
    // Unsigned, for an SP without a certificate: anyone can send these, with any ID and a
    // guessed SessionIndex. They name no session, so they are answered and nothing is kept.
    for n in 0..5 {
        let forged = ask(
            &format!("_forged{n}"),
            &f,
            "bo@acme.test",
            vec![format!("{n:032x}")],
        );
        let outcome = f
            .logout(forged.redirect(None), Some(&bo), false, f.now)
            .await
            .unwrap();
        assert!(!outcome.end_this_browser);
    }
    // One that fails its checks (issued an hour ago) is refused, and writes nothing either.
    let stale = LogoutRequest {
        issued: f.now - chrono::TimeDelta::hours(1),
        ..ask("_stale", &f, "bo@acme.test", vec![])
    };
    let refused = f
        .logout(stale.redirect(None), Some(&bo), false, f.now)
        .await;
    assert!(
        matches!(refused, Err(Refusal::Unreadable(_))),
        "{refused:?}"
    );
    assert_eq!(kept_rows(&f).await, before, "no row written");
    assert!(live(&f, &secret).await);
}

#[tokio::test]
async fn an_sp_without_a_logout_url_is_refused() {
    let f = Fixture::new().await;
    f.sp(|new| new.slo_url = None).await;
    let refused = f
        .logout(
            ask("_l1", &f, "bo@acme.test", vec![]).post(),
            None,
            true,
            f.now,
        )
        .await;
    assert!(
        matches!(refused, Err(Refusal::NoLogoutUrl { .. })),
        "{refused:?}"
    );
}

#[tokio::test]
async fn a_request_over_post_is_answered_over_post() {
    let f = Fixture::new().await;
    f.sp(|_| {}).await;
    let outcome = f
        .logout(
            ask("_p", &f, "bo@acme.test", vec![]).post(),
            None,
            true,
            f.now,
        )
        .await
        .unwrap();
    let form = posted(answered(outcome.next));
    assert_eq!(form.action, SLO);
    assert!(form.field("SAMLResponse").is_some());
    assert_eq!(form.title, "Signing you out…");
}

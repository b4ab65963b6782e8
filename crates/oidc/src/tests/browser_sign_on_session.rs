//! Browser sign-on and the browser's session: not replaced without asking (but renewed by the
//! integration that opened it, and never asked about inside a frame), a token refused after it
//! verified spent, a team-bound session kept off the person's own account, and a database that
//! cannot take requests said as such.

use latchkey_login::{Opening, SessionUser};

use super::browser_sign_on::{HELPDESK, Key, now, refusal, request, sign_on, signed_on, trust};
use super::fixture::Fixture;
use crate::federation::{BrowserOutcome, BrowserRequest, SignOnRefused};

/// Bo, signed in: in his own session, or in one the helpdesk opened in Acme.
async fn bo_signed_in(f: &Fixture, by_helpdesk: bool) -> SessionUser {
    let opening = Opening {
        team_id: Some(&f.team.id),
        opened_by: by_helpdesk.then_some(HELPDESK),
        ..Opening::default()
    };
    f.signed_in_at(&f.bo, opening, now()).await
}

#[tokio::test]
async fn a_top_level_sign_on_asks_before_replacing_the_persons_own_session() {
    let f = Fixture::new().await;
    let key = Key::generate();
    trust(&f, &f.team.id, &f.team.admin, &key, None, now()).await;
    let bo = bo_signed_in(&f, false).await;
    let token = key.token(
        "pat@acme.test",
        &latchkey_testkit::issuer().to_string(),
        "1",
    );
    let with_session = |confirmed| BrowserRequest {
        current: Some(&bo),
        confirmed,
        ..request(&token, None)
    };

    let asked = sign_on(&f, with_session(false)).await;
    let Ok(BrowserOutcome::Ask(question)) = asked else {
        panic!("expected a question, got {asked:?}");
    };
    assert_eq!(question.signed_in_as, "bo@acme.test");
    assert_eq!(question.continuing_as, "pat@acme.test");
    assert_eq!(question.issuer, HELPDESK);
    // Asking spent nothing: confirmed, the same token signs in.
    let done = signed_on(sign_on(&f, with_session(true)).await);
    assert_eq!(done.team_id, f.team.id);
}

#[tokio::test]
async fn the_same_integration_renews_its_own_session_for_the_same_person_without_asking() {
    let f = Fixture::new().await;
    let key = Key::generate();
    trust(&f, &f.team.id, &f.team.admin, &key, None, now()).await;
    let issuer = latchkey_testkit::issuer().to_string();
    // Bo's first sign-on through the helpdesk links him to its identity.
    let first =
        signed_on(sign_on(&f, request(&key.token("bo@acme.test", &issuer, "1"), None)).await);
    let sessions = latchkey_testkit::sessions(&f.db);
    let bo = sessions
        .current(&first.session, now())
        .await
        .unwrap()
        .unwrap();
    let again = key.token("bo@acme.test", &issuer, "2");
    let other = key.token("pat@acme.test", &issuer, "3");

    let renewed = sign_on(
        &f,
        BrowserRequest {
            current: Some(&bo),
            ..request(&again, None)
        },
    )
    .await;
    let someone_else = sign_on(
        &f,
        BrowserRequest {
            current: Some(&bo),
            ..request(&other, None)
        },
    )
    .await;

    assert_eq!(signed_on(renewed).user_id, bo.user_id);
    assert!(
        matches!(someone_else, Ok(BrowserOutcome::Ask(_))),
        "{someone_else:?}"
    );
}

#[tokio::test]
async fn inside_a_frame_the_persons_top_level_session_is_not_asked_about() {
    let f = Fixture::new().await;
    let key = Key::generate();
    trust(
        &f,
        &f.team.id,
        &f.team.admin,
        &key,
        Some("https://desk.acme.test"),
        now(),
    )
    .await;
    let bo = bo_signed_in(&f, true).await;
    let token = key.token(
        "pat@acme.test",
        &latchkey_testkit::issuer().to_string(),
        "1",
    );

    let framed = sign_on(
        &f,
        BrowserRequest {
            current: Some(&bo),
            framed: true,
            ..request(&token, None)
        },
    )
    .await;

    assert_eq!(signed_on(framed).team_id, f.team.id);
}

#[tokio::test]
async fn a_token_refused_after_it_verified_is_spent() {
    let f = Fixture::new().await;
    let key = Key::generate();
    // No frame origin: the helpdesk's tokens may not sign in inside a frame.
    trust(&f, &f.team.id, &f.team.admin, &key, None, now()).await;
    let token = key.token(
        "pat@acme.test",
        &latchkey_testkit::issuer().to_string(),
        "1",
    );

    let framed = refusal(
        sign_on(
            &f,
            BrowserRequest {
                framed: true,
                ..request(&token, None)
            },
        )
        .await,
    );
    let top_level = refusal(sign_on(&f, request(&token, None)).await);

    assert!(framed.contains("frame"), "{framed}");
    assert!(top_level.contains("used before"), "{top_level}");
}

#[tokio::test]
async fn a_token_framed_over_plain_http_is_spent() {
    let f = Fixture::new().await;
    let key = Key::generate();
    trust(
        &f,
        &f.team.id,
        &f.team.admin,
        &key,
        Some("https://desk.acme.test"),
        now(),
    )
    .await;
    let token = key.token(
        "pat@acme.test",
        &latchkey_testkit::issuer().to_string(),
        "1",
    );
    let over_http = BrowserRequest {
        framed: true,
        framable: false,
        ..request(&token, None)
    };

    let framed = refusal(sign_on(&f, over_http).await);
    let again = refusal(sign_on(&f, request(&token, None)).await);

    assert!(framed.contains("https"), "{framed}");
    assert!(again.contains("used before"), "{again}");
}

#[tokio::test]
async fn a_token_the_person_declined_is_spent() {
    let f = Fixture::new().await;
    let key = Key::generate();
    trust(&f, &f.team.id, &f.team.admin, &key, None, now()).await;
    let token = key.token(
        "pat@acme.test",
        &latchkey_testkit::issuer().to_string(),
        "1",
    );

    f.provider
        .federation()
        .decline_in_browser(&token, None, now())
        .await;
    let after = refusal(sign_on(&f, request(&token, None)).await);

    assert!(after.contains("used before"), "{after}");
}

#[tokio::test]
async fn a_token_naming_someone_the_integration_may_not_sign_in_is_spent() {
    let f = Fixture::new().await;
    let key = Key::generate();
    trust(&f, &f.team.id, &f.team.admin, &key, None, now()).await;
    // Ada administers Acme, and the helpdesk has no administrator claim.
    let token = key.token(
        "ada@acme.test",
        &latchkey_testkit::issuer().to_string(),
        "1",
    );

    let first = refusal(sign_on(&f, request(&token, None)).await);
    let again = refusal(sign_on(&f, request(&token, None)).await);

    assert!(first.contains("cannot sign in"), "{first}");
    assert!(again.contains("used before"), "{again}");
}

#[tokio::test]
async fn a_session_the_integration_opens_may_change_only_an_account_of_its_teams_own() {
    let f = Fixture::new().await;
    let key = Key::generate();
    trust(&f, &f.team.id, &f.team.admin, &key, None, now()).await;
    let issuer = latchkey_testkit::issuer().to_string();
    let sessions = latchkey_testkit::sessions(&f.db);

    // Pat is no one here: the helpdesk makes an identity of Acme's own.
    let pat =
        signed_on(sign_on(&f, request(&key.token("pat@acme.test", &issuer, "1"), None)).await);
    // Bo has his own account, a plain member of Acme: the helpdesk links it.
    let bo = signed_on(sign_on(&f, request(&key.token("bo@acme.test", &issuer, "2"), None)).await);
    let pat = sessions
        .current(&pat.session, now())
        .await
        .unwrap()
        .unwrap();
    let bo = sessions.current(&bo.session, now()).await.unwrap().unwrap();

    assert_eq!(pat.opened_by.as_deref(), Some(HELPDESK));
    assert_eq!(bo.team_id.as_ref(), Some(&f.team.id));
    assert!(pat.may_change_account(), "Pat's identity is Acme's alone");
    assert!(
        !bo.may_change_account(),
        "Bo's account is his own, beyond Acme"
    );
}

#[tokio::test]
async fn a_database_that_cannot_take_requests_is_said_as_such() {
    let f = Fixture::new().await;
    let key = Key::generate();
    trust(&f, &f.team.id, &f.team.admin, &key, None, now()).await;
    let token = key.token(
        "pat@acme.test",
        &latchkey_testkit::issuer().to_string(),
        "1",
    );
    // Every clone of the connection shares its pool: closing one closes them all.
    f.db.read().clone().close().await.unwrap();

    let outcome = sign_on(&f, request(&token, None)).await;

    assert!(
        matches!(outcome, Err(SignOnRefused::Unavailable)),
        "{outcome:?}"
    );
}

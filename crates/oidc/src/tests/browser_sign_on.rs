//! Browser sign-on with an integration's token: which team's trust a token goes to when
//! several teams trust one issuer, that a team's own URL counts its trusts alone, that the
//! browser's own session is not replaced without asking, and that a token refused after it
//! verified is spent.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use chrono::{DateTime, TimeDelta, Utc};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use latchkey_core::{Clock, TeamId};
use latchkey_login::{Opening, Requester, SessionUser};
use latchkey_testkit::{Member, Team};
use serde_json::json;

use super::fixture::Fixture;
use crate::federation::{
    BrowserOutcome, BrowserRequest, BrowserSignOn, NewIssuer, SignOnRefused, TrustedIssuers,
};
use crate::remote_jwks::RemoteJwks;

const HELPDESK: &str = "https://helpdesk.acme.test";

/// An integration's signing key, and its public half as a key set.
struct Key {
    encoding: EncodingKey,
    jwks: String,
}

impl Key {
    fn generate() -> Self {
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .unwrap();
        let encoding = EncodingKey::from_ec_der(pkcs8.as_ref());
        let jwk: Jwk = Jwk::from_encoding_key(&encoding, Algorithm::ES256).unwrap();
        let jwks = serde_json::to_string(&JwkSet { keys: vec![jwk] }).unwrap();
        Self { encoding, jwks }
    }

    /// A token naming `email`, made out to `aud`, with its own jti.
    fn token(&self, email: &str, aud: &str, jti: &str) -> String {
        let now = Utc::now().timestamp();
        let claims = json!({
            "iss": HELPDESK, "sub": email, "email": email, "aud": aud,
            "iat": now, "exp": now + 60, "jti": jti,
        });
        jsonwebtoken::encode(&Header::new(Algorithm::ES256), &claims, &self.encoding).unwrap()
    }
}

/// The library checks `exp` against the system clock, so these tests run on it too.
fn now() -> DateTime<Utc> {
    Utc::now()
}

/// `team` trusts the helpdesk with `key`, as its administrator `admin` adds it at `at`;
/// `frame_origin` lets a site frame its sessions.
async fn trust(
    f: &Fixture,
    team: &TeamId,
    admin: &Member,
    key: &Key,
    frame_origin: Option<&str>,
    at: DateTime<Utc>,
) {
    let jwks = RemoteJwks::new(Clock::system(), false).unwrap();
    let new = NewIssuer {
        jwks: Some(key.jwks.clone()),
        frame_origins: frame_origin.map(str::to_owned).into_iter().collect(),
        ..NewIssuer::new(team.clone(), HELPDESK)
    };
    TrustedIssuers::new(f.db.clone(), jwks)
        .add(new, &admin.actor, at)
        .await
        .expect("issuer trusted");
}

fn from() -> Requester {
    Requester {
        ip: "192.0.2.7".into(),
        user_agent: "test".into(),
        device: None,
    }
}

/// A top-level browser with no session, at `team`'s own URL or the shared one.
fn request<'a>(token: &'a str, team: Option<&'a TeamId>) -> BrowserRequest<'a> {
    BrowserRequest {
        token,
        team,
        framed: false,
        framable: true,
        current: None,
        confirmed: false,
    }
}

async fn sign_on(
    f: &Fixture,
    request: BrowserRequest<'_>,
) -> Result<BrowserOutcome, SignOnRefused> {
    let sessions = latchkey_testkit::sessions(&f.db);
    f.provider
        .federation()
        .sign_on_in_browser(request, &from(), &sessions, now())
        .await
}

fn signed_on(outcome: Result<BrowserOutcome, SignOnRefused>) -> BrowserSignOn {
    match outcome {
        Ok(BrowserOutcome::SignedOn(done)) => done,
        other => panic!("expected a sign-on, got {other:?}"),
    }
}

fn refusal(outcome: Result<BrowserOutcome, SignOnRefused>) -> String {
    match outcome {
        Err(SignOnRefused::Check(why)) => why,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// Acme trusts the helpdesk; Globex, founded by Eve, later trusts the same issuer with
/// Acme's public key (public keys are public).
async fn copied(f: &Fixture) -> (Key, Team) {
    let key = Key::generate();
    trust(f, &f.team.id, &f.team.admin, &key, None, now()).await;
    let globex = Team::found(&f.db, "Globex", "eve@globex.test", f.now).await;
    let later = now() + TimeDelta::seconds(1);
    trust(f, &globex.id, &globex.admin, &key, None, later).await;
    (key, globex)
}

#[tokio::test]
async fn a_later_copy_of_a_teams_issuer_neither_takes_over_nor_breaks_its_shared_sign_on() {
    let f = Fixture::new().await;
    let (key, _globex) = copied(&f).await;
    let issuer = latchkey_testkit::issuer().to_string();

    let done =
        signed_on(sign_on(&f, request(&key.token("pat@acme.test", &issuer, "1"), None)).await);

    assert_eq!(done.team_id, f.team.id);
}

#[tokio::test]
async fn a_teams_own_url_counts_its_own_trust_alone() {
    let f = Fixture::new().await;
    let (key, globex) = copied(&f).await;
    let issuer = latchkey_testkit::issuer().to_string();

    let at_acme = signed_on(
        sign_on(
            &f,
            request(&key.token("pat@acme.test", &issuer, "1"), Some(&f.team.id)),
        )
        .await,
    );
    // Globex holds Acme's key, so Acme's token verifies at Globex's URL: that signs the
    // person in to Globex (which chose to trust it), never to Acme.
    let at_globex = signed_on(
        sign_on(
            &f,
            request(&key.token("pat@acme.test", &issuer, "2"), Some(&globex.id)),
        )
        .await,
    );

    assert_eq!(at_acme.team_id, f.team.id);
    assert_eq!(at_globex.team_id, globex.id);
}

#[tokio::test]
async fn a_token_made_out_to_a_teams_own_url_fits_no_other_team() {
    let f = Fixture::new().await;
    let (key, globex) = copied(&f).await;
    let acme_url =
        latchkey_testkit::issuer().endpoint(&latchkey_core::urls::sso_jwt_team(f.team.id.as_str()));
    let token = key.token("pat@acme.test", &acme_url, "1");

    let at_globex = refusal(sign_on(&f, request(&token, Some(&globex.id))).await);
    let shared = refusal(sign_on(&f, request(&token, None)).await);
    let at_acme = signed_on(sign_on(&f, request(&token, Some(&f.team.id))).await);

    assert!(at_globex.contains("aud"), "{at_globex}");
    assert!(shared.contains("aud"), "{shared}");
    assert_eq!(at_acme.team_id, f.team.id);
}

#[tokio::test]
async fn a_refusal_names_no_other_team() {
    let f = Fixture::new().await;
    let (_, globex) = copied(&f).await;
    let stranger = Key::generate();
    let issuer = latchkey_testkit::issuer().to_string();
    let token = stranger.token("pat@acme.test", &issuer, "1");

    for team in [None, Some(&f.team.id), Some(&globex.id)] {
        let why = refusal(sign_on(&f, request(&token, team)).await);
        assert!(why.contains("signature"), "{why}");
        assert!(!why.contains("team"), "{why}");
    }
}

#[tokio::test]
async fn an_issuer_another_team_trusts_is_not_trusted_at_this_teams_url() {
    let f = Fixture::new().await;
    let key = Key::generate();
    let globex = Team::found(&f.db, "Globex", "eve@globex.test", f.now).await;
    trust(&f, &globex.id, &globex.admin, &key, None, now()).await;
    let issuer = latchkey_testkit::issuer().to_string();

    let why = refusal(
        sign_on(
            &f,
            request(&key.token("pat@acme.test", &issuer, "1"), Some(&f.team.id)),
        )
        .await,
    );

    assert!(why.contains("not trusted by this team"), "{why}");
}

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

//! Browser sign-on with an integration's token: which team's trust a token goes to when
//! several teams trust one issuer, and that a team's own URL counts its trusts alone. What
//! happens to the browser's session and to refused tokens is in `browser_sign_on_session`.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use chrono::{DateTime, TimeDelta, Utc};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use latchkey_core::{Clock, TeamId};
use latchkey_login::Requester;
use latchkey_testkit::{Member, Team};
use serde_json::json;

use super::fixture::Fixture;
use crate::federation::{
    BrowserOutcome, BrowserRequest, BrowserSignOn, NewIssuer, SignOnRefused, TrustedIssuers,
};
use crate::remote_jwks::RemoteJwks;

pub(super) const HELPDESK: &str = "https://helpdesk.acme.test";

/// An integration's signing key, and its public half as a key set.
pub(super) struct Key {
    encoding: EncodingKey,
    jwks: String,
}

impl Key {
    pub(super) fn generate() -> Self {
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .unwrap();
        let encoding = EncodingKey::from_ec_der(pkcs8.as_ref());
        let jwk: Jwk = Jwk::from_encoding_key(&encoding, Algorithm::ES256).unwrap();
        let jwks = serde_json::to_string(&JwkSet { keys: vec![jwk] }).unwrap();
        Self { encoding, jwks }
    }

    /// A token naming `email`, made out to `aud`, with its own jti.
    pub(super) fn token(&self, email: &str, aud: &str, jti: &str) -> String {
        let now = Utc::now().timestamp();
        let claims = json!({
            "iss": HELPDESK, "sub": email, "email": email, "aud": aud,
            "iat": now, "exp": now + 60, "jti": jti,
        });
        jsonwebtoken::encode(&Header::new(Algorithm::ES256), &claims, &self.encoding).unwrap()
    }
}

/// The library checks `exp` against the system clock, so these tests run on it too.
pub(super) fn now() -> DateTime<Utc> {
    Utc::now()
}

/// `team` trusts the helpdesk with `key`, as its administrator `admin` adds it at `at`;
/// `frame_origin` lets a site frame its sessions.
pub(super) async fn trust(
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
pub(super) fn request<'a>(token: &'a str, team: Option<&'a TeamId>) -> BrowserRequest<'a> {
    BrowserRequest {
        token,
        team,
        framed: false,
        framable: true,
        current: None,
        confirmed: false,
    }
}

pub(super) async fn sign_on(
    f: &Fixture,
    request: BrowserRequest<'_>,
) -> Result<BrowserOutcome, SignOnRefused> {
    let sessions = latchkey_testkit::sessions(&f.db);
    f.provider
        .federation()
        .sign_on_in_browser(request, &from(), &sessions, now())
        .await
}

pub(super) fn signed_on(outcome: Result<BrowserOutcome, SignOnRefused>) -> BrowserSignOn {
    match outcome {
        Ok(BrowserOutcome::SignedOn(done)) => done,
        other => panic!("expected a sign-on, got {other:?}"),
    }
}

pub(super) fn refusal(outcome: Result<BrowserOutcome, SignOnRefused>) -> String {
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

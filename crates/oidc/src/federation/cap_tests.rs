//! The cap on the issuers one team may trust, on a database in memory.

#![allow(clippy::expect_used)]

use latchkey_core::Clock;
use latchkey_testkit::Team;

use super::{IssuerError, MAX_ISSUERS_PER_TEAM, NewIssuer, TrustedIssuers};
use crate::remote_jwks::RemoteJwks;

#[tokio::test]
async fn a_team_trusts_at_most_twenty_issuers() {
    let now = latchkey_testkit::start_of_test();
    let db = latchkey_testkit::memory_db().await;
    let team = Team::found(&db, "Acme", "ada@acme.test", now).await;
    let jwks = RemoteJwks::new(Clock::system(), false).expect("key fetcher");
    let issuers = TrustedIssuers::new(db, jwks);
    // RFC 7517 appendix A.1's public key.
    let key_set = r#"{"keys":[{"kty":"EC","crv":"P-256","kid":"k1","use":"sig","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}"#;
    let new = |n: u64| NewIssuer {
        jwks: Some(key_set.to_owned()),
        ..NewIssuer::new(team.id.clone(), format!("https://integration-{n}.example"))
    };
    for n in 0..MAX_ISSUERS_PER_TEAM {
        issuers
            .add(new(n), &team.admin.actor, now)
            .await
            .expect("within the cap");
    }
    let refused = issuers
        .add(new(MAX_ISSUERS_PER_TEAM), &team.admin.actor, now)
        .await;
    assert!(matches!(refused, Err(IssuerError::TooMany)), "{refused:?}");
}

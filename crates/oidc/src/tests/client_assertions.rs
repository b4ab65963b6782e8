//! `private_key_jwt`: which audiences a client's assertion may name at each endpoint
//! (`assertion_audience`), by default and with `oauth.client_assertion_audience = "issuer"`.
//! The signature, times and `jti` rules are `assertion`'s own tests.

use std::sync::Arc;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use chrono::Utc;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use super::fixture::Fixture;
use crate::client_auth::ASSERTION_TYPE;
use crate::remote_jwks::RemoteJwks;
use crate::{
    AudiencePolicy, AuthMethod, Client, ClientAuthenticator, Clients, Endpoint, ErrorCode,
    GrantType, OAuthError, Presented,
};
use latchkey_core::Clock;

const ISSUER: &str = "https://id.example.test";
const TOKEN: &str = "https://id.example.test/token";
const INTROSPECTION: &str = "https://id.example.test/introspect";
const REVOCATION: &str = "https://id.example.test/revoke";
const ALL: [Endpoint; 3] = [
    Endpoint::Token,
    Endpoint::Introspection,
    Endpoint::Revocation,
];

/// A machine client registered with the public half of its own P-256 key.
struct Machine {
    id: String,
    key: EncodingKey,
}

impl Machine {
    async fn register(f: &Fixture) -> Self {
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .unwrap();
        let key = EncodingKey::from_ec_der(pkcs8.as_ref());
        let jwk = Jwk::from_encoding_key(&key, Algorithm::ES256).unwrap();
        let jwks = serde_json::to_string(&JwkSet { keys: vec![jwk] }).unwrap();
        let registered = f
            .client(|c| {
                c.name = "Agent SDK".to_owned();
                c.redirect_uris = Vec::new();
                c.grant_types = vec![GrantType::ClientCredentials];
                c.auth_method = Some(AuthMethod::PrivateKeyJwt);
                c.jwks = Some(jwks);
            })
            .await;
        Self {
            id: registered.client.id.to_string(),
            key,
        }
    }

    /// An assertion as libraries sign it: `iss` and `sub` the client, one minute long, a
    /// fresh `jti`, and `aud` as given.
    fn assertion(&self, aud: Value) -> String {
        let now = Utc::now().timestamp();
        let claims = json!({
            "iss": self.id, "sub": self.id, "aud": aud,
            "iat": now, "exp": now + 60, "jti": uuid::Uuid::new_v4().to_string(),
        });
        jsonwebtoken::encode(&Header::new(Algorithm::ES256), &claims, &self.key).unwrap()
    }
}

/// Presents `assertion` at `endpoint`. The signing library checks `exp` on the system clock,
/// so the time is the system's too.
async fn present(
    authenticator: &ClientAuthenticator,
    assertion: &str,
    endpoint: Endpoint,
) -> Result<Arc<Client>, OAuthError> {
    let presented = Presented {
        assertion_type: Some(ASSERTION_TYPE.to_owned()),
        assertion: Some(assertion.to_owned()),
        ..Presented::default()
    };
    authenticator
        .authenticate(presented, endpoint, Utc::now())
        .await
}

/// The authenticator of a server set to `oauth.client_assertion_audience = "issuer"`.
fn issuer_only(f: &Fixture) -> ClientAuthenticator {
    ClientAuthenticator::new(
        Clients::new(f.db.clone()),
        RemoteJwks::new(Clock::system(), false).unwrap(),
        f.db.clone(),
        &latchkey_testkit::issuer(),
        AudiencePolicy::Issuer,
    )
}

fn assert_refused_for_aud(refused: OAuthError, what: &str) {
    assert_eq!(refused.code, ErrorCode::InvalidClient, "{what}");
    assert!(
        refused.description.contains("aud must be one string")
            && refused.description.contains(ISSUER),
        "{what}: {}",
        refused.description
    );
}

#[tokio::test]
async fn the_issuer_or_the_token_endpoint_is_accepted_at_every_endpoint() {
    let f = Fixture::new().await;
    let machine = Machine::register(&f).await;

    for endpoint in ALL {
        for aud in [ISSUER, TOKEN] {
            let client = present(
                f.provider.authenticator(),
                &machine.assertion(json!(aud)),
                endpoint,
            )
            .await
            .unwrap_or_else(|e| panic!("{aud} at {endpoint:?}: {e}"));
            assert_eq!(client.id.as_str(), machine.id);
        }
    }
}

#[tokio::test]
async fn an_endpoint_url_is_accepted_where_the_assertion_is_presented_only() {
    let f = Fixture::new().await;
    let machine = Machine::register(&f).await;
    let authenticator = f.provider.authenticator();

    for (aud, there) in [
        (INTROSPECTION, Endpoint::Introspection),
        (REVOCATION, Endpoint::Revocation),
    ] {
        assert!(
            present(authenticator, &machine.assertion(json!(aud)), there)
                .await
                .is_ok(),
            "{aud} at its own endpoint"
        );
        for elsewhere in ALL.into_iter().filter(|e| *e != there) {
            let refused = present(authenticator, &machine.assertion(json!(aud)), elsewhere)
                .await
                .unwrap_err();
            assert_refused_for_aud(refused, &format!("{aud} at {elsewhere:?}"));
        }
    }
}

#[tokio::test]
async fn arrays_other_servers_and_other_endpoints_are_refused_saying_what_aud_must_be() {
    let f = Fixture::new().await;
    let machine = Machine::register(&f).await;

    for (what, aud) in [
        ("an array of the issuer", json!([ISSUER])),
        ("an array of the token endpoint", json!([TOKEN])),
        (
            "an array with another server",
            json!([ISSUER, "https://other.example"]),
        ),
        (
            "another server's token endpoint",
            json!("https://other.example/token"),
        ),
        (
            "the authorization endpoint",
            json!(format!("{ISSUER}/authorize")),
        ),
        ("the userinfo endpoint", json!(format!("{ISSUER}/userinfo"))),
        ("the issuer with a slash", json!(format!("{ISSUER}/"))),
        (
            "the token endpoint over http",
            json!("http://id.example.test/token"),
        ),
        ("an empty string", json!("")),
        ("a number", json!(7)),
    ] {
        for endpoint in ALL {
            let refused = present(
                f.provider.authenticator(),
                &machine.assertion(aud.clone()),
                endpoint,
            )
            .await
            .unwrap_err();
            assert_refused_for_aud(refused, &format!("{what} at {endpoint:?}"));
        }
    }
}

#[tokio::test]
async fn the_issuer_setting_accepts_the_issuer_alone() {
    let f = Fixture::new().await;
    let machine = Machine::register(&f).await;
    let authenticator = issuer_only(&f);

    for endpoint in ALL {
        assert!(
            present(&authenticator, &machine.assertion(json!(ISSUER)), endpoint)
                .await
                .is_ok(),
            "the issuer at {endpoint:?}"
        );
        for aud in [TOKEN, INTROSPECTION, REVOCATION] {
            let refused = present(&authenticator, &machine.assertion(json!(aud)), endpoint)
                .await
                .unwrap_err();
            assert!(
                refused.description.contains("alone"),
                "{}",
                refused.description
            );
            assert_refused_for_aud(refused, &format!("{aud} at {endpoint:?}"));
        }
    }
}

#[tokio::test]
async fn an_assertion_accepted_at_one_endpoint_is_spent_at_all() {
    let f = Fixture::new().await;
    let machine = Machine::register(&f).await;
    let authenticator = f.provider.authenticator();
    let assertion = machine.assertion(json!(TOKEN));

    present(authenticator, &assertion, Endpoint::Token)
        .await
        .unwrap();
    for endpoint in ALL {
        let refused = present(authenticator, &assertion, endpoint)
            .await
            .unwrap_err();
        assert_eq!(refused.code, ErrorCode::InvalidClient);
        assert!(
            refused.description.contains("replay"),
            "{}",
            refused.description
        );
    }
}

//! Reading back ID tokens this provider issued: `id_token_hint` at the authorization and
//! end-session endpoints.

use latchkey_core::ClientId;
use latchkey_keys::Expectations;

use crate::provider::Provider;
use crate::tokens::{ID_TOKEN_TYPE, IdClaims};

impl Provider {
    /// The `sub` of an ID token this provider issued to `client_id`, expired or not.
    pub fn id_token_subject(&self, token: &str, client_id: &ClientId) -> Option<String> {
        let expect = Expectations {
            token_type: ID_TOKEN_TYPE,
            audience: latchkey_keys::Audience::Is(client_id),
            issuer: self.issuer.as_str(),
        };
        self.keys
            .load()
            .verify_ignoring_expiry::<IdClaims>(token, &expect)
            .ok()
            .map(|v| v.claims.sub)
    }

    /// The client an ID token was issued to, its subject and its session, expired or not
    /// (for logout).
    pub(crate) fn id_token_audience(&self, token: &str) -> Option<HintedIdToken> {
        let unverified: IdClaims = jsonwebtoken::dangerous::insecure_decode(token).ok()?.claims;
        let client = ClientId::from(unverified.aud.as_str());
        let expect = Expectations {
            token_type: ID_TOKEN_TYPE,
            audience: latchkey_keys::Audience::Is(&client),
            issuer: self.issuer.as_str(),
        };
        let verified = self
            .keys
            .load()
            .verify_ignoring_expiry::<IdClaims>(token, &expect)
            .ok()?;
        Some(HintedIdToken {
            client,
            subject: verified.claims.sub,
            sid: verified.claims.sid,
        })
    }
}

/// What an `id_token_hint` this provider issued says.
#[derive(Debug)]
pub(crate) struct HintedIdToken {
    pub client: ClientId,
    pub subject: String,
    /// The session it was issued in.
    pub sid: String,
}

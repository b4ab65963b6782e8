//! Which `aud` a client's `private_key_jwt` assertion may carry, at each endpoint where a client
//! authenticates.
//!
//! The rule, `issuer-or-endpoint` (the default): one string, either
//! - the issuer, which identifies this server wherever the assertion is presented
//!   (RFC 7523 §3, RFC 9126 §2, and FAPI 2.0's only value);
//! - the token endpoint URL, at any of the endpoints: RFC 7523 §3 names it as a value that
//!   identifies the authorization server itself, RFC 9126 §2 says it MUST be accepted, and
//!   OpenID Connect Core §9 says the audience SHOULD be it, so libraries sign it once and send it
//!   to introspection and revocation too (Authlib given its token endpoint, Spring, Envoy);
//! - the URL of the endpoint the assertion is presented to (what Authlib signs when it is given
//!   no token endpoint). An introspection or revocation URL names that endpoint only, so it is
//!   refused anywhere else.
//!
//! Arrays, the authorization endpoint, other servers' URLs and anything else are refused: an
//! assertion whose audience does not name this server could have been made for another and
//! replayed here. `oauth.client_assertion_audience = "issuer"` makes it the issuer alone, for
//! FAPI 2.0 and draft-ietf-oauth-rfc7523bis, where an endpoint URL named as the audience could
//! be claimed by another server the client also talks to.

use latchkey_core::{Issuer, urls};

/// An endpoint at which clients authenticate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    Token,
    Introspection,
    Revocation,
}

impl Endpoint {
    /// The path this provider serves the endpoint at.
    pub fn path(self) -> &'static str {
        match self {
            Self::Token => urls::TOKEN,
            Self::Introspection => urls::INTROSPECTION,
            Self::Revocation => urls::REVOCATION,
        }
    }

    /// The endpoint served at `path`, if clients authenticate there.
    pub fn at_path(path: &str) -> Option<Self> {
        [Self::Token, Self::Introspection, Self::Revocation]
            .into_iter()
            .find(|endpoint| endpoint.path() == path)
    }
}

/// `oauth.client_assertion_audience`: which values a client assertion's `aud` may take.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AudiencePolicy {
    /// The issuer, the token endpoint URL, or the URL of the endpoint presented to.
    #[default]
    IssuerOrEndpoint,
    /// The issuer alone (FAPI 2.0).
    Issuer,
}

impl AudiencePolicy {
    /// Reads the setting's value, saying which values there are when it is another.
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw.trim() {
            "issuer-or-endpoint" => Ok(Self::IssuerOrEndpoint),
            "issuer" => Ok(Self::Issuer),
            other => Err(format!(
                "{other:?} is not issuer-or-endpoint (the issuer or the URL of the endpoint, as \
                 libraries sign it) or issuer (the issuer alone, for FAPI 2.0)"
            )),
        }
    }
}

/// The audiences a client assertion may name, by endpoint.
#[derive(Clone, Debug)]
pub struct ClientAssertionAudiences {
    issuer: String,
    token: String,
    introspection: String,
    revocation: String,
    policy: AudiencePolicy,
}

impl ClientAssertionAudiences {
    pub fn new(issuer: &Issuer, policy: AudiencePolicy) -> Self {
        Self {
            issuer: issuer.to_string(),
            token: issuer.endpoint(urls::TOKEN),
            introspection: issuer.endpoint(urls::INTROSPECTION),
            revocation: issuer.endpoint(urls::REVOCATION),
            policy,
        }
    }

    /// The values `aud` may be at `endpoint`, the issuer first.
    pub fn at(&self, endpoint: Endpoint) -> Vec<String> {
        let mut accepted = vec![self.issuer.clone()];
        if self.policy == AudiencePolicy::Issuer {
            return accepted;
        }
        accepted.push(self.token.clone());
        match endpoint {
            Endpoint::Token => {}
            Endpoint::Introspection => accepted.push(self.introspection.clone()),
            Endpoint::Revocation => accepted.push(self.revocation.clone()),
        }
        accepted
    }

    /// What `aud` must be at `endpoint`, in words for the client's developer.
    pub fn explain(&self, endpoint: Endpoint) -> String {
        match self.at(endpoint).as_slice() {
            [issuer] => format!("aud must be one string: the issuer {issuer}, alone"),
            [issuer, token] => {
                format!("aud must be one string: the issuer {issuer} or the token endpoint {token}")
            }
            [issuer, token, here, ..] => format!(
                "aud must be one string: the issuer {issuer}, the token endpoint {token} or this \
                 endpoint's URL {here}"
            ),
            [] => "aud must be one string naming this server".to_owned(),
        }
    }
}

#[cfg(test)]
#[path = "assertion_audience_tests.rs"]
mod tests;

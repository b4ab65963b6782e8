//! Client authentication at the token, introspection and revocation endpoints (RFC 6749
//! §2.3, OpenID Connect Core §9): a secret in the Basic header or the body, a signed
//! assertion (`private_key_jwt`, RFC 7523 §2.2), or none for public clients. A client must
//! use the method it registered, and only one.

use latchkey_core::ClientId;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use jsonwebtoken::Algorithm;

use super::assertion::{self, Refused, Rules, Unverified};
use super::assertion_audience::{AudiencePolicy, ClientAssertionAudiences, Endpoint};
use super::client::{AuthMethod, Client, Clients};
use super::error::OAuthError;
use crate::remote_jwks::{JwksError, RemoteJwks, select};
use latchkey_core::{Issuer, urls};

pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Assertions that live longer than this are refused: a short life bounds replays and the
/// store of seen `jti`s.
const LONGEST_ASSERTION: chrono::TimeDelta = chrono::TimeDelta::hours(1);
/// Algorithms a client may sign assertions with; never `none` or HMAC (RFC 8725 §3.1).
pub const ASSERTION_ALGORITHMS: [Algorithm; 5] = [
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::RS256,
    Algorithm::PS256,
    Algorithm::EdDSA,
];

/// The credentials a request carries, before any is checked.
#[derive(Debug, Default)]
pub struct Presented {
    /// From `Authorization: Basic`, already decoded.
    pub basic: Option<(String, String)>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub assertion_type: Option<String>,
    pub assertion: Option<String>,
}

impl Presented {
    /// Reads `Authorization: Basic base64(urlencode(id):urlencode(secret))` (RFC 6749 §2.3.1).
    pub fn parse_basic(header: &str) -> Result<(String, String), OAuthError> {
        let bad = || {
            OAuthError::invalid_client("the Authorization header is not valid Basic credentials")
        };
        let encoded = header
            .strip_prefix("Basic ")
            .or_else(|| header.strip_prefix("basic "))
            .ok_or_else(bad)?;
        let decoded = STANDARD.decode(encoded.trim()).map_err(|_| bad())?;
        let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
        let (id, secret) = decoded.split_once(':').ok_or_else(bad)?;
        let unescape = |part: &str| {
            percent_encoding::percent_decode_str(&part.replace('+', " "))
                .decode_utf8()
                .map(|s| s.into_owned())
                .map_err(|_| bad())
        };
        Ok((unescape(id)?, unescape(secret)?))
    }
}

/// Authenticates clients.
#[derive(Clone)]
pub struct ClientAuthenticator {
    clients: Clients,
    jwks: RemoteJwks,
    db: latchkey_core::Db,
    /// The issuer, then the token endpoint: an integration's jwt-bearer grant assertion may
    /// name either.
    audiences: [String; 2],
    /// What a client's own assertion may name (`oauth.client_assertion_audience`).
    client_audiences: ClientAssertionAudiences,
}

impl ClientAuthenticator {
    pub fn new(
        clients: Clients,
        jwks: RemoteJwks,
        db: latchkey_core::Db,
        issuer: &Issuer,
        policy: AudiencePolicy,
    ) -> Self {
        Self {
            clients,
            jwks,
            db,
            audiences: [issuer.to_string(), issuer.endpoint(urls::TOKEN)],
            client_audiences: ClientAssertionAudiences::new(issuer, policy),
        }
    }

    pub fn clients(&self) -> &Clients {
        &self.clients
    }

    /// The cache of remote key sets, shared with the JWT bearer grant.
    pub fn jwks(&self) -> &RemoteJwks {
        &self.jwks
    }

    /// The `aud` values a jwt-bearer grant assertion may carry: the issuer and the token
    /// endpoint.
    pub fn audiences(&self) -> &[String; 2] {
        &self.audiences
    }

    /// The client the credentials presented at `endpoint` prove, or `invalid_client` saying
    /// what was wrong.
    pub async fn authenticate(
        &self,
        presented: Presented,
        endpoint: Endpoint,
        now: DateTime<Utc>,
    ) -> Result<Arc<Client>, OAuthError> {
        let methods = [
            presented.basic.is_some(),
            presented.client_secret.is_some(),
            presented.assertion.is_some(),
        ];
        if methods.iter().filter(|m| **m).count() > 1 {
            return Err(OAuthError::invalid_request(
                "the request uses more than one client authentication method",
            ));
        }
        if let Some((id, secret)) = presented.basic {
            if presented
                .client_id
                .as_ref()
                .is_some_and(|body_id| *body_id != id)
            {
                return Err(OAuthError::invalid_request(
                    "client_id differs from the Authorization header",
                ));
            }
            let client = self.registered(&id, AuthMethod::ClientSecretBasic).await?;
            return check_secret(client, &secret, now);
        }
        if let Some(secret) = presented.client_secret {
            let id = presented
                .client_id
                .ok_or_else(|| OAuthError::invalid_client("client_secret without client_id"))?;
            let client = self.registered(&id, AuthMethod::ClientSecretPost).await?;
            return check_secret(client, &secret, now);
        }
        if let Some(assertion) = presented.assertion {
            if presented.assertion_type.as_deref() != Some(ASSERTION_TYPE) {
                return Err(OAuthError::invalid_client(format!(
                    "client_assertion_type must be {ASSERTION_TYPE}"
                )));
            }
            return self
                .check_assertion(&assertion, presented.client_id.as_deref(), endpoint, now)
                .await;
        }
        match presented.client_id {
            Some(id) => self.registered(&id, AuthMethod::None).await,
            None => Err(OAuthError::invalid_client(
                "no client authentication was presented",
            )),
        }
    }

    /// The client, if it exists and registered this method.
    async fn registered(&self, id: &str, method: AuthMethod) -> Result<Arc<Client>, OAuthError> {
        let client = self
            .clients
            .find(&ClientId::from(id))
            .await?
            .ok_or_else(|| OAuthError::invalid_client("unknown client"))?;
        if client.auth_method != method {
            return Err(OAuthError::invalid_client(format!(
                "this client authenticates with {}, not {}",
                client.auth_method.as_str(),
                method.as_str()
            )));
        }
        Ok(client)
    }

    async fn check_assertion(
        &self,
        assertion: &str,
        client_id: Option<&str>,
        endpoint: Endpoint,
        now: DateTime<Utc>,
    ) -> Result<Arc<Client>, OAuthError> {
        let invalid =
            |why: Refused| OAuthError::invalid_client(format!("client assertion: {}", why.0));
        let unverified = Unverified::read(
            assertion,
            &ASSERTION_ALGORITHMS,
            "ES256, ES384, RS256, PS256, EdDSA",
        )
        .map_err(invalid)?;
        // The client is named by `sub` (= `iss`); the signature is checked against its keys next.
        let id = match (client_id, unverified.text("sub")) {
            (Some(id), Some(sub)) if id != sub => {
                return Err(invalid(Refused("sub differs from client_id".into())));
            }
            (Some(id), _) | (None, Some(id)) => id.to_owned(),
            (None, None) => return Err(invalid(Refused("no sub".into()))),
        };
        // One audience, naming this server (`assertion_audience`): an assertion that names
        // several, or another server, could have been made for another and replayed here. The
        // signature checks it again below.
        let accepted = self.client_audiences.at(endpoint);
        if !unverified
            .text("aud")
            .is_some_and(|aud| accepted.iter().any(|ok| ok == aud))
        {
            return Err(invalid(Refused(self.client_audiences.explain(endpoint))));
        }
        let client = self.registered(&id, AuthMethod::PrivateKeyJwt).await?;
        let kid = unverified.header.kid.as_deref();
        let key = match (&client.jwks, &client.jwks_uri) {
            (Some(inline), _) => serde_json::from_str(inline)
                .map_err(OAuthError::internal)
                .and_then(|set| select(&set, kid).map_err(|e| invalid(Refused(e.to_string())))),
            (None, Some(uri)) => self.jwks.key(uri, kid).await.map_err(|e| match e {
                JwksError::Unreachable => {
                    invalid(Refused("the client's keys could not be fetched".into()))
                }
                other => invalid(Refused(other.to_string())),
            }),
            (None, None) => Err(invalid(Refused("the client has no registered keys".into()))),
        }?;
        let rules = Rules {
            issuer: &client.id,
            subject: Some(&client.id),
            // The issuer or an endpoint's URL, as `assertion_audience` says.
            audiences: &accepted,
            sole_audience: true,
            // iat is required and, with exp, bounded (draft-ietf-oauth-rfc7523bis).
            max_lifetime: Some(LONGEST_ASSERTION),
            require_jti: true,
            signer: "client's",
        };
        let verified =
            assertion::verify(assertion, &unverified, &key, &rules, now).map_err(invalid)?;
        if !assertion::first_use(&*self.db.write().await, &client.id, &verified).await? {
            return Err(invalid(Refused("this jti was used before (replay)".into())));
        }
        Ok(client)
    }
}

/// The client, if `secret` is its current one or its previous one still in its grace period.
fn check_secret(
    client: Arc<Client>,
    secret: &str,
    now: DateTime<Utc>,
) -> Result<Arc<Client>, OAuthError> {
    if !client.accepts_secret(secret, now) {
        return Err(OAuthError::invalid_client("the client secret is wrong"));
    }
    Ok(client)
}

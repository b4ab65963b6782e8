//! Client authentication at the token, introspection and revocation endpoints (RFC 6749
//! §2.3, OpenID Connect Core §9): a secret in the Basic header or the body, a signed
//! assertion (`private_key_jwt`, RFC 7523 §2.2), or none for public clients. A client must
//! use the method it registered, and only one.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, TimeZone, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, DatabaseConnection, EntityTrait};
use serde::Deserialize;

use super::client::{AuthMethod, Client, Clients};
use super::entities::seen_assertion;
use super::error::OAuthError;
use crate::remote_jwks::{RemoteJwks, select};
use crate::secret::{constant_time_eq, sha256_hex};

pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Assertions that live longer than this are refused: a short life bounds replays and the
/// store of seen `jti`s.
const LONGEST_ASSERTION: i64 = 3600;
/// Clock difference tolerated between the client and Latchkey.
const LEEWAY: u64 = 30;
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

#[derive(Deserialize)]
struct AssertionClaims {
    iss: String,
    sub: String,
    exp: i64,
    jti: Option<String>,
}

#[derive(Deserialize)]
struct UnverifiedSubject {
    sub: Option<String>,
    aud: Option<serde_json::Value>,
}

/// Authenticates clients.
#[derive(Clone)]
pub struct ClientAuthenticator {
    clients: Clients,
    jwks: RemoteJwks,
    db: DatabaseConnection,
    /// The `aud` values an assertion may carry: the issuer and the token endpoint.
    audiences: [String; 2],
}

impl ClientAuthenticator {
    pub fn new(
        clients: Clients,
        jwks: RemoteJwks,
        db: DatabaseConnection,
        audiences: [String; 2],
    ) -> Self {
        Self {
            clients,
            jwks,
            db,
            audiences,
        }
    }

    pub fn clients(&self) -> &Clients {
        &self.clients
    }

    /// The cache of remote key sets, shared with the JWT bearer grant.
    pub fn jwks(&self) -> &RemoteJwks {
        &self.jwks
    }

    /// The `aud` values an assertion may carry: the issuer and the token endpoint.
    pub fn audiences(&self) -> &[String; 2] {
        &self.audiences
    }

    /// The client the credentials prove, or `invalid_client` saying what was wrong.
    pub async fn authenticate(
        &self,
        presented: Presented,
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
            return check_secret(client, &secret);
        }
        if let Some(secret) = presented.client_secret {
            let id = presented
                .client_id
                .ok_or_else(|| OAuthError::invalid_client("client_secret without client_id"))?;
            let client = self.registered(&id, AuthMethod::ClientSecretPost).await?;
            return check_secret(client, &secret);
        }
        if let Some(assertion) = presented.assertion {
            if presented.assertion_type.as_deref() != Some(ASSERTION_TYPE) {
                return Err(OAuthError::invalid_client(format!(
                    "client_assertion_type must be {ASSERTION_TYPE}"
                )));
            }
            return self
                .check_assertion(&assertion, presented.client_id.as_deref(), now)
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
            .find(id)
            .await
            .map_err(OAuthError::internal)?
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
        now: DateTime<Utc>,
    ) -> Result<Arc<Client>, OAuthError> {
        let invalid = |why: &str| OAuthError::invalid_client(format!("client assertion: {why}"));
        let header = jsonwebtoken::decode_header(assertion).map_err(|_| {
            invalid(
                "not a JWT signed with a supported algorithm (ES256, ES384, RS256, PS256, EdDSA)",
            )
        })?;
        if !ASSERTION_ALGORITHMS.contains(&header.alg) {
            return Err(invalid(
                "the algorithm must be ES256, ES384, RS256, PS256 or EdDSA",
            ));
        }
        // The client is named by `sub` (= `iss`); the signature is checked against its keys next.
        let unverified: UnverifiedSubject = jsonwebtoken::dangerous::insecure_decode(assertion)
            .map(|d| d.claims)
            .map_err(|_| invalid("the claims cannot be read"))?;
        let id = match (client_id, unverified.sub.as_deref()) {
            (Some(id), Some(sub)) if id != sub => {
                return Err(invalid("sub differs from client_id"));
            }
            (Some(id), _) | (None, Some(id)) => id.to_owned(),
            (None, None) => return Err(invalid("no sub")),
        };
        // One audience only: an assertion that names several could have been made for
        // another server and replayed here.
        if !unverified
            .aud
            .as_ref()
            .is_some_and(serde_json::Value::is_string)
        {
            return Err(invalid(
                "aud must be one string: the issuer or the token endpoint URL",
            ));
        }
        let client = self.registered(&id, AuthMethod::PrivateKeyJwt).await?;
        let key = match (&client.jwks, &client.jwks_uri) {
            (Some(inline), _) => serde_json::from_str(inline)
                .map_err(OAuthError::internal)
                .and_then(|set| {
                    select(&set, header.kid.as_deref()).map_err(|e| invalid(&e.to_string()))
                }),
            (None, Some(uri)) => self
                .jwks
                .key(uri, header.kid.as_deref())
                .await
                .map_err(|e| invalid(&e.to_string())),
            (None, None) => Err(invalid("the client has no registered keys")),
        }?;
        // A key published for one algorithm or for encryption is not used otherwise
        // (RFC 8725 §3.1).
        if key.common.public_key_use == Some(jsonwebtoken::jwk::PublicKeyUse::Encryption) {
            return Err(invalid(
                "the key named by kid is for encryption, not signing",
            ));
        }
        // Both enums print the algorithm's JOSE name.
        if let Some(alg) = key.common.key_algorithm
            && format!("{alg:?}") != format!("{:?}", header.alg)
        {
            return Err(invalid(
                "the header's alg differs from the alg of the client's key",
            ));
        }
        let decoding =
            DecodingKey::from_jwk(&key).map_err(|_| invalid("the client's key cannot be used"))?;
        let mut validation = Validation::new(header.alg);
        validation.leeway = LEEWAY;
        validation.set_audience(&self.audiences);
        validation.set_issuer(&[client.id.as_str()]);
        validation.sub = Some(client.id.clone());
        validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
        let claims = jsonwebtoken::decode::<AssertionClaims>(assertion, &decoding, &validation)
            .map_err(|e| {
                use jsonwebtoken::errors::ErrorKind;
                invalid(match e.kind() {
                    ErrorKind::ExpiredSignature => "expired",
                    ErrorKind::InvalidAudience => {
                        "aud must be the issuer or the token endpoint URL"
                    }
                    ErrorKind::InvalidIssuer | ErrorKind::InvalidSubject => {
                        "iss and sub must be the client_id"
                    }
                    ErrorKind::InvalidSignature => {
                        "the signature does not verify with the client's key"
                    }
                    ErrorKind::InvalidAlgorithm => "the algorithm does not fit the client's key",
                    _ => "invalid",
                })
            })?
            .claims;
        debug_assert_eq!(claims.iss, claims.sub);
        if claims.exp > now.timestamp() + LONGEST_ASSERTION {
            return Err(invalid("exp is more than an hour away"));
        }
        let jti = claims
            .jti
            .filter(|j| !j.is_empty())
            .ok_or_else(|| invalid("no jti"))?;
        let expires_at = Utc
            .timestamp_opt(claims.exp, 0)
            .single()
            .ok_or_else(|| invalid("exp is out of range"))?;
        // The replay check is one insert: only the first use of a jti adds a row.
        let inserted = seen_assertion::Entity::insert(seen_assertion::ActiveModel {
            id: Set(sha256_hex(format!("{}:{jti}", client.id).as_bytes())),
            // Kept past exp by the leeway, during which the assertion still verifies.
            expires_at: Set(expires_at + chrono::TimeDelta::seconds(LEEWAY as i64)),
        })
        .on_conflict(
            OnConflict::column(seen_assertion::Column::Id)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(&self.db)
        .await?;
        if inserted == 0 {
            return Err(invalid("this jti was used before (replay)"));
        }
        Ok(client)
    }
}

fn check_secret(client: Arc<Client>, secret: &str) -> Result<Arc<Client>, OAuthError> {
    let expected = client.secret_hash().unwrap_or_default();
    if expected.is_empty() || !constant_time_eq(&sha256_hex(secret.as_bytes()), expected) {
        return Err(OAuthError::invalid_client("the client secret is wrong"));
    }
    Ok(client)
}

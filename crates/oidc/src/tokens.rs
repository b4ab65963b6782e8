//! The JWTs Latchkey issues to clients: access tokens (RFC 9068, `typ: at+jwt`) and ID tokens
//! (OpenID Connect Core §2). Each has a `typ` the other's verifier refuses, so neither can
//! stand in for the other, nor for a magic link.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::scope::Scopes;

/// The JWS `typ` of an access token (RFC 9068 §2.1).
pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";
/// The JWS `typ` of an ID token.
pub const ID_TOKEN_TYPE: &str = "JWT";

/// The claims of an access token. `sub` is the person's id, or the client's for
/// `client_credentials`; `grant_id` ties it to the grant whose revocation ends it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub client_id: String,
    pub scope: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_id: Option<String>,
    /// The team the token speaks for; removing the member from it ends the token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team_id: Option<String>,
}

/// The claims of an ID token.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct IdClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub azp: String,
    pub iat: i64,
    pub exp: i64,
    pub auth_time: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_hash: Option<String>,
    /// How the person signed in: a one-time credential sent to their mail (RFC 8176 `otp`).
    pub amr: Vec<String>,
    pub sid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    #[serde(flatten)]
    pub team: Option<TeamClaims>,
    #[serde(flatten)]
    pub profile: Option<ProfileClaims>,
}

/// The `profile` scope's claims (Core §5.4) that Latchkey knows: the name, its given and
/// family parts, the address as `preferred_username`, and when the name last changed.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ProfileClaims {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    pub preferred_username: String,
    pub updated_at: i64,
}

impl ProfileClaims {
    /// The claims of an account.
    pub fn of(account: &latchkey_login::entities::user::Model) -> Self {
        Self {
            name: account.name.clone(),
            given_name: account.given_name.clone(),
            family_name: account.family_name.clone(),
            preferred_username: account.shown_email().to_owned(),
            updated_at: account
                .name_updated_at
                .unwrap_or(account.created_at)
                .timestamp(),
        }
    }
}

/// The `team` scope's claims: the team the person works in and their role in it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TeamClaims {
    pub team_id: String,
    pub team_name: String,
    pub team_role: String,
}

/// The token endpoint's answer (RFC 6749 §5.1, OpenID Connect Core §3.1.3.3).
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

impl TokenResponse {
    /// An access token alone: the machine grants give neither an ID token nor a refresh token.
    pub fn access_only(access_token: String, ttl: chrono::TimeDelta, scopes: &Scopes) -> Self {
        Self {
            access_token,
            token_type: "Bearer",
            expires_in: ttl.num_seconds(),
            scope: scopes.to_string(),
            refresh_token: None,
            id_token: None,
        }
    }
}

/// `at_hash`: the left half of the SHA-256 of the access token, base64url (Core §3.1.3.6).
/// SHA-256 fits both ES256 and RS256.
pub fn at_hash(access_token: &str) -> String {
    let digest = Sha256::digest(access_token.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_hash_is_the_left_half_of_sha256() {
        // Expected value from: printf '<token>' | openssl dgst -sha256 -binary | head -c16 | base64url
        assert_eq!(
            at_hash("jHkWEdUXMU1BwAsC4vtUsZwnNNtFkKbYtGhrRjJ4mSM"),
            "dzLsvSbET9X02VCfmbkZhA"
        );
    }
}

//! Authorization codes, sealed rather than stored: a code is its own bindings (client,
//! redirect URI, PKCE challenge, nonce, person, sign-in) encrypted and authenticated with
//! AES-256-GCM under the master key, so issuing one writes nothing. Single use is still
//! enforced by the database: the exchange records the code's id, and only the first insert
//! of an id succeeds.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use latchkey_keys::MasterKey;
use serde::{Deserialize, Serialize};

/// Binds sealed codes to their purpose: nothing else sealed under the master key opens as one.
const CONTEXT: &str = "latchkey authorization code v1";
/// Longer input is not a code and is not decoded; a code that would be longer is not issued.
const LONGEST_CODE: usize = 8192;

/// What a code carries.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CodeClaims {
    /// Random; its hash is recorded when the code is spent.
    pub id: String,
    pub grant_id: String,
    pub client_id: String,
    pub user_id: String,
    pub email: String,
    pub redirect_uri: String,
    pub scope: String,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub auth_time: i64,
    pub sid: String,
    pub exp: i64,
    /// The team the tokens speak for (a team-bound client, or the `team` scope).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team_id: Option<String>,
    /// The resource server (RFC 8707) the tokens are for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
}

pub fn seal(key: &MasterKey, claims: &CodeClaims) -> Result<String, String> {
    let json = serde_json::to_vec(claims).map_err(|e| e.to_string())?;
    let sealed = key.seal(CONTEXT, &json).map_err(|e| e.to_string())?;
    let code = URL_SAFE_NO_PAD.encode(sealed);
    if code.len() > LONGEST_CODE {
        return Err(format!("the code would be {} characters long", code.len()));
    }
    Ok(code)
}

/// The claims of a code this provider sealed; `None` for anything else.
pub fn open(key: &MasterKey, code: &str) -> Option<CodeClaims> {
    if code.len() > LONGEST_CODE {
        return None;
    }
    let sealed = URL_SAFE_NO_PAD.decode(code).ok()?;
    let json = key.open(CONTEXT, &sealed).ok()?;
    serde_json::from_slice(&json).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> CodeClaims {
        CodeClaims {
            id: "id-1".into(),
            grant_id: "g".into(),
            client_id: "c".into(),
            user_id: "u".into(),
            email: "a@example.com".into(),
            redirect_uri: "https://rp.example/cb".into(),
            scope: "openid".into(),
            nonce: None,
            code_challenge: None,
            auth_time: 1,
            sid: "s".into(),
            exp: 2,
            team_id: None,
            resource: Some("https://api.example".into()),
        }
    }

    #[test]
    fn a_sealed_code_opens_only_unaltered_and_under_its_key() {
        let (key, _) = MasterKey::generate().unwrap();
        let (other, _) = MasterKey::generate().unwrap();
        let code = seal(&key, &claims()).unwrap();
        assert_eq!(open(&key, &code).unwrap().client_id, "c");
        assert!(open(&other, &code).is_none(), "another key");
        let mut tampered = code.into_bytes();
        tampered[20] = if tampered[20] == b'A' { b'B' } else { b'A' };
        assert!(
            open(&key, &String::from_utf8(tampered).unwrap()).is_none(),
            "tampered"
        );
        let elsewhere = key.seal("another purpose", b"{}").unwrap();
        assert!(
            open(&key, &URL_SAFE_NO_PAD.encode(elsewhere)).is_none(),
            "another context"
        );
    }
}

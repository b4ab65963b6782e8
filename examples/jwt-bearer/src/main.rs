//! A custom integration, end to end:
//!
//! ```sh
//! cargo run -p jwt-bearer-example -- keygen var/agent
//! latchkey issuer add --team TEAM --issuer https://agent.example --jwks-file var/agent/jwks.json
//! latchkey client create --name Agent --team TEAM --scope api \
//!     --grant-type urn:ietf:params:oauth:grant-type:jwt-bearer
//! cargo run -p jwt-bearer-example -- exchange var/agent https://agent.example \
//!     http://127.0.0.1:8080 CLIENT_ID CLIENT_SECRET user-42 pat@example.com
//! ```
//!
//! `keygen` makes a P-256 key and its public JWKS; `exchange` signs a five-minute assertion
//! naming the user and trades it at the token endpoint (found through discovery) for an
//! access token, which it prints.

use std::path::Path;
use std::process::ExitCode;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

const USAGE: &str = "usage:
  jwt-bearer-example keygen DIR
  jwt-bearer-example exchange DIR ISSUER LATCHKEY_URL CLIENT_ID CLIENT_SECRET SUB EMAIL";

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["keygen", dir] => keygen(Path::new(dir)),
        ["exchange", dir, issuer, base, id, secret, sub, email] => {
            exchange(Path::new(dir), issuer, base, id, secret, sub, email).await
        }
        _ => Err(USAGE.to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

/// Writes `DIR/key.p8` (the private key, PKCS#8 DER: keep it secret) and `DIR/jwks.json`.
fn keygen(dir: &Path) -> Result<(), String> {
    let pkcs8 =
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
            .map_err(|_| "could not generate a key".to_owned())?;
    let encoding = EncodingKey::from_ec_der(pkcs8.as_ref());
    let mut jwk = Jwk::from_encoding_key(&encoding, Algorithm::ES256).map_err(|e| e.to_string())?;
    jwk.common.key_id = Some(uuid::Uuid::new_v4().to_string());
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    std::fs::write(dir.join("key.p8"), pkcs8.as_ref()).map_err(|e| e.to_string())?;
    let jwks =
        serde_json::to_string_pretty(&JwkSet { keys: vec![jwk] }).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("jwks.json"), jwks).map_err(|e| e.to_string())?;
    println!(
        "wrote {0}/key.p8 (secret) and {0}/jwks.json (register it with `latchkey issuer add --jwks-file`)",
        dir.display()
    );
    Ok(())
}

async fn exchange(
    dir: &Path,
    issuer: &str,
    base: &str,
    client_id: &str,
    client_secret: &str,
    sub: &str,
    email: &str,
) -> Result<(), String> {
    let der = std::fs::read(dir.join("key.p8")).map_err(|e| format!("key.p8: {e}"))?;
    let jwks: JwkSet = serde_json::from_slice(
        &std::fs::read(dir.join("jwks.json")).map_err(|e| format!("jwks.json: {e}"))?,
    )
    .map_err(|e| format!("jwks.json: {e}"))?;
    let kid = jwks.keys.first().and_then(|k| k.common.key_id.clone());
    let http = reqwest::Client::new();
    let discovery: Value = http
        .get(format!(
            "{}/.well-known/openid-configuration",
            base.trim_end_matches('/')
        ))
        .send()
        .await
        .map_err(|e| format!("discovery: {e}"))?
        .json()
        .await
        .map_err(|e| format!("discovery: {e}"))?;
    let token_endpoint = discovery["token_endpoint"]
        .as_str()
        .ok_or("discovery names no token_endpoint")?;
    let now = chrono::Utc::now().timestamp();
    let claims = json!({
        "iss": issuer,
        "sub": sub,
        "email": email,
        "aud": token_endpoint,
        "iat": now,
        "exp": now + 300,
        "jti": uuid::Uuid::new_v4().to_string(),
    });
    let header = Header {
        kid,
        ..Header::new(Algorithm::ES256)
    };
    let assertion = jsonwebtoken::encode(&header, &claims, &EncodingKey::from_ec_der(&der))
        .map_err(|e| format!("signing: {e}"))?;
    let response = http
        .post(token_endpoint)
        .basic_auth(client_id, Some(client_secret))
        .form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("assertion", assertion.as_str()),
        ])
        .send()
        .await
        .map_err(|e| format!("token endpoint: {e}"))?;
    let status = response.status();
    let body: Value = response
        .json()
        .await
        .map_err(|e| format!("token endpoint: {e}"))?;
    println!(
        "{}",
        serde_json::to_string_pretty(&body).unwrap_or_default()
    );
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("refused ({status})"))
    }
}

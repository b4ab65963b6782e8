use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;

use crate::error::KeyError;
use crate::material::Signer;

/// The protected header of every JWS Latchkey issues.
#[derive(Serialize)]
struct ProtectedHeader<'a> {
    alg: &'a str,
    typ: &'a str,
    kid: &'a str,
}

/// Writes a compact JWS (RFC 7515 §7.1): base64url(header) . base64url(claims) . base64url(signature).
/// The signature comes from a key pair parsed once, which is what makes signing fast; the
/// result is verified by jsonwebtoken like any other JWT.
pub(crate) fn compact<C: Serialize + ?Sized>(
    signer: &Signer,
    alg: &str,
    typ: &str,
    kid: &str,
    claims: &C,
) -> Result<String, KeyError> {
    let header = serde_json::to_vec(&ProtectedHeader { alg, typ, kid })?;
    let payload = serde_json::to_vec(claims)?;
    let mut token = String::with_capacity((header.len() + payload.len()) * 4 / 3 + 360);
    URL_SAFE_NO_PAD.encode_string(&header, &mut token);
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(&payload, &mut token);
    let signature = signer.sign(token.as_bytes())?;
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(&signature, &mut token);
    Ok(token)
}

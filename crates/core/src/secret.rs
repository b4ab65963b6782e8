//! Random secrets and their stored form.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// A 256-bit random value, written base64url. Only its SHA-256 is ever stored; `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretToken(String);

impl SecretToken {
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        fill_random(&mut bytes);
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// Takes a value that came back from a client (a cookie, a link).
    pub fn from_client(value: &str) -> Option<Self> {
        (value.len() == 43 && URL_SAFE_NO_PAD.decode(value).is_ok()).then(|| Self(value.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The form that is stored and looked up.
    pub fn hash(&self) -> String {
        sha256_hex(self.0.as_bytes())
    }
}

impl std::fmt::Debug for SecretToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretToken([redacted])")
    }
}

/// SHA-256, hex-encoded. High-entropy secrets need no slow hash.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut hex = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        hex.push(char::from(DIGITS[usize::from(byte >> 4)]));
        hex.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    hex
}

/// Compares two secrets in time that does not depend on where they differ.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(a.as_bytes(), b.as_bytes()).is_ok()
}

/// A public identifier that must not be guessable (client ids): 128 random bits in lower-case
/// hex. Not base64url: an id that began with `-` was read as a flag by `latchkey client
/// delete`, and a `-` or `_` splits the id when a person double-clicks it to copy.
pub fn random_id() -> String {
    let mut bytes = [0u8; 16];
    fill_random(&mut bytes);
    hex(&bytes)
}

/// A key kept only here (a SAML service provider's pairwise key): 256 random bits in hex.
pub fn random_key_hex() -> String {
    let mut bytes = [0u8; 32];
    fill_random(&mut bytes);
    hex(&bytes)
}

/// HMAC-SHA256 of `message` under `key`, in lower-case hex.
pub fn hmac_sha256_hex(key: &[u8], message: &[u8]) -> String {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key);
    hex(aws_lc_rs::hmac::sign(&key, message).as_ref())
}

/// An eight-digit one-time code: a hundred million values, so the few guesses allowed per
/// address and day stay a negligible chance. 64 random bits make the modulo bias negligible.
pub fn generate_code() -> String {
    let mut bytes = [0u8; 8];
    fill_random(&mut bytes);
    format!("{:08}", u64::from_le_bytes(bytes) % 100_000_000)
}

/// Fills `bytes` from the operating system's generator. Without randomness every secret
/// would be guessable, so the process stops rather than continue.
fn fill_random(bytes: &mut [u8]) {
    if aws_lc_rs::rand::fill(bytes).is_err() {
        tracing::error!("the system random number generator failed; stopping");
        std::process::abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_hex_matches_the_fips_180_example() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn codes_are_eight_digits() {
        for _ in 0..1_000 {
            let code = generate_code();
            assert_eq!(code.len(), 8);
            assert!(code.bytes().all(|b| b.is_ascii_digit()));
        }
    }

    #[test]
    fn random_ids_are_hex_words() {
        for _ in 0..1_000 {
            let id = random_id();
            assert_eq!(id.len(), 32);
            assert!(
                id.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            );
        }
    }
}

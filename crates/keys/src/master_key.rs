use aws_lc_rs::aead::{AES_256_GCM, Aad, NONCE_LEN, Nonce, RandomizedNonceKey};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// The 256-bit key that seals private signing keys at rest (AES-256-GCM). Its `Debug` prints
/// nothing of the key. While the master key is being changed it also holds the previous one:
/// it seals only under the new key, and opens under either, until `keys rotate-master` has
/// sealed everything anew.
pub struct MasterKey {
    aead: RandomizedNonceKey,
    previous: Option<RandomizedNonceKey>,
}

/// Why a master key could not be read or could not open a sealed key.
#[derive(Debug, thiserror::Error)]
pub enum MasterKeyError {
    #[error("it is not standard base64 ({0})")]
    NotBase64(#[from] base64::DecodeError),
    #[error("it decodes to {0} bytes; it must be exactly 32")]
    WrongLength(usize),
    #[error("the sealed key is damaged or was sealed under another master key")]
    CannotOpen,
    #[error("the system could not seal a key")]
    CannotSeal,
}

impl MasterKey {
    /// Reads a master key written as standard base64 of 32 bytes.
    pub fn from_base64(encoded: &str) -> Result<Self, MasterKeyError> {
        let bytes = STANDARD.decode(encoded.trim())?;
        Self::from_bytes(&bytes)
    }

    fn from_bytes(bytes: &[u8]) -> Result<Self, MasterKeyError> {
        if bytes.len() != 32 {
            return Err(MasterKeyError::WrongLength(bytes.len()));
        }
        let aead = RandomizedNonceKey::new(&AES_256_GCM, bytes)
            .map_err(|_| MasterKeyError::WrongLength(bytes.len()))?;
        Ok(Self {
            aead,
            previous: None,
        })
    }

    /// This key, opening also what `previous` sealed (during a change of master key).
    pub fn with_previous(self, previous: MasterKey) -> Self {
        Self {
            aead: self.aead,
            previous: Some(previous.aead),
        }
    }

    /// Whether a previous master key is configured beside this one.
    pub fn has_previous(&self) -> bool {
        self.previous.is_some()
    }

    /// Makes a fresh random master key and returns it with its base64 form, to be saved.
    pub fn generate() -> Result<(Self, String), MasterKeyError> {
        let mut bytes = [0u8; 32];
        aws_lc_rs::rand::fill(&mut bytes).map_err(|_| MasterKeyError::CannotSeal)?;
        let key = Self::from_bytes(&bytes)?;
        Ok((key, STANDARD.encode(bytes)))
    }

    /// Seals `plaintext`, binding it to `context` (the key id) so a sealed key cannot be
    /// moved to another row. Output: nonce ‖ ciphertext ‖ tag.
    pub fn seal(&self, context: &str, plaintext: &[u8]) -> Result<Vec<u8>, MasterKeyError> {
        let mut in_out = plaintext.to_vec();
        let nonce = self
            .aead
            .seal_in_place_append_tag(Aad::from(context.as_bytes()), &mut in_out)
            .map_err(|_| MasterKeyError::CannotSeal)?;
        let mut sealed = Vec::with_capacity(NONCE_LEN + in_out.len());
        sealed.extend_from_slice(nonce.as_ref());
        sealed.extend_from_slice(&in_out);
        Ok(sealed)
    }

    /// Opens what [`MasterKey::seal`] made under the same context, with this key or the
    /// previous one.
    pub fn open(&self, context: &str, sealed: &[u8]) -> Result<Vec<u8>, MasterKeyError> {
        open_with(&self.aead, context, sealed).or_else(|error| match &self.previous {
            Some(previous) => open_with(previous, context, sealed),
            None => Err(error),
        })
    }
}

fn open_with(
    key: &RandomizedNonceKey,
    context: &str,
    sealed: &[u8],
) -> Result<Vec<u8>, MasterKeyError> {
    if sealed.len() < NONCE_LEN {
        return Err(MasterKeyError::CannotOpen);
    }
    let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| MasterKeyError::CannotOpen)?;
    let mut in_out = ciphertext.to_vec();
    let plaintext = key
        .open_in_place(nonce, Aad::from(context.as_bytes()), &mut in_out)
        .map_err(|_| MasterKeyError::CannotOpen)?;
    Ok(plaintext.to_vec())
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_key_opens_only_under_the_same_master_key_and_context() -> Result<(), MasterKeyError>
    {
        let (key, _) = MasterKey::generate()?;
        let (other, _) = MasterKey::generate()?;
        let sealed = key.seal("kid-1", b"private")?;
        assert_eq!(key.open("kid-1", &sealed)?, b"private");
        assert!(matches!(
            key.open("kid-2", &sealed),
            Err(MasterKeyError::CannotOpen)
        ));
        assert!(matches!(
            other.open("kid-1", &sealed),
            Err(MasterKeyError::CannotOpen)
        ));
        let mut tampered = sealed.clone();
        if let Some(last) = tampered.last_mut() {
            *last ^= 1;
        }
        assert!(matches!(
            key.open("kid-1", &tampered),
            Err(MasterKeyError::CannotOpen)
        ));
        Ok(())
    }

    #[test]
    fn during_a_change_the_new_key_seals_and_either_opens() -> Result<(), MasterKeyError> {
        let (old, old_encoded) = MasterKey::generate()?;
        let (new, new_encoded) = MasterKey::generate()?;
        let sealed_before = old.seal("kid-1", b"private")?;
        let both = new.with_previous(MasterKey::from_base64(&old_encoded)?);
        assert!(both.has_previous());
        assert_eq!(both.open("kid-1", &sealed_before)?, b"private");
        let sealed_now = both.seal("kid-1", b"private")?;
        let new_alone = MasterKey::from_base64(&new_encoded)?;
        assert_eq!(new_alone.open("kid-1", &sealed_now)?, b"private");
        assert!(new_alone.open("kid-1", &sealed_before).is_err());
        Ok(())
    }

    #[test]
    fn a_master_key_must_be_base64_of_32_bytes() {
        assert!(matches!(
            MasterKey::from_base64("not base64!"),
            Err(MasterKeyError::NotBase64(_))
        ));
        assert!(matches!(
            MasterKey::from_base64("AAAA"),
            Err(MasterKeyError::WrongLength(3))
        ));
        let (_, encoded) = MasterKey::generate().expect("generate");
        assert!(MasterKey::from_base64(&encoded).is_ok());
    }
}

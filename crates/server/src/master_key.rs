//! The master key that seals private signing keys: from configuration, or from a file that
//! is generated on first start.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use latchkey_keys::MasterKey;

use crate::config::MasterKeySource;

#[derive(Debug, thiserror::Error)]
pub enum MasterKeyFileError {
    #[error("keys.master_key is empty and {path} cannot be read: {reason}")]
    Read { path: String, reason: String },
    #[error("keys.master_key is empty and {path} does not hold a master key: {reason}")]
    Invalid { path: String, reason: String },
    #[error("keys.master_key is empty and a new master key cannot be written to {path}: {reason}")]
    Write { path: String, reason: String },
    #[error(
        "{path} holds the master key but others may read it (mode {mode:o}): run `chmod 600 {path}`"
    )]
    Exposed { path: String, mode: u32 },
}

/// Returns the configured master key, or the one in the file, generating the file if absent.
pub fn resolve(source: &MasterKeySource) -> Result<Arc<MasterKey>, MasterKeyFileError> {
    match source {
        MasterKeySource::Configured(key) => Ok(key.clone()),
        MasterKeySource::File(path) => from_file(path).map(Arc::new),
    }
}

fn from_file(path: &Path) -> Result<MasterKey, MasterKeyFileError> {
    let shown = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(encoded) => {
            refuse_if_exposed(path, &shown)?;
            MasterKey::from_base64(&encoded).map_err(|e| MasterKeyFileError::Invalid {
                path: shown,
                reason: e.to_string(),
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let write_error = |reason: String| MasterKeyFileError::Write {
                path: shown.clone(),
                reason,
            };
            let (key, encoded) = MasterKey::generate().map_err(|e| write_error(e.to_string()))?;
            if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(folder).map_err(|e| write_error(e.to_string()))?;
            }
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(path).map_err(|e| write_error(e.to_string()))?;
            file.write_all(encoded.as_bytes())
                .map_err(|e| write_error(e.to_string()))?;
            tracing::warn!(
                path = %shown,
                "GENERATED A NEW MASTER KEY: private signing keys are sealed with {shown}. Back it up, \
                 and for production or several replicas set keys.master_key (LATCHKEY_KEYS__MASTER_KEY) instead"
            );
            Ok(key)
        }
        Err(e) => Err(MasterKeyFileError::Read {
            path: shown,
            reason: e.to_string(),
        }),
    }
}

/// A key file that its group or others may read is refused: whoever can read it can mint
/// codes and read every sealed key and mail. (It is written 0600.)
#[cfg(unix)]
fn refuse_if_exposed(path: &Path, shown: &str) -> Result<(), MasterKeyFileError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .map_err(|e| MasterKeyFileError::Read {
            path: shown.to_owned(),
            reason: e.to_string(),
        })?
        .permissions()
        .mode()
        & 0o777;
    if mode & 0o077 != 0 {
        return Err(MasterKeyFileError::Exposed {
            path: shown.to_owned(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn refuse_if_exposed(_: &Path, _: &str) -> Result<(), MasterKeyFileError> {
    Ok(())
}

//! Why the program stopped: [`StartError`] for `serve` (it could not start, or stopped with
//! an error), [`CliError`] for the one-shot commands. Each says what to fix.

use std::net::SocketAddr;

use crate::{database, master_key};

/// Why the provider could not start, or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Database(#[from] database::DatabaseError),
    #[error(transparent)]
    MasterKey(#[from] master_key::MasterKeyFileError),
    #[error(transparent)]
    Keys(#[from] KeysError),
    #[error("listen: cannot listen on {addr}: {reason}")]
    Listen { addr: SocketAddr, reason: String },
    #[error("starting the web application: {0}")]
    State(#[from] latchkey_idp::web::StateError),
    #[error("loading the mail templates: {0}")]
    MailTemplates(String),
    #[error("building the HTTP client that fetches others' keys and metadata: {0}")]
    HttpClient(#[from] reqwest::Error),
    #[error("{0}")]
    Mail(String),
    #[error("reading revocations from the database: {0}")]
    Revocations(String),
    #[error("sealing the SAML service providers' pairwise keys: {0}")]
    SealPairwiseKeys(latchkey_saml::SamlError),
    #[error("serving: {0}")]
    Io(#[from] std::io::Error),
}

/// Why a one-shot command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Database(#[from] database::DatabaseError),
    #[error(transparent)]
    MasterKey(#[from] master_key::MasterKeyFileError),
    #[error(transparent)]
    Keys(#[from] KeysError),
    #[error("{0}")]
    Client(#[from] latchkey_oidc::ClientError),
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Issuer(#[from] latchkey_oidc::federation::IssuerError),
    #[error("{0}")]
    Resource(#[from] latchkey_oidc::ResourceError),
    #[error("{0}")]
    Connection(#[from] latchkey_connections::ConnectionError),
    #[error("{0}")]
    Saml(#[from] latchkey_saml::SamlError),
}

/// The signing keys could not be used; a key sealed under another master key says which
/// setting to fix.
#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    #[error("signing keys: {0}")]
    Keys(latchkey_keys::KeyError),
    #[error(
        "signing keys: {0}. Set keys.master_key to the master key this database's keys were sealed with"
    )]
    MasterKeyMismatch(String),
}

impl From<latchkey_keys::KeyError> for KeysError {
    fn from(error: latchkey_keys::KeyError) -> Self {
        match error {
            latchkey_keys::KeyError::Sealed { .. } => Self::MasterKeyMismatch(error.to_string()),
            other => Self::Keys(other),
        }
    }
}

impl From<latchkey_keys::KeyError> for StartError {
    fn from(error: latchkey_keys::KeyError) -> Self {
        Self::Keys(error.into())
    }
}

impl From<latchkey_keys::KeyError> for CliError {
    fn from(error: latchkey_keys::KeyError) -> Self {
        Self::Keys(error.into())
    }
}

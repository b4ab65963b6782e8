use crate::master_key::MasterKeyError;

/// What can go wrong while keeping the key ring.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("database: {0}")]
    Database(#[from] sea_orm::DbErr),
    #[error("signing key {kid}: {source}")]
    Sealed { kid: String, source: MasterKeyError },
    #[error("cryptography: {0}")]
    Crypto(String),
    #[error("no active {0} key; the key ring has not been initialised")]
    NoActiveKey(crate::SigningAlgorithm),
    #[error("encoding claims: {0}")]
    Claims(#[from] serde_json::Error),
    #[error(
        "signing key {0}: the published public key does not match the sealed private key; the keys table was altered"
    )]
    PublicKeyMismatch(String),
}

/// Why a JWT was refused. Each check has its own variant so callers and tests can tell them
/// apart; none of them says more to a client than that the token is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the token is not a well-formed compact JWS")]
    Malformed,
    #[error("the token uses the algorithm {0:?}, which is never accepted")]
    UnsupportedAlgorithm(String),
    #[error("the token names no key id (kid)")]
    MissingKeyId,
    #[error("the token names a key id that is not published")]
    UnknownKey,
    #[error("the token's algorithm {header} is not the algorithm of its key ({key})")]
    AlgorithmMismatch { header: String, key: String },
    #[error("the token's signature does not verify")]
    BadSignature,
    #[error("the token's type is {found:?}; {expected:?} was expected")]
    WrongType {
        expected: String,
        found: Option<String>,
    },
    #[error("the token is not meant for this audience")]
    WrongAudience,
    #[error("the token was not issued by this issuer")]
    WrongIssuer,
    #[error("the token lacks the claim {0}")]
    MissingClaim(String),
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token's claims do not have the expected shape: {0}")]
    InvalidClaims(String),
}

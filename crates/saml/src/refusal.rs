//! Why a sign-on or a logout was not answered. Each names what the person (or the SP's
//! administrator) needs to know; the web layer turns them into pages in one place.

use crate::{RequestError, SamlError};

#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// The message cannot be read (malformed, wrong binding, too old, unknown destination).
    #[error("the request cannot be read: {0}")]
    Unreadable(String),
    #[error("the request comes from a service provider that is not registered")]
    UnknownSp,
    /// Signed, but no certificate of the SP is registered to check it with.
    #[error("{sp} signs its requests, and no certificate of it is registered")]
    Unchecked { sp: String },
    /// Its signature is missing or does not match the SP's certificate.
    #[error("{sp}'s request is not signed with its certificate")]
    NotSigned { sp: String },
    #[error("{sp} asked for the answer at an ACS URL it has not registered")]
    AcsNotRegistered { sp: String },
    /// SAML Core §3.4.1: `AssertionConsumerServiceIndex` excludes a URL.
    #[error("{sp} named the ACS both by index and by URL")]
    AcsIndexAndUrl { sp: String },
    #[error("{sp} asked for the answer at ACS index {index}, which it has not registered")]
    AcsIndexNotRegistered { sp: String, index: u16 },
    /// The index names an endpoint of a binding Latchkey does not answer over.
    #[error("{sp} asks for the answer over the {binding} binding; Latchkey answers over HTTP-POST")]
    AcsBinding { sp: String, binding: String },
    /// The `RelayState` (where the SP returns the person) is longer than Latchkey keeps.
    #[error("the return address is longer than {max} bytes", max = crate::MAX_RELAY_STATE)]
    RelayStateTooLong { sp: String },
    /// Signed with SHA-1, and the SP is not allowed it.
    #[error("{sp} signed its request with SHA-1, which is not accepted")]
    Sha1 { sp: String },
    #[error("{sp} does not take sign-ons started at Latchkey")]
    StartsAtApplication { sp: String },
    #[error("this sign-in request was already received")]
    Replay,
    #[error("this sign-in request has expired or was completed")]
    Expired,
    #[error("this sign-in request was answered already, in another tab or window")]
    AlreadyCompleted,
    #[error("{email} is not a member of the team {sp} is for")]
    NotMember { sp: String, email: String },
    #[error("{sp} has no logout URL registered")]
    NoLogoutUrl { sp: String },
    #[error("this sign-out request was already received")]
    LogoutReplay,
    /// A single logout's answer or page for a chain that is over, expired or moved on.
    #[error("this sign-out is over")]
    SignOutOver,
    /// Signing, or the key ring: nothing the person can fix.
    #[error("{0}")]
    Failed(#[from] SamlError),
    #[error("database: {0}")]
    Database(#[from] sea_orm::DbErr),
}

impl From<latchkey_teams::TeamError> for Refusal {
    fn from(error: latchkey_teams::TeamError) -> Self {
        match error {
            latchkey_teams::TeamError::Database(e) => Self::Database(e),
            other => Self::Failed(SamlError::Team(other)),
        }
    }
}

impl Refusal {
    /// A request `sp` sent that its checks refused.
    pub(crate) fn request(sp: &crate::ServiceProvider, error: RequestError) -> Self {
        tracing::warn!(sp = %sp.sp_id, %error, "SAML request refused");
        match error {
            RequestError::Signature if sp.signing_cert.is_none() => Self::Unchecked {
                sp: sp.name.clone(),
            },
            RequestError::Signature => Self::NotSigned {
                sp: sp.name.clone(),
            },
            RequestError::RelayStateTooLong => Self::RelayStateTooLong {
                sp: sp.name.clone(),
            },
            RequestError::Sha1 => Self::Sha1 {
                sp: sp.name.clone(),
            },
            other => Self::Unreadable(other.to_string()),
        }
    }
}

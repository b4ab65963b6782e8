//! Why a sign-in through a connection failed, and what of a provider's refusal may be shown:
//! only an error code the specifications define, its own words going to the log.

use crate::model::ConnectionError;

/// Why a sign-in through a connection did not happen. None started a session.
#[derive(Debug, thiserror::Error)]
pub enum SignInFailure {
    #[error("there is no such connection")]
    UnknownConnection,
    #[error("the connection was removed while you were signing in")]
    Removed,
    #[error("the identity provider could not be reached ({0})")]
    Unreachable(String),
    #[error("this sign-in does not belong to this browser, or it was used already")]
    StateMismatch,
    #[error("this sign-in took longer than 10 minutes")]
    Expired,
    #[error("the answer came back from another identity provider than the one the sign-in went to")]
    OtherConnection,
    /// Only an error code the specifications define is shown; the provider's own words go to
    /// the log, not onto a page of ours.
    #[error("the identity provider refused: {0}")]
    Refused(String),
    #[error("the answer names another issuer ({0}) than the connection's")]
    WrongIssuer(String),
    #[error("the identity provider sent no authorization code")]
    NoCode,
    #[error("the identity provider sent no ID token")]
    NoIdToken,
    #[error("the ID token failed verification: {0}")]
    IdToken(String),
    #[error("the identity provider sent no usable email address ({0} claim)")]
    MissingEmail(String),
    #[error("the identity provider says the address {0} is not verified")]
    UnverifiedEmail(String),
    #[error("{0} is outside the domains this connection signs in")]
    OutsideDomains(String),
    #[error("the domain of {0} is no longer proven for this identity provider")]
    NoLongerProven(String),
    #[error("the identity provider's UserInfo answer speaks of another person than its ID token")]
    UserInfoSubject,
    #[error("the identity provider's UserInfo endpoint did not answer as expected ({0})")]
    UserInfo(String),
    #[error("the account is not one of the Google Workspace domain {expected} (its hosted domain is {})", found.as_deref().unwrap_or("missing"))]
    HostedDomain {
        expected: String,
        found: Option<String>,
    },
    #[error(
        "the application asked for a fresh sign-in, and the identity provider did not say when you signed in (no auth_time)"
    )]
    NoAuthTime,
    #[error(
        "the application asked for a fresh sign-in, and the identity provider answered with an older one"
    )]
    StaleAuthentication,
    #[error("the sign-in could not be completed")]
    Internal,
}

impl From<sea_orm::DbErr> for SignInFailure {
    fn from(error: sea_orm::DbErr) -> Self {
        tracing::error!(%error, "upstream sign-in failed");
        Self::Internal
    }
}

impl From<ConnectionError> for SignInFailure {
    fn from(error: ConnectionError) -> Self {
        match error {
            ConnectionError::NotFound(_) => Self::UnknownConnection,
            ConnectionError::Upstream(e) => Self::Unreachable(e.to_string()),
            other => {
                tracing::error!(error = %other, "upstream sign-in failed");
                Self::Internal
            }
        }
    }
}

/// The error codes of OAuth 2.0 (RFC 6749 §4.1.2.1, §5.2) and OpenID Connect Core (§3.1.2.6).
const KNOWN_ERRORS: [&str; 17] = [
    "invalid_request",
    "unauthorized_client",
    "access_denied",
    "unsupported_response_type",
    "invalid_scope",
    "server_error",
    "temporarily_unavailable",
    "invalid_client",
    "invalid_grant",
    "unsupported_grant_type",
    "interaction_required",
    "login_required",
    "account_selection_required",
    "consent_required",
    "invalid_request_uri",
    "invalid_request_object",
    "request_not_supported",
];

/// A refusal from the provider: its code if the specifications define it, its words logged.
pub(crate) fn refused(error: &str, description: Option<&str>) -> SignInFailure {
    let code = KNOWN_ERRORS
        .iter()
        .find(|known| **known == error)
        .map_or("an error it did not name in standard terms", |known| *known);
    tracing::warn!(error = %printable(error, 64), description = %printable(description.unwrap_or_default(), 300), "the identity provider refused a sign-in");
    SignInFailure::Refused(code.to_owned())
}

pub(crate) fn unreachable(error: crate::client::UpstreamError) -> SignInFailure {
    SignInFailure::Unreachable(error.to_string())
}

/// Text from the provider, made safe to show and log: printable, and not too long.
pub(crate) fn printable(raw: &str, longest: usize) -> String {
    raw.chars()
        .filter(|c| !c.is_control())
        .take(longest)
        .collect()
}

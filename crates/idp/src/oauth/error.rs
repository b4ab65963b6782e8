//! OAuth 2.0 errors (RFC 6749 §5.2, RFC 6750 §3.1): a registered code and a sentence for the
//! developer. The web layer turns them into JSON bodies or redirects.

/// An error code from the OAuth registries, with a description that says which check failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {description}")]
pub struct OAuthError {
    pub code: &'static str,
    pub description: String,
}

macro_rules! codes {
    ($($name:ident => $code:literal),* $(,)?) => {
        impl OAuthError {
            $(
                pub fn $name(description: impl Into<String>) -> Self {
                    Self { code: $code, description: description.into() }
                }
            )*
        }
    };
}

codes! {
    invalid_request => "invalid_request",
    invalid_client => "invalid_client",
    invalid_grant => "invalid_grant",
    unauthorized_client => "unauthorized_client",
    unsupported_grant_type => "unsupported_grant_type",
    unsupported_response_type => "unsupported_response_type",
    invalid_scope => "invalid_scope",
    access_denied => "access_denied",
    server_error => "server_error",
    login_required => "login_required",
    consent_required => "consent_required",
    invalid_token => "invalid_token",
    insufficient_scope => "insufficient_scope",
    unsupported_token_type => "unsupported_token_type",
}

impl OAuthError {
    /// A failure of ours, logged in full; the client sees only that it happened.
    pub fn internal(error: impl std::fmt::Display) -> Self {
        tracing::error!(%error, "request failed");
        Self::server_error("the server could not complete the request; try again")
    }
}

impl From<sea_orm::DbErr> for OAuthError {
    fn from(error: sea_orm::DbErr) -> Self {
        Self::internal(error)
    }
}

impl From<latchkey_keys::KeyError> for OAuthError {
    fn from(error: latchkey_keys::KeyError) -> Self {
        Self::internal(error)
    }
}

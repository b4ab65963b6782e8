//! OAuth 2.0 errors (RFC 6749 §5.2, RFC 6750 §3.1): a registered code and a sentence for the
//! developer. The web layer turns them into JSON bodies or redirects.

/// An error from the OAuth registries, with a description that says which check failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}: {description}", code.as_str())]
pub struct OAuthError {
    pub code: ErrorCode,
    pub description: String,
}

macro_rules! codes {
    ($($name:ident => $variant:ident),* $(,)?) => {
        /// The registered error codes Latchkey answers with (RFC 6749 §4.1.2.1 and §5.2,
        /// RFC 6750 §3.1, RFC 7009 §2.2.1, RFC 8707 §2, OpenID Connect Core §3.1.2.6).
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum ErrorCode {
            $($variant,)*
        }

        impl ErrorCode {
            /// The code as the specifications spell it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => stringify!($name),)*
                }
            }
        }

        impl OAuthError {
            $(
                pub fn $name(description: impl Into<String>) -> Self {
                    Self { code: ErrorCode::$variant, description: description.into() }
                }
            )*
        }
    };
}

codes! {
    invalid_request => InvalidRequest,
    invalid_client => InvalidClient,
    invalid_grant => InvalidGrant,
    unauthorized_client => UnauthorizedClient,
    unsupported_grant_type => UnsupportedGrantType,
    unsupported_response_type => UnsupportedResponseType,
    invalid_scope => InvalidScope,
    invalid_target => InvalidTarget,
    access_denied => AccessDenied,
    server_error => ServerError,
    login_required => LoginRequired,
    consent_required => ConsentRequired,
    invalid_token => InvalidToken,
    insufficient_scope => InsufficientScope,
    unsupported_token_type => UnsupportedTokenType,
    request_not_supported => RequestNotSupported,
    request_uri_not_supported => RequestUriNotSupported,
    temporarily_unavailable => TemporarilyUnavailable,
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
        if latchkey_core::database_unavailable(&error) {
            if latchkey_core::database_needs_operator(&error) {
                tracing::error!(%error, "the database cannot take requests now");
            } else {
                tracing::warn!(%error, "the database cannot take requests now");
            }
            return Self::temporarily_unavailable(
                "the database cannot take requests now; try again in a moment",
            );
        }
        Self::internal(error)
    }
}

impl From<crate::ClientError> for OAuthError {
    fn from(error: crate::ClientError) -> Self {
        match error {
            crate::ClientError::Database(e) => e.into(),
            other => Self::internal(other),
        }
    }
}

impl From<latchkey_keys::KeyError> for OAuthError {
    fn from(error: latchkey_keys::KeyError) -> Self {
        Self::internal(error)
    }
}

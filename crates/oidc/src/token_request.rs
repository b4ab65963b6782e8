//! What a client asks the token endpoint for, typed once where the form is read: one variant
//! per grant (RFC 6749 §4.1.3, §4.4.2 and §6; RFC 7523 §2.1). Each grant still says which of
//! its own parameters is missing, so they stay optional here.

use std::collections::HashMap;

use super::error::OAuthError;
use super::federation::JWT_BEARER;

/// A token request, by grant.
#[derive(Debug, PartialEq, Eq)]
pub enum TokenRequest {
    AuthorizationCode {
        code: Option<String>,
        redirect_uri: Option<String>,
        code_verifier: Option<String>,
        resource: Option<String>,
    },
    RefreshToken {
        refresh_token: Option<String>,
        scope: Option<String>,
        resource: Option<String>,
    },
    ClientCredentials {
        scope: Option<String>,
        resource: Option<String>,
    },
    JwtBearer {
        assertion: Option<String>,
        scope: Option<String>,
        resource: Option<String>,
    },
}

impl TokenRequest {
    /// Reads the request from the form's parameters (client credentials already taken out).
    pub fn parse(mut params: HashMap<String, String>) -> Result<Self, OAuthError> {
        let mut take = |name: &str| params.remove(name);
        let grant_type = take("grant_type")
            .ok_or_else(|| OAuthError::invalid_request("grant_type is missing"))?;
        Ok(match grant_type.as_str() {
            "authorization_code" => Self::AuthorizationCode {
                code: take("code"),
                redirect_uri: take("redirect_uri"),
                code_verifier: take("code_verifier"),
                resource: take("resource"),
            },
            "refresh_token" => Self::RefreshToken {
                refresh_token: take("refresh_token"),
                scope: take("scope"),
                resource: take("resource"),
            },
            "client_credentials" => Self::ClientCredentials {
                scope: take("scope"),
                resource: take("resource"),
            },
            JWT_BEARER => Self::JwtBearer {
                assertion: take("assertion"),
                scope: take("scope"),
                resource: take("resource"),
            },
            other => {
                return Err(OAuthError::unsupported_grant_type(format!(
                    "grant_type {other:?} is not supported"
                )));
            }
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::ErrorCode;

    fn parse(pairs: &[(&str, &str)]) -> Result<TokenRequest, OAuthError> {
        TokenRequest::parse(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    #[test]
    fn each_grant_type_reads_its_own_parameters() {
        assert_eq!(
            parse(&[
                ("grant_type", "authorization_code"),
                ("code", "c"),
                ("scope", "x")
            ])
            .unwrap(),
            TokenRequest::AuthorizationCode {
                code: Some("c".into()),
                redirect_uri: None,
                code_verifier: None,
                resource: None
            }
        );
        assert_eq!(
            parse(&[("grant_type", "client_credentials"), ("scope", "api")]).unwrap(),
            TokenRequest::ClientCredentials {
                scope: Some("api".into()),
                resource: None
            }
        );
        assert_eq!(
            parse(&[("grant_type", JWT_BEARER), ("assertion", "a.b.c")]).unwrap(),
            TokenRequest::JwtBearer {
                assertion: Some("a.b.c".into()),
                scope: None,
                resource: None
            }
        );
    }

    #[test]
    fn a_missing_or_unknown_grant_type_gets_its_rfc_code() {
        assert_eq!(parse(&[]).unwrap_err().code, ErrorCode::InvalidRequest);
        assert_eq!(
            parse(&[("grant_type", "password")]).unwrap_err().code,
            ErrorCode::UnsupportedGrantType
        );
    }
}

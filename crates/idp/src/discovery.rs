//! The OpenID Provider Metadata (OpenID Connect Discovery 1.0 §3, RFC 8414), made once at
//! start-up. Every value is what the endpoints actually do.

use serde::Serialize;

use latchkey_core::Issuer;
use latchkey_core::urls;
use latchkey_oidc::client::{AuthMethod, GrantType};
use latchkey_oidc::scope::USER_SCOPES;

#[derive(Serialize)]
struct ProviderMetadata<'a> {
    issuer: &'a str,
    authorization_endpoint: String,
    token_endpoint: String,
    userinfo_endpoint: String,
    jwks_uri: String,
    revocation_endpoint: String,
    introspection_endpoint: String,
    end_session_endpoint: String,
    scopes_supported: &'a [&'a str],
    response_types_supported: &'a [&'a str],
    response_modes_supported: &'a [&'a str],
    grant_types_supported: Vec<&'a str>,
    subject_types_supported: &'a [&'a str],
    id_token_signing_alg_values_supported: &'a [&'a str],
    token_endpoint_auth_methods_supported: Vec<&'a str>,
    token_endpoint_auth_signing_alg_values_supported: &'a [&'a str],
    revocation_endpoint_auth_methods_supported: Vec<&'a str>,
    introspection_endpoint_auth_methods_supported: Vec<&'a str>,
    code_challenge_methods_supported: &'a [&'a str],
    claims_supported: &'a [&'a str],
    prompt_values_supported: &'a [&'a str],
    claims_parameter_supported: bool,
    request_parameter_supported: bool,
    request_uri_parameter_supported: bool,
    authorization_response_iss_parameter_supported: bool,
}

const ASSERTION_ALGORITHMS: [&str; 5] = ["ES256", "ES384", "RS256", "PS256", "EdDSA"];

pub(crate) fn document(issuer: &Issuer) -> Result<Vec<u8>, serde_json::Error> {
    let auth_methods: Vec<&str> = AuthMethod::ALL.iter().map(|m| m.as_str()).collect();
    let confidential_methods: Vec<&str> = auth_methods
        .iter()
        .copied()
        .filter(|m| *m != "none")
        .collect();
    serde_json::to_vec(&ProviderMetadata {
        issuer: issuer.as_str(),
        authorization_endpoint: issuer.endpoint(urls::AUTHORIZE),
        token_endpoint: issuer.endpoint(urls::TOKEN),
        userinfo_endpoint: issuer.endpoint(urls::USERINFO),
        jwks_uri: issuer.endpoint(urls::JWKS),
        revocation_endpoint: issuer.endpoint(urls::REVOCATION),
        introspection_endpoint: issuer.endpoint(urls::INTROSPECTION),
        end_session_endpoint: issuer.endpoint(urls::END_SESSION),
        scopes_supported: &USER_SCOPES,
        response_types_supported: &["code"],
        response_modes_supported: &["query"],
        grant_types_supported: GrantType::ALL.iter().map(|g| g.as_str()).collect(),
        subject_types_supported: &["public"],
        id_token_signing_alg_values_supported: &["ES256", "RS256"],
        token_endpoint_auth_methods_supported: auth_methods.clone(),
        token_endpoint_auth_signing_alg_values_supported: &ASSERTION_ALGORITHMS,
        revocation_endpoint_auth_methods_supported: auth_methods,
        introspection_endpoint_auth_methods_supported: confidential_methods,
        code_challenge_methods_supported: &["S256"],
        claims_supported: &[
            "iss",
            "sub",
            "aud",
            "azp",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "at_hash",
            "amr",
            "sid",
            "email",
            "email_verified",
            "name",
            "given_name",
            "family_name",
            "preferred_username",
            "updated_at",
            "team_id",
            "team_name",
            "team_role",
        ],
        prompt_values_supported: &["none", "login", "consent", "select_account"],
        claims_parameter_supported: false,
        request_parameter_supported: false,
        request_uri_parameter_supported: false,
        authorization_response_iss_parameter_supported: true,
    })
}

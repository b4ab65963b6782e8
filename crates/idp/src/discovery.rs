use serde::Serialize;

use crate::issuer::Issuer;
use crate::web::paths;

/// OpenID Provider Metadata (OpenID Connect Discovery 1.0 §3). It lists only what the
/// provider really does; each capability is added with the code that provides it.
#[derive(Serialize)]
struct ProviderMetadata<'a> {
    issuer: &'a str,
    authorization_endpoint: String,
    jwks_uri: String,
    response_types_supported: &'a [&'a str],
    response_modes_supported: &'a [&'a str],
    subject_types_supported: &'a [&'a str],
    id_token_signing_alg_values_supported: &'a [&'a str],
}

/// The discovery document, serialized once at start-up.
pub(crate) fn document(issuer: &Issuer) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec(&ProviderMetadata {
        issuer: issuer.as_str(),
        authorization_endpoint: issuer.endpoint(paths::AUTHORIZE),
        jwks_uri: issuer.endpoint(paths::JWKS),
        response_types_supported: &["code"],
        response_modes_supported: &["query"],
        subject_types_supported: &["public"],
        id_token_signing_alg_values_supported: &["ES256", "RS256"],
    })
}

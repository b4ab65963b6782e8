use sea_orm::sea_query::StringLen;
use sea_orm::{DeriveActiveEnum, EnumIter};
use serde::{Deserialize, Serialize};

/// The JWS algorithms Latchkey signs with. ES256 is the default for everything; RS256 exists
/// for relying parties that accept nothing else (and for OpenID certification).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum SigningAlgorithm {
    #[sea_orm(string_value = "ES256")]
    #[serde(rename = "ES256")]
    Es256,
    #[sea_orm(string_value = "RS256")]
    #[serde(rename = "RS256")]
    Rs256,
}

impl SigningAlgorithm {
    /// Every algorithm the key ring keeps a key for.
    pub const ALL: [SigningAlgorithm; 2] = [SigningAlgorithm::Es256, SigningAlgorithm::Rs256];

    /// The JWS `alg` name.
    pub fn as_str(self) -> &'static str {
        match self {
            SigningAlgorithm::Es256 => "ES256",
            SigningAlgorithm::Rs256 => "RS256",
        }
    }

    pub(crate) fn jsonwebtoken(self) -> jsonwebtoken::Algorithm {
        match self {
            SigningAlgorithm::Es256 => jsonwebtoken::Algorithm::ES256,
            SigningAlgorithm::Rs256 => jsonwebtoken::Algorithm::RS256,
        }
    }

    pub(crate) fn from_jsonwebtoken(alg: jsonwebtoken::Algorithm) -> Option<Self> {
        match alg {
            jsonwebtoken::Algorithm::ES256 => Some(SigningAlgorithm::Es256),
            jsonwebtoken::Algorithm::RS256 => Some(SigningAlgorithm::Rs256),
            _ => None,
        }
    }
}

impl std::fmt::Display for SigningAlgorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

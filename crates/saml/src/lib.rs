//! SAML 2.0 identity provider: the service providers a team registers, the requests they send
//! (read with DTDs refused, sizes bounded and signatures checked) and the responses Latchkey
//! signs, and encrypts, for them.
//!
//! This crate owns every SAML decision: which ACS URL a response goes to, which NameID
//! formats are met, ForceAuthn and IsPassive, replays, who may sign in to an SP, and which
//! sessions a logout ends (`sign_on`, `logout`). Nothing here knows HTTP: the web layer hands
//! in what a binding carried and the person signed in, and gets back where to send the
//! browser or what to post (`Reply`), or why not (`Refusal`). Sessions are `latchkey_login`'s;
//! this crate reads the signed-in person and ends the sessions a logout names.
//!
//! A member's application launcher (`/apps`) lists the team's SPs that allow a sign-on
//! started at Latchkey (`ServiceProviders::openable_by`, `launcher`), beside the team's
//! OpenID applications with a login URI (`latchkey_oidc::Clients::openable_by`): no crate
//! below the web layer knows both protocols, so it composes the two.

mod acs;
mod admission;
mod attributes;
mod cert;
mod certificates;
mod current;
pub mod entities;
mod error;
mod identity;
mod idp;
mod launcher;
mod logout;
mod logout_chain;
mod messages;
mod pairwise_key;
mod pending;
mod refusal;
mod registration;
mod registry;
mod reply;
mod requested;
pub mod response;
mod sign_on;
mod sign_on_records;
mod sp_metadata;
mod sweep;
#[cfg(test)]
mod tests;
mod update;
mod xml_signature;

use serde::{Deserialize, Serialize};

pub use acs::AcsEndpoint;
pub use admission::{Account, Person};
pub use attributes::{
    Attribute, AttributeFormat, AttributeValue, LITERAL, MAX_LITERAL, default_attributes,
    parse_attribute_format, split_attribute_list,
};
pub use cert::Certificate;
pub use certificates::{Certificates, EXPIRY_WARNING, TeamCertificate};
pub use current::CurrentIdentityProvider;
pub use error::SamlError;
pub use identity::{Addresses, Identity};
pub use idp::{IdentityProvider, LogoutAnswer};
pub use launcher::OpenableServiceProvider;
pub use logout::{LogoutAsked, LogoutOutcome};
pub use logout_chain::{LOGOUT_CHAIN_TTL, LogoutChain, SignOutNext, SignOutStatus, StepOutcome};
pub use messages::{
    Inbound, LogoutAsk, MAX_MESSAGE, MAX_RELAY_STATE, Outgoing, RequestError, SignOnRequest,
    peek_issuer,
};
pub use pairwise_key::seal_pairwise_keys;
pub use pending::{HoldError, Keep, PENDING_TTL, PendingSignOn};
pub use refusal::Refusal;
pub use registry::{NewServiceProvider, ServiceProvider, ServiceProviders};
pub use sign_on::{Confirmation, PostBack, Reply, SignOnAsked, SignOns, StatusPage};
pub use sp_metadata::{MAX_METADATA, SpMetadata};
pub use sweep::sweep_expired;
pub use update::ServiceProviderChange;

/// How the person is named to the SP.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NameIdFormat {
    /// Their address (`emailAddress`).
    #[default]
    Email,
    /// An opaque identifier, stable for the person and this SP only.
    Persistent,
    /// An opaque identifier for one session at this SP only: another sign-on in another
    /// session gets another one.
    Transient,
    /// Their address, under the format that says nothing of what it is (`unspecified`), for
    /// SPs that ask for it.
    Unspecified,
}

impl NameIdFormat {
    const ALL: [Self; 4] = [
        Self::Email,
        Self::Persistent,
        Self::Transient,
        Self::Unspecified,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Persistent => "persistent",
            Self::Transient => "transient",
            Self::Unspecified => "unspecified",
        }
    }

    pub fn urn(self) -> &'static str {
        match self {
            Self::Email => "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
            Self::Persistent => "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
            Self::Transient => "urn:oasis:names:tc:SAML:2.0:nameid-format:transient",
            Self::Unspecified => "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified",
        }
    }

    /// The format a request or metadata names by URN, if Latchkey gives it.
    pub fn from_urn(urn: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.urn() == urn)
    }

    /// The format a request's `NameIDPolicy` is answered in, for an SP registered with
    /// `self`: the one it asks for, or (asking none, or `unspecified`) the registered one;
    /// none when it asks for one Latchkey cannot produce (`InvalidNameIDPolicy`). Latchkey
    /// can name anyone by address, pairwise identifier or transient identifier.
    pub fn answering(self, asked: Option<&str>) -> Option<Self> {
        match asked.map(Self::from_urn) {
            None | Some(Some(Self::Unspecified)) => Some(self),
            Some(format) => format,
        }
    }
}

impl std::str::FromStr for NameIdFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| {
                format!("{s:?} is not a NameID format: email, persistent, transient or unspecified")
            })
    }
}

/// What is signed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Signing {
    #[default]
    Assertion,
    Response,
    Both,
}

impl Signing {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Assertion => "assertion",
            Self::Response => "response",
            Self::Both => "both",
        }
    }

    pub fn assertion(self) -> bool {
        matches!(self, Self::Assertion | Self::Both)
    }

    pub fn response(self) -> bool {
        matches!(self, Self::Response | Self::Both)
    }
}

impl std::str::FromStr for Signing {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "assertion" => Ok(Self::Assertion),
            "response" => Ok(Self::Response),
            "both" => Ok(Self::Both),
            other => Err(format!(
                "{other:?} is not what to sign: assertion, response or both"
            )),
        }
    }
}

/// The block cipher an encrypted assertion uses; the key is sent under RSA-OAEP.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Encryption {
    #[default]
    #[serde(rename = "aes256-gcm")]
    Aes256Gcm,
    #[serde(rename = "aes256-cbc")]
    Aes256Cbc,
}

impl Encryption {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Aes256Gcm => "aes256-gcm",
            Self::Aes256Cbc => "aes256-cbc",
        }
    }

    pub fn uri(self) -> &'static str {
        match self {
            Self::Aes256Gcm => "http://www.w3.org/2009/xmlenc11#aes256-gcm",
            Self::Aes256Cbc => "http://www.w3.org/2001/04/xmlenc#aes256-cbc",
        }
    }

    pub fn from_uri(uri: &str) -> Option<Self> {
        [Self::Aes256Gcm, Self::Aes256Cbc]
            .into_iter()
            .find(|e| e.uri() == uri)
    }
}

impl std::str::FromStr for Encryption {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "aes256-gcm" => Ok(Self::Aes256Gcm),
            "aes256-cbc" => Ok(Self::Aes256Cbc),
            other => Err(format!(
                "{other:?} is not an encryption: aes256-gcm or aes256-cbc"
            )),
        }
    }
}

/// What of the person an attribute carries (a fixed value is an `AttributeValue::Literal`).
/// Teams have no groups yet, so there is no claim of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Claim {
    Email,
    Name,
    GivenName,
    FamilyName,
    /// The SP's team's name.
    Team,
    /// The person's role in that team: `administrator` or `member`.
    Role,
    /// The person's stable identifier (the OIDC `sub`).
    Sub,
}

impl std::str::FromStr for Claim {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        serde_json::from_value(serde_json::Value::String(s.to_owned())).map_err(|_| {
            format!("{s:?} is not a claim: email, name, given_name, family_name, team, role or sub")
        })
    }
}

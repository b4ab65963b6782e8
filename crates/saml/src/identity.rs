//! Which SAML identity provider a message is for, and its addresses.
//!
//! Each team has its own identity provider: its entity ID, endpoints and signing
//! certificates, so an SP set up for one team can never accept another team's assertion,
//! and entity IDs are a team's own namespace. SPs registered before teams had their own keep
//! the shared one (the key ring's RSA keys, `/saml/metadata`) until an administrator moves
//! them; no new SP joins it, so nobody can take a name there any more.

use latchkey_core::{Issuer, TeamId, urls};
use serde::Serialize;

/// The identity provider an SP trusts, and a message is addressed to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Identity {
    /// The one of SPs registered before teams had their own.
    Shared,
    /// A team's own.
    Team(TeamId),
}

/// Where an identity provider is, as an SP's administrator copies it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Addresses {
    /// Its entity ID: the metadata URL.
    pub idp_entity_id: String,
    pub metadata_url: String,
    /// Single sign-on, HTTP-Redirect and HTTP-POST.
    pub sso_url: String,
    /// Single logout, HTTP-Redirect and HTTP-POST.
    pub slo_url: String,
}

impl Identity {
    pub fn addresses(&self, issuer: &Issuer) -> Addresses {
        let at = |shared: &str, team: &str| match self {
            Self::Shared => issuer.endpoint(shared),
            Self::Team(id) => issuer.endpoint(&urls::saml_team(team, id.as_str())),
        };
        let metadata_url = at(urls::SAML_METADATA, urls::SAML_TEAM_METADATA);
        Addresses {
            idp_entity_id: metadata_url.clone(),
            metadata_url,
            sso_url: at(urls::SAML_SSO, urls::SAML_TEAM_SSO),
            slo_url: at(urls::SAML_SLO, urls::SAML_TEAM_SLO),
        }
    }

    /// Where people start a sign-on to the SP registered as `entity_id` from Latchkey's side.
    pub fn init_url(&self, issuer: &Issuer, entity_id: &str) -> String {
        let init = issuer.endpoint(urls::SAML_INIT);
        let url = match self {
            Self::Shared => url::Url::parse_with_params(&init, &[("sp", entity_id)]),
            Self::Team(team) => {
                url::Url::parse_with_params(&init, &[("sp", entity_id), ("team", team.as_str())])
            }
        };
        url.map(String::from).unwrap_or(init)
    }
}

//! The OAuth 2.0 / OpenID Connect provider: clients and how they authenticate, the
//! authorization request, codes, grants, refresh-token rotation, and the tokens issued.
//! No HTTP here.
//!
//! Every OpenID provider decision is here: `Provider` and its flows (`flow`, `flow_answer`,
//! `consent`, `grant/*`, `mint`, `resource`), and beside it `federation::Federation`, the
//! tokens the issuers teams trust sign (jwt-bearer and browser sign-on). A team's own
//! identity provider (Latchkey as a relying party) is `latchkey_connections`'s, and every
//! outbound request `latchkey_egress`'s. Teams' and sessions' rows are written through
//! `latchkey_teams` and `latchkey_login`; this crate sweeps its own (`sweep_expired`).
//!
//! A member's application launcher (`/apps`) is composed in the web layer from two domain
//! queries, since no crate below it knows both protocols: the team's OpenID applications with
//! a login URI (`Clients::openable_by`, `launcher`) and its SAML applications that allow a
//! sign-on started at Latchkey (`latchkey_saml::ServiceProviders::openable_by`).

mod assertion;
pub mod assertion_audience;
pub mod authorize;
pub mod client;
pub mod client_admin;
pub mod client_auth;
mod code;
mod consent;
pub mod end_session;
pub mod entities;
pub mod error;
pub mod federation;
mod flow;
mod flow_answer;
mod grant;
mod id_token_hint;
pub mod initiate_login;
mod launcher;
mod membership;
mod mint;
pub mod pkce;
pub mod presets;
mod provider;
pub mod redirect;
mod registration;
pub mod remote_jwks;
mod resource;
pub mod resource_servers;
pub mod revocations;
pub mod scope;
mod secret_rotation;
mod sweep;
pub mod token_request;
pub mod tokens;
mod verified_tokens;

#[cfg(test)]
mod parser_properties;
#[cfg(test)]
mod tests;

pub use assertion_audience::{AudiencePolicy, Endpoint};
pub use authorize::{AuthorizationRequest, AuthorizeError, AuthorizeParams};
pub use client::{AuthMethod, Client, ClientError, Clients, CreatedClient, GrantType, NewClient};
pub use client_admin::{
    ApplicationError, ApplicationSettings, Field, TeamApplications, WithSecret,
};
pub use client_auth::{ClientAuthenticator, Presented};
pub use error::{ErrorCode, OAuthError};
pub use flow::{Next, SignInDemand};
pub use launcher::{LauncherError, OpenableApplication};
pub use provider::{Provider, TokenSettings};
pub use resource_servers::{NewResourceServer, ResourceError, ResourceServer, ResourceServers};
pub use revocations::Revocations;
pub use secret_rotation::Grace;
pub use sweep::sweep_expired;
pub use token_request::TokenRequest;

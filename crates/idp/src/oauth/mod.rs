//! The OAuth 2.0 / OpenID Connect provider: clients and how they authenticate, the
//! authorization request, codes, grants, refresh-token rotation, and the tokens issued.
//! No HTTP here.

mod access;
pub mod authorize;
pub mod client;
pub mod client_auth;
mod code;
pub mod entities;
pub mod error;
pub mod federation;
mod membership;
pub mod pkce;
mod provider;
pub mod redirect;
pub mod revocations;
pub mod scope;
pub mod tokens;
mod verified_tokens;

pub use authorize::{AuthorizationRequest, AuthorizeError, AuthorizeParams};
pub use client::{AuthMethod, Client, ClientError, Clients, CreatedClient, GrantType, NewClient};
pub use client_auth::{ClientAuthenticator, Presented};
pub use error::{ErrorCode, OAuthError};
pub use provider::{Next, Provider, TokenSettings};
pub use revocations::Revocations;

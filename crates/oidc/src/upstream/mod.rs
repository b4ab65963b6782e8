//! Connections: a team signs its people in through its own OpenID provider (Okta, Entra ID,
//! Google Workspace…), as Keycloak's identity brokering and Auth0's enterprise connections do.
//! `registry` keeps a team's connections and the domains they have proven; `sign_in` runs the
//! authorization code flow with the provider and admits the person it names (`accounts`).

mod accounts;
mod client;
pub mod domains;
pub mod entities;
mod registry;
mod sign_in;

pub use client::{UPSTREAM_TIMEOUT, Upstream, UpstreamError};
pub use domains::{DnsError, TxtLookup};
pub use registry::{
    Connection, ConnectionDomain, ConnectionError, Connections, NewConnection, Offered,
};
pub use sign_in::{Callback, SignInFailure, Started, UpstreamSignIn};

/// Where a connection's provider sends people back: a redirect URI of its own for each
/// connection (RFC 9700 §4.4.2), so an answer from one provider can never be taken for
/// another's, even from a provider that does not say who it is (RFC 9207 `iss`), and one
/// team's provider cannot collect the codes another's issues.
pub fn redirect_uri(issuer: &latchkey_core::Issuer, connection_id: &str) -> String {
    issuer.endpoint(&latchkey_core::urls::sso_oidc_callback(connection_id))
}
/// Connections one team may have.
pub const MAX_CONNECTIONS_PER_TEAM: u64 = 10;
/// Domains one connection may sign in.
pub const MAX_DOMAINS: usize = 20;

/// How a session opened through a connection names it (`sessions.opened_by`): removing the
/// connection ends the team-bound sessions it opened.
pub fn opened_by(connection_id: &str) -> String {
    format!("connection:{connection_id}")
}

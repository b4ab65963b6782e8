//! Connections: a team signs its people in through its own OpenID provider (Okta, Entra ID,
//! Google Workspace…), as Keycloak's identity brokering and Auth0's enterprise connections do.
//! `registry` keeps a team's connections, `domain_proof` the domains they have proven by
//! DNS; `sign_in` runs the authorization code flow with the provider (passing on the
//! re-authentication an application demands, `reauthentication`), `token` redeems its code
//! for the person its ID token (completed from UserInfo where thin, `claims`) names, and
//! `accounts` admits them; `failure` says why a sign-in did not happen. All of its outbound
//! HTTP goes through `latchkey_egress`; `discovery` keeps each provider's document and keys
//! between sign-ins (`provider_cache`).
//!
//! This crate owns Latchkey as a relying party of a team's own provider: which connections a
//! team has, which domains they prove, and who a provider's ID token admits. The OpenID
//! provider (`latchkey_oidc`) knows nothing of it; the web layer starts and finishes a
//! sign-in, and the server sweeps what it keeps.

mod accounts;
mod claims;
mod client;
mod discovery;
#[cfg(test)]
mod discovery_tests;
mod domain_proof;
pub mod domains;
pub mod entities;
mod failure;
mod model;
mod provider_cache;
mod reauthentication;
mod registry;
mod sign_in;
mod token;

pub use client::{UPSTREAM_TIMEOUT, Upstream, UpstreamError};
pub use domains::{DnsError, TxtLookup};
pub use failure::SignInFailure;
pub use model::{Connection, ConnectionDomain, ConnectionError, NewConnection, Offered};
pub use reauthentication::Reauthentication;
pub use registry::Connections;
pub use sign_in::{Callback, Started, UpstreamSignIn};

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

/// Deletes the sign-ins sent to teams' providers that were never finished; how many went.
pub async fn sweep_expired(
    db: &latchkey_core::Db,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<u64, sea_orm::DbErr> {
    let column = entities::upstream_login::Column::ExpiresAt;
    latchkey_core::sweep::delete_before(db, column, now).await
}

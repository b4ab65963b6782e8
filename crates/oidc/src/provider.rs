//! The OpenID provider: what its flows share. Each flow has a file of its own: `flow` (the
//! authorization request), `consent`, `grant/*` (the token endpoint), `mint` (the tokens),
//! `resource` (userinfo, introspection, revocation) and `federation`. No HTTP here.

use std::sync::Arc;

use chrono::TimeDelta;
use latchkey_keys::MasterKey;

use super::client::Clients;
use super::client_auth::ClientAuthenticator;
use super::resource_servers::ResourceServers;
use super::revocations::Revocations;
use super::verified_tokens::VerifiedTokens;
use crate::federation::Federation;
use latchkey_core::{Db, Issuer, SharedKeyRing};

/// Lifetimes of what the provider issues (`tokens.*`).
#[derive(Clone, Debug)]
pub struct TokenSettings {
    pub access_token_ttl: TimeDelta,
    pub id_token_ttl: TimeDelta,
    pub code_ttl: TimeDelta,
    pub refresh_idle_ttl: TimeDelta,
    pub refresh_max_ttl: TimeDelta,
    /// How long a pending authorization request waits for sign-in and consent.
    pub request_ttl: TimeDelta,
}

#[derive(Clone)]
pub struct Provider {
    pub(super) db: Db,
    pub(super) keys: SharedKeyRing,
    pub(super) issuer: Issuer,
    pub(super) settings: TokenSettings,
    pub(super) authenticator: ClientAuthenticator,
    pub(super) revocations: Arc<Revocations>,
    pub(super) verified: Arc<VerifiedTokens>,
    /// Seals authorization codes.
    pub(super) master_key: Arc<MasterKey>,
    pub(super) resources: ResourceServers,
    /// Inbound federation: tokens that the issuers teams trust sign.
    pub(super) federation: Federation,
}

impl Provider {
    pub fn new(
        db: Db,
        keys: SharedKeyRing,
        issuer: Issuer,
        settings: TokenSettings,
        authenticator: ClientAuthenticator,
        master_key: Arc<MasterKey>,
    ) -> Self {
        Self {
            master_key,
            revocations: Arc::new(Revocations::new(db.clone(), settings.access_token_ttl)),
            verified: Arc::default(),
            resources: ResourceServers::new(db.clone()),
            federation: Federation::new(
                db.clone(),
                issuer.clone(),
                authenticator.audiences().to_vec(),
                authenticator.jwks().clone(),
            ),
            db,
            keys,
            issuer,
            settings,
            authenticator,
        }
    }

    /// The in-memory view of revocations; the server loads it before serving and refreshes it.
    pub fn revocations(&self) -> &Revocations {
        &self.revocations
    }

    /// Inbound federation: browser sign-on with an issuer's token, and the issuers' cache.
    pub fn federation(&self) -> &Federation {
        &self.federation
    }

    pub fn authenticator(&self) -> &ClientAuthenticator {
        &self.authenticator
    }

    pub fn clients(&self) -> &Clients {
        self.authenticator.clients()
    }

    pub fn settings(&self) -> &TokenSettings {
        &self.settings
    }
}

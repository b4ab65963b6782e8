//! Composition: every service of the provider built once, from the settings, on a database
//! and key ring already open. The web application (`latchkey_idp`) and the workers share
//! what is built here; nothing else composes a domain service.

use std::sync::Arc;

use latchkey_connections::{Connections, TxtLookup, Upstream};
use latchkey_core::{Clock, Db, SharedKeyRing};
use latchkey_idp::{AppState, Domain, WebSettings};
use latchkey_keys::MasterKey;
use latchkey_login::Login;
use latchkey_login::mail::{MailTemplates, Outbox};
use latchkey_oidc::remote_jwks::RemoteJwks;
use latchkey_oidc::{ClientAuthenticator, Clients, Provider};
use latchkey_saml::{Certificates, CurrentIdentityProvider, ServiceProviders, SignOns};
use latchkey_teams::Teams;

use crate::config::Settings;
use crate::errors::StartError;

/// What every service is built on.
pub struct Ground {
    pub db: Db,
    pub keys: SharedKeyRing,
    /// Seals authorization codes, connections' secrets and mail.
    pub master_key: Arc<MasterKey>,
    pub outbox: Outbox,
    pub clock: Clock,
}

/// The web application over every domain service, as `settings` configures them.
pub fn build(settings: &Settings, ground: Ground) -> Result<AppState, StartError> {
    let web = WebSettings {
        jwks_max_age: settings.jwks_cache.as_duration(),
        metrics: latchkey_idp::telemetry::metrics_handle(),
        rate_limit_per_ip: settings.rate_limit_per_ip,
        trusted_proxies: settings.trusted_proxies.clone(),
        metrics_token: settings.metrics_token.clone(),
    };
    Ok(AppState::new(domain(settings, ground)?, web)?)
}

fn domain(settings: &Settings, ground: Ground) -> Result<Domain, StartError> {
    let Ground {
        db,
        keys,
        master_key,
        outbox,
        clock,
    } = ground;
    let issuer = settings.issuer.clone();
    let templates = MailTemplates::load().map_err(|e| StartError::MailTemplates(e.to_string()))?;
    let login = Login::new(
        db.clone(),
        keys.clone(),
        issuer.clone(),
        settings.login.clone(),
        outbox,
        Arc::new(templates),
    );
    let authenticator = ClientAuthenticator::new(
        Clients::new(db.clone()),
        RemoteJwks::new(clock.clone(), settings.allow_private_networks)?,
        db.clone(),
        &issuer,
        settings.client_assertion_audience,
    );
    let connections = Connections::new(
        db.clone(),
        master_key.clone(),
        Upstream::new(settings.allow_private_networks, settings.upstream_timeout)?,
        TxtLookup::new(settings.dns_server),
        issuer.clone(),
    );
    let provider = Provider::new(
        db.clone(),
        keys.clone(),
        issuer.clone(),
        settings.tokens.clone(),
        authenticator,
        master_key.clone(),
    );
    let certificates =
        Certificates::new(db.clone(), master_key, settings.saml_certificate_lifetime);
    let saml_sps = ServiceProviders::new(db.clone(), issuer.clone(), certificates.clone());
    let saml = SignOns::new(
        saml_sps.clone(),
        CurrentIdentityProvider::new(issuer.clone(), keys.clone(), certificates),
        login.sessions().clone(),
        settings.login.session_max_ttl,
    );
    Ok(Domain {
        teams: Teams::new(db.clone(), settings.join_link_max_ttl),
        issuer,
        db,
        keys,
        clock,
        login,
        login_settings: settings.login.clone(),
        provider,
        connections,
        saml_sps,
        saml,
    })
}

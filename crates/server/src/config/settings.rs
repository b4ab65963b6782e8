//! The checked configuration, [`Settings`], and [`Config::check`], which makes it from the
//! configuration as written.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use latchkey_core::Issuer;
use latchkey_keys::{KeyPolicy, MasterKey};

use super::checks::{
    check_database, check_issuer, check_keys, check_listen, check_log_level, check_login,
    check_mail, check_shutdown_delay, check_teams, check_tokens, federation_settings,
    http_settings, login_settings, read_master_key, saml_certificate_lifetime, token_settings,
};
use super::{Config, ConfigError, LogFormat, MailConfig};
use crate::duration::Ttl;

/// Where the master key comes from.
#[derive(Debug)]
pub enum MasterKeySource {
    /// `keys.master_key`, already checked.
    Configured(Arc<MasterKey>),
    /// Not configured: read from, or generated into, this file.
    File(PathBuf),
}

/// The checked configuration every part of the program runs on.
#[derive(Debug)]
pub struct Settings {
    pub issuer: Issuer,
    pub listen: SocketAddr,
    pub database_url: String,
    /// None: the default for the database's kind.
    pub database_max_connections: Option<u32>,
    pub master_key: MasterKeySource,
    pub key_policy: KeyPolicy,
    pub jwks_cache: Ttl,
    pub log_format: LogFormat,
    pub log_level: String,
    pub mail: MailConfig,
    pub login: latchkey_login::LoginSettings,
    pub tokens: latchkey_oidc::TokenSettings,
    /// `oauth.client_assertion_audience`.
    pub client_assertion_audience: latchkey_oidc::AudiencePolicy,
    pub rate_limit_per_ip: u32,
    pub header_read_timeout: std::time::Duration,
    pub idle_timeout: std::time::Duration,
    pub max_connections_per_ip: usize,
    pub shutdown_delay: std::time::Duration,
    pub shutdown_grace: std::time::Duration,
    pub trusted_proxies: latchkey_idp::web::TrustedProxies,
    pub metrics_token: Option<String>,
    pub join_link_max_ttl: chrono::TimeDelta,
    /// The system clock; tests put in one they can move.
    pub clock: latchkey_core::Clock,
    pub allow_private_networks: bool,
    pub dns_server: Option<std::net::SocketAddr>,
    pub upstream_timeout: std::time::Duration,
    /// How long a team's SAML signing certificate lasts.
    pub saml_certificate_lifetime: chrono::TimeDelta,
}

impl Config {
    /// Checks every value, naming the key of the first one that is wrong. The checks run in
    /// the order of this list, so the key named does not depend on what else is wrong.
    pub fn check(self) -> Result<Settings, ConfigError> {
        let issuer = check_issuer(&self.issuer, self.issuer_insecure_ok)?;
        let listen = check_listen(&self.listen)?;
        check_database(&self.database_url, self.database_max_connections)?;
        check_shutdown_delay(&self.http)?;
        let master_key = read_master_key(&self.keys)?;
        let keys = &self.keys;
        check_keys(keys)?;
        check_log_level(&self.log.level)?;
        let login = &self.login;
        check_login(login, keys)?;
        let tokens = &self.tokens;
        check_tokens(tokens, keys)?;
        check_teams(&self.teams)?;
        let client_assertion_audience = latchkey_oidc::AudiencePolicy::parse(
            &self.oauth.client_assertion_audience,
        )
        .map_err(|problem| ConfigError::Invalid {
            key: "oauth.client_assertion_audience",
            problem,
        })?;
        let (trusted_proxies, metrics_token) = http_settings(&self.http)?;
        check_mail(&self.mail)?;
        let (dns_server, upstream_timeout) = federation_settings(&self.federation)?;
        let saml_certificate_lifetime = saml_certificate_lifetime(&self.saml)?;
        Ok(Settings {
            tokens: token_settings(tokens, login),
            client_assertion_audience,
            mail: self.mail,
            login: login_settings(login),
            rate_limit_per_ip: self.http.rate_limit_per_ip,
            header_read_timeout: self.http.header_read_timeout.as_duration(),
            idle_timeout: self.http.idle_timeout.as_duration(),
            max_connections_per_ip: self.http.max_connections_per_ip as usize,
            shutdown_delay: self.http.shutdown_delay.as_duration(),
            shutdown_grace: self.http.shutdown_grace.as_duration(),
            trusted_proxies,
            metrics_token,
            join_link_max_ttl: self.teams.join_link_max_ttl.as_time_delta(),
            issuer,
            listen,
            database_url: self.database_url,
            database_max_connections: (self.database_max_connections > 0)
                .then_some(self.database_max_connections),
            master_key,
            key_policy: KeyPolicy {
                rotation_period: keys.rotation_period.as_time_delta(),
                publish_ahead: keys.publish_ahead.as_time_delta(),
                retain_retired: keys.retired_ttl.as_time_delta(),
            },
            jwks_cache: keys.jwks_cache,
            log_format: self.log.format,
            log_level: self.log.level,
            clock: latchkey_core::Clock::system(),
            allow_private_networks: self.federation.allow_private_networks,
            dns_server,
            upstream_timeout,
            saml_certificate_lifetime,
        })
    }
}

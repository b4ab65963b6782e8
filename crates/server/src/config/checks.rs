//! The checks of each configuration section, and the domain settings made from them. Each
//! refusal names the key to fix.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use latchkey_core::Issuer;
use latchkey_idp::web::{ForwardedHeader, TrustedProxies};
use latchkey_keys::MasterKey;

use super::{
    ConfigError, FederationConfig, HttpConfig, KeysConfig, LoginConfig, MailConfig,
    MasterKeySource, TeamsConfig, TokensConfig,
};

pub(super) fn check_issuer(issuer: &str, insecure_ok: bool) -> Result<Issuer, ConfigError> {
    if insecure_ok {
        Issuer::parse_insecure(issuer)
    } else {
        Issuer::parse(issuer)
    }
    .map_err(|e| invalid("issuer", e))
}

pub(super) fn check_listen(listen: &str) -> Result<SocketAddr, ConfigError> {
    listen.parse::<SocketAddr>().map_err(|_| {
        invalid(
            "listen",
            format!("{listen:?} is not a socket address like 127.0.0.1:8080 or [::]:8080"),
        )
    })
}

pub(super) fn check_database(url: &str, max_connections: u32) -> Result<(), ConfigError> {
    let scheme = url.split(':').next().unwrap_or_default();
    if !matches!(scheme, "sqlite" | "postgres" | "postgresql") {
        return Err(invalid(
            "database_url",
            "must be a sqlite:// URL (sqlite://var/latchkey.db?mode=rwc) or a postgres:// URL",
        ));
    }
    if max_connections == 1 || max_connections > 1_000 {
        return Err(invalid(
            "database_max_connections",
            "must be 0 (the default for the database), or from 2 to 1000: a request may \
             hold one connection while it reads with another",
        ));
    }
    Ok(())
}

pub(super) fn check_shutdown_delay(http: &HttpConfig) -> Result<(), ConfigError> {
    if http.shutdown_delay.as_duration() > Duration::from_secs(60) {
        return Err(invalid(
            "http.shutdown_delay",
            "must be at most 60s: a few times the load balancer's check interval is enough",
        ));
    }
    Ok(())
}

/// The master key, given in the configuration or in a file, with the previous one while it
/// is being replaced.
pub(super) fn read_master_key(keys: &KeysConfig) -> Result<MasterKeySource, ConfigError> {
    let configured = value_or_file(
        ("keys.master_key", &keys.master_key),
        ("keys.master_key_file", &keys.master_key_file),
    )?;
    let previous = value_or_file(
        ("keys.previous_master_key", &keys.previous_master_key),
        (
            "keys.previous_master_key_file",
            &keys.previous_master_key_file,
        ),
    )?;
    master_key(&configured, &previous)
}

/// `keys.master_key`, or the file `var/master.key` when it is empty.
/// With `keys.previous_master_key` too, what that one sealed still opens (during a change).
fn master_key(configured: &str, previous: &str) -> Result<MasterKeySource, ConfigError> {
    let read = |key: &'static str, value: &str| {
        MasterKey::from_base64(value).map_err(|e| {
            invalid(
                key,
                format!("{e}; generate one with: openssl rand -base64 32"),
            )
        })
    };
    if configured.trim().is_empty() {
        if !previous.trim().is_empty() {
            return Err(invalid(
                "keys.previous_master_key",
                "is for changing keys.master_key: set keys.master_key to the new key as well",
            ));
        }
        return Ok(MasterKeySource::File(PathBuf::from("var/master.key")));
    }
    let mut key = read("keys.master_key", configured)?;
    if !previous.trim().is_empty() {
        if previous.trim() == configured.trim() {
            return Err(invalid(
                "keys.previous_master_key",
                "is the same as keys.master_key: it must be the key being replaced",
            ));
        }
        key = key.with_previous(read("keys.previous_master_key", previous)?);
    }
    Ok(MasterKeySource::Configured(Arc::new(key)))
}

/// Keys must be published before use and outlive what they sign.
pub(super) fn check_keys(keys: &KeysConfig) -> Result<(), ConfigError> {
    if keys.publish_ahead < keys.jwks_cache {
        return Err(invalid(
            "keys.publish_ahead",
            format!(
                "{} is shorter than keys.jwks_cache ({}): relying parties could meet a token signed by a key their cached JWKS does not have yet",
                keys.publish_ahead, keys.jwks_cache
            ),
        ));
    }
    if keys.rotation_period <= keys.publish_ahead {
        return Err(invalid(
            "keys.rotation_period",
            format!(
                "{} must be longer than keys.publish_ahead ({})",
                keys.rotation_period, keys.publish_ahead
            ),
        ));
    }
    if keys.jwks_cache.as_duration().is_zero() {
        return Err(invalid("keys.jwks_cache", "must be at least 1s"));
    }
    Ok(())
}

pub(super) fn check_log_level(level: &str) -> Result<(), ConfigError> {
    tracing_subscriber::EnvFilter::try_new(level).map_err(|e| {
        invalid(
            "log.level",
            format!("{level:?} is not a level or filter like info or latchkey=debug ({e})"),
        )
    })?;
    Ok(())
}

pub(super) fn check_login(login: &LoginConfig, keys: &KeysConfig) -> Result<(), ConfigError> {
    if login.magic_link_ttl.as_duration().is_zero() {
        return Err(invalid("login.magic_link_ttl", "must be at least 1s"));
    }
    if login.magic_link_ttl > keys.retired_ttl {
        return Err(invalid(
            "keys.retired_ttl",
            format!(
                "{} is shorter than login.magic_link_ttl ({}): a link could outlive the key that signed it",
                keys.retired_ttl, login.magic_link_ttl
            ),
        ));
    }
    if login.rate_limit_per_address == 0 {
        return Err(invalid(
            "login.rate_limit_per_address",
            "must be at least 1",
        ));
    }
    if login.session_idle_ttl > login.session_max_ttl {
        return Err(invalid(
            "login.session_idle_ttl",
            "must not be longer than login.session_max_ttl",
        ));
    }
    Ok(())
}

pub(super) fn check_tokens(tokens: &TokensConfig, keys: &KeysConfig) -> Result<(), ConfigError> {
    for (key, ttl) in [
        ("tokens.access_token_ttl", tokens.access_token_ttl),
        ("tokens.id_token_ttl", tokens.id_token_ttl),
        ("tokens.code_ttl", tokens.code_ttl),
        ("tokens.refresh_idle_ttl", tokens.refresh_idle_ttl),
    ] {
        if ttl.as_duration().is_zero() {
            return Err(invalid(key, "must be at least 1s"));
        }
        if key != "tokens.refresh_idle_ttl" && ttl > keys.retired_ttl {
            return Err(invalid(
                "keys.retired_ttl",
                format!(
                    "{} is shorter than {key} ({ttl}): a token could outlive the key that signed it",
                    keys.retired_ttl
                ),
            ));
        }
    }
    if tokens.refresh_idle_ttl > tokens.refresh_max_ttl {
        return Err(invalid(
            "tokens.refresh_idle_ttl",
            "must not be longer than tokens.refresh_max_ttl",
        ));
    }
    Ok(())
}

pub(super) fn check_teams(teams: &TeamsConfig) -> Result<(), ConfigError> {
    if teams.join_link_max_ttl.as_time_delta() > chrono::TimeDelta::hours(72) {
        return Err(invalid(
            "teams.join_link_max_ttl",
            "must be at most 72h: join links expire within three days",
        ));
    }
    Ok(())
}

/// A SAML certificate lasts from 30 days (SPs hold a pasted one) to 20 years.
pub(super) fn saml_certificate_lifetime(
    saml: &super::SamlConfig,
) -> Result<chrono::TimeDelta, ConfigError> {
    let lifetime = saml.certificate_lifetime.as_time_delta();
    if lifetime < chrono::TimeDelta::days(30) || lifetime > chrono::TimeDelta::days(20 * 366) {
        return Err(invalid(
            "saml.certificate_lifetime",
            "must be from 30d to 20y: service providers hold the certificate until it is rolled over",
        ));
    }
    Ok(lifetime)
}

/// The proxies trusted to name the client, and the token `/metrics` asks for, if any.
pub(super) fn http_settings(
    http: &HttpConfig,
) -> Result<(TrustedProxies, Option<String>), ConfigError> {
    if http.rate_limit_per_ip == 0 {
        return Err(invalid("http.rate_limit_per_ip", "must be at least 1"));
    }
    if http.header_read_timeout.as_duration() < Duration::from_secs(1) {
        return Err(invalid("http.header_read_timeout", "must be at least 1s"));
    }
    let idle_timeout = http.idle_timeout.as_duration();
    if idle_timeout < Duration::from_secs(1) || idle_timeout > Duration::from_secs(600) {
        return Err(invalid("http.idle_timeout", "must be from 1s to 10m"));
    }
    let most = crate::http_server::MAX_CONNECTIONS;
    if http.max_connections_per_ip == 0 || http.max_connections_per_ip as usize > most {
        return Err(invalid(
            "http.max_connections_per_ip",
            format!("must be from 1 to {most} (the connections the server holds in all)"),
        ));
    }
    let forwarded_header = ForwardedHeader::parse(&http.forwarded_header)
        .map_err(|e| invalid("http.forwarded_header", e))?;
    let trusted_proxies = TrustedProxies::parse(&http.trusted_proxies, forwarded_header)
        .map_err(|e| invalid("http.trusted_proxies", e))?;
    let metrics_token = Some(http.metrics_token.trim().to_owned()).filter(|t| !t.is_empty());
    if metrics_token.as_ref().is_some_and(|t| t.len() < 16) {
        return Err(invalid(
            "http.metrics_token",
            "must be at least 16 characters (openssl rand -hex 16), or empty",
        ));
    }
    Ok((trusted_proxies, metrics_token))
}

pub(super) fn check_mail(mail: &MailConfig) -> Result<(), ConfigError> {
    if mail.from.trim().is_empty() {
        return Err(invalid(
            "mail.from",
            "must be a sender like Latchkey <no-reply@example.com>",
        ));
    }
    Ok(())
}

/// The DNS server domain proofs are checked with (None: the system's), and how long a
/// request to a connection's identity provider may take.
pub(super) fn federation_settings(
    federation: &FederationConfig,
) -> Result<(Option<SocketAddr>, Duration), ConfigError> {
    let dns_server = match federation.dns_server.trim() {
        "" => None,
        raw => Some(raw.parse().map_err(|_| {
            invalid(
                "federation.dns_server",
                "must be an address and port like 127.0.0.1:53, or empty for the system's resolver",
            )
        })?),
    };
    let upstream_timeout = federation.upstream_timeout.as_duration();
    // Under the sign-in routes' own 15 seconds, so the person sees why.
    if upstream_timeout.is_zero() || upstream_timeout > Duration::from_secs(12) {
        return Err(invalid(
            "federation.upstream_timeout",
            "must be between 1s and 12s",
        ));
    }
    Ok((dns_server, upstream_timeout))
}

pub(super) fn login_settings(login: &LoginConfig) -> latchkey_login::LoginSettings {
    latchkey_login::LoginSettings {
        magic_link_ttl: login.magic_link_ttl.as_time_delta(),
        rate_limit_per_address: u64::from(login.rate_limit_per_address),
        rate_limit_window: login.rate_limit_window.as_time_delta(),
        session_idle_ttl: login.session_idle_ttl.as_time_delta(),
        session_max_ttl: login.session_max_ttl.as_time_delta(),
    }
}

pub(super) fn token_settings(
    tokens: &TokensConfig,
    login: &LoginConfig,
) -> latchkey_oidc::TokenSettings {
    latchkey_oidc::TokenSettings {
        access_token_ttl: tokens.access_token_ttl.as_time_delta(),
        id_token_ttl: tokens.id_token_ttl.as_time_delta(),
        code_ttl: tokens.code_ttl.as_time_delta(),
        refresh_idle_ttl: tokens.refresh_idle_ttl.as_time_delta(),
        refresh_max_ttl: tokens.refresh_max_ttl.as_time_delta(),
        // Long enough to read the mail and sign in, short enough not to pile up.
        request_ttl: (login.magic_link_ttl.as_time_delta() * 2).max(chrono::TimeDelta::minutes(30)),
    }
}

/// A secret given in the configuration itself, or as the path of a file that holds it (a
/// mounted secret), but not both.
fn value_or_file(
    (value_key, value): (&'static str, &str),
    (file_key, file): (&'static str, &str),
) -> Result<String, ConfigError> {
    match file.trim() {
        "" => Ok(value.to_owned()),
        _ if !value.trim().is_empty() => Err(invalid(
            file_key,
            format!("give it one way: {value_key} or {file_key}, not both"),
        )),
        path => match std::fs::read_to_string(path) {
            Ok(content) if content.trim().is_empty() => {
                Err(invalid(file_key, format!("{path} is empty")))
            }
            Ok(content) => Ok(content),
            Err(e) => Err(invalid(file_key, format!("{path}: {e}"))),
        },
    }
}

/// The error for a value of `key` that is wrong, saying how.
fn invalid(key: &'static str, problem: impl std::fmt::Display) -> ConfigError {
    ConfigError::Invalid {
        key,
        problem: problem.to_string(),
    }
}

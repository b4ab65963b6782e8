//! The checks of each configuration section, and the domain settings made from them. Each
//! refusal names the key to fix.

use std::path::PathBuf;
use std::sync::Arc;

use latchkey_keys::MasterKey;

use super::{ConfigError, KeysConfig, LoginConfig, MasterKeySource, TokensConfig, invalid};

/// `keys.master_key`, or the file `var/master.key` when it is empty.
/// With `keys.previous_master_key` too, what that one sealed still opens (during a change).
pub(super) fn master_key(configured: &str, previous: &str) -> Result<MasterKeySource, ConfigError> {
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

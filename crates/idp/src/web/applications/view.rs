//! What the application pages show: times as people read them, an application's settings
//! and the values to paste into the vendor's form.

use chrono::{DateTime, Utc};
use latchkey_core::{Issuer, urls};
use latchkey_oidc::Client;
use latchkey_oidc::presets::{self, Known, Paste, Preset};
use serde::Serialize;

/// A time in the page: the machine's form in `datetime`, a person's form as the text.
#[derive(Serialize)]
pub(super) struct When {
    pub iso: String,
    pub text: String,
}

impl From<DateTime<Utc>> for When {
    fn from(at: DateTime<Utc>) -> Self {
        Self {
            iso: at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            text: at.format("%-d %b %Y, %H:%M UTC").to_string(),
        }
    }
}

/// A row of the list.
#[derive(Serialize)]
pub(super) struct Row {
    pub id: String,
    pub name: String,
    pub kind: &'static str,
    pub created: When,
}

impl From<&Client> for Row {
    fn from(c: &Client) -> Self {
        Self {
            id: c.id.to_string(),
            name: c.name.clone(),
            kind: kind(c),
            created: c.created_at.into(),
        }
    }
}

pub(super) fn kind(c: &Client) -> &'static str {
    if c.is_public() {
        "Public (PKCE, no secret)"
    } else {
        "Confidential (client secret)"
    }
}

/// A preset to pick, as a link.
#[derive(Serialize)]
pub(super) struct Choice {
    pub key: &'static str,
    pub vendor: &'static str,
    pub current: bool,
}

/// Every preset, `current` marked.
pub(super) fn choices(current: &str) -> Vec<Choice> {
    presets::PRESETS
        .iter()
        .map(|p| Choice {
            key: p.key,
            vendor: p.vendor,
            current: p.key == current,
        })
        .collect()
}

/// The preset named, or the one for any application.
pub(super) fn preset_or_custom(key: Option<&str>) -> &'static Preset {
    key.and_then(presets::preset)
        .or_else(|| presets::preset("custom"))
        .unwrap_or(&presets::PRESETS[0])
}

/// The values to paste for `client` into `preset`'s form; the secret only when just made.
pub(super) fn values(
    preset: &Preset,
    issuer: &Issuer,
    client: &Client,
    secret: Option<&str>,
) -> Vec<Paste> {
    let scopes = client.scopes.to_vec();
    preset.values(&Known {
        issuer,
        client_id: client.id.as_str(),
        secret,
        scopes: &scopes,
    })
}

/// The discovery document's URL.
pub(super) fn discovery(issuer: &Issuer) -> String {
    issuer.endpoint(urls::DISCOVERY)
}

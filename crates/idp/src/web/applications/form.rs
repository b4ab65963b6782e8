//! The application form as typed: read into the domain's settings, and shown again as typed
//! with the error next to its field when the domain refuses it.

use latchkey_core::TeamId;
use latchkey_keys::SigningAlgorithm;
use latchkey_oidc::presets::Preset;
use latchkey_oidc::{ApplicationSettings, Client, Field};
use serde::{Deserialize, Serialize};

/// The fields of the register and edit forms.
#[derive(Deserialize, Default)]
pub(super) struct ApplicationForm {
    #[serde(default)]
    pub team: TeamId,
    /// The vendor whose values the page shows afterwards.
    #[serde(default)]
    pub preset: String,
    #[serde(default)]
    pub name: String,
    /// One per line.
    #[serde(default)]
    pub redirect_uris: String,
    /// One per line.
    #[serde(default)]
    pub post_logout_redirect_uris: String,
    /// Separated by spaces or commas.
    #[serde(default)]
    pub scopes: String,
    /// `public` or `confidential` (registration only).
    #[serde(default)]
    pub app_type: String,
    /// The checkbox: present when ticked.
    #[serde(default)]
    pub first_party: Option<String>,
    /// `required` or `optional`.
    #[serde(default)]
    pub pkce: String,
    /// `ES256` or `RS256`.
    #[serde(default)]
    pub id_token_alg: String,
}

impl ApplicationForm {
    pub fn public(&self) -> bool {
        self.app_type == "public"
    }

    pub fn settings(&self) -> ApplicationSettings {
        let lines = |text: &str| text.split_whitespace().map(str::to_owned).collect();
        ApplicationSettings {
            name: self.name.clone(),
            redirect_uris: lines(&self.redirect_uris),
            post_logout_redirect_uris: lines(&self.post_logout_redirect_uris),
            scopes: self
                .scopes
                .split(|c: char| c == ',' || c.is_whitespace())
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            first_party: self.first_party.is_some(),
            pkce_optional: self.pkce == "optional",
            id_token_alg: match self.id_token_alg.as_str() {
                "ES256" => SigningAlgorithm::Es256,
                _ => SigningAlgorithm::Rs256,
            },
        }
    }
}

/// The form as a page shows it: what was typed, and the error next to its field.
#[derive(Serialize)]
pub(super) struct FormView {
    pub preset: String,
    pub name: String,
    pub redirect_uris: String,
    pub post_logout_redirect_uris: String,
    pub scopes: String,
    pub public: bool,
    pub first_party: bool,
    pub pkce_optional: bool,
    pub id_token_alg: String,
    pub error_field: Option<Field>,
    pub error: Option<String>,
}

impl FormView {
    /// A new application's form, filled as the preset needs.
    pub fn for_preset(preset: &Preset) -> Self {
        Self {
            preset: preset.key.to_owned(),
            name: match preset.key {
                "custom" => String::new(),
                _ => preset.vendor.to_owned(),
            },
            redirect_uris: String::new(),
            post_logout_redirect_uris: String::new(),
            scopes: preset.scopes.join(" "),
            public: false,
            first_party: false,
            pkce_optional: preset.pkce_optional,
            id_token_alg: "RS256".to_owned(),
            error_field: None,
            error: None,
        }
    }

    /// The edit form of a registered application.
    pub fn of(client: &Client, preset: &str) -> Self {
        Self {
            preset: preset.to_owned(),
            name: client.name.clone(),
            redirect_uris: client.redirect_uris.join("\n"),
            post_logout_redirect_uris: client.post_logout_redirect_uris.join("\n"),
            scopes: client.scopes.to_vec().join(" "),
            public: client.is_public(),
            first_party: client.first_party,
            pkce_optional: !client.require_pkce,
            id_token_alg: client.id_token_alg.as_str().to_owned(),
            error_field: None,
            error: None,
        }
    }

    /// What was typed, with the refusal next to `field`.
    pub fn typed(form: &ApplicationForm, field: Field, error: String) -> Self {
        Self {
            preset: form.preset.clone(),
            name: form.name.clone(),
            redirect_uris: form.redirect_uris.clone(),
            post_logout_redirect_uris: form.post_logout_redirect_uris.clone(),
            scopes: form.scopes.clone(),
            public: form.public(),
            first_party: form.first_party.is_some(),
            pkce_optional: form.pkce == "optional",
            id_token_alg: match form.id_token_alg.as_str() {
                "ES256" => "ES256",
                _ => "RS256",
            }
            .to_owned(),
            error_field: Some(field),
            error: Some(error),
        }
    }
}

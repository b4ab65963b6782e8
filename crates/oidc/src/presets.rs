//! What each vendor of `docs/integrations/` needs from an OpenID application, as data: the
//! settings its sign-in works with, where its form shows the redirect URI to copy, and the
//! values to paste into its form, labelled as the vendor labels them (as the guides do).

use latchkey_core::{Issuer, urls};
use serde::Serialize;

/// A value the vendor's form asks for.
#[derive(Clone, Copy, Debug)]
pub enum Value {
    ClientId,
    ClientSecret,
    Issuer,
    Discovery,
    Authorization,
    Token,
    UserInfo,
    Jwks,
    EndSession,
    /// The application's scopes, joined with commas.
    ScopesCommas,
    /// The application's scopes, joined with spaces.
    ScopesSpaces,
    /// A fixed answer, such as a choice in the vendor's form.
    Text(&'static str),
}

/// A vendor's OpenID setup.
#[derive(Debug)]
pub struct Preset {
    pub key: &'static str,
    pub vendor: &'static str,
    /// The guide under `docs/integrations/`.
    pub guide: &'static str,
    pub scopes: &'static [&'static str],
    pub pkce_optional: bool,
    /// Where the vendor shows the redirect URI, and what it looks like.
    pub redirect_hint: &'static str,
    /// What to know before registering.
    pub note: &'static str,
    /// The vendor's form, field by field.
    pub fields: &'static [(&'static str, Value)],
}

const USER_SCOPES: &[&str] = &["openid", "email", "profile"];

/// Zendesk, Salesforce, Freshdesk, and any other application.
pub const PRESETS: [Preset; 4] = [
    Preset {
        key: "zendesk",
        vendor: "Zendesk",
        guide: "docs/integrations/zendesk.md",
        scopes: USER_SCOPES,
        pkce_optional: false,
        redirect_hint: "Zendesk shows its callback URL on its OpenID Connect configuration page, such as https://YOUR-SUBDOMAIN.zendesk.com/access/oidc/callback. Copy it exactly.",
        note: "Pick Zendesk's authentication mode “PKCE” with the client secret filled in. If Zendesk sends no PKCE, make PKCE optional here.",
        fields: &[
            (
                "Configuration name",
                Value::Text("Any name, such as Latchkey"),
            ),
            ("Client ID", Value::ClientId),
            ("Client secret", Value::ClientSecret),
            ("Scopes", Value::ScopesCommas),
            ("Auto discovery: Issuer URL", Value::Issuer),
            ("Authorization URL (discovery off)", Value::Authorization),
            ("Token URL (discovery off)", Value::Token),
            ("UserInfo URL (discovery off)", Value::UserInfo),
            ("JWKS URL (discovery off)", Value::Jwks),
            ("Authentication mode", Value::Text("PKCE")),
        ],
    },
    Preset {
        key: "salesforce",
        vendor: "Salesforce",
        guide: "docs/integrations/salesforce.md",
        scopes: USER_SCOPES,
        pkce_optional: false,
        redirect_hint: "Salesforce's callback URL is https://YOUR-DOMAIN.my.salesforce.com/services/authcallback/URL-SUFFIX, where URL-SUFFIX is what you type in the provider's URL Suffix field. Salesforce lists it under Salesforce Configuration after saving.",
        note: "Tick “Send client credentials in header” and “Use Proof Key for Code Exchange” in Salesforce. If Salesforce sends no PKCE, make PKCE optional here.",
        fields: &[
            ("Provider Type", Value::Text("Open ID Connect")),
            ("Consumer Key", Value::ClientId),
            ("Consumer Secret", Value::ClientSecret),
            ("Authorize Endpoint URL", Value::Authorization),
            ("Token Endpoint URL", Value::Token),
            ("User Info Endpoint URL", Value::UserInfo),
            ("Token Issuer", Value::Issuer),
            ("Default Scopes", Value::ScopesSpaces),
            ("Send client credentials in header", Value::Text("Ticked")),
            ("Use Proof Key for Code Exchange", Value::Text("Ticked")),
            ("Custom Logout URL (optional)", Value::EndSession),
        ],
    },
    Preset {
        key: "freshdesk",
        vendor: "Freshdesk",
        guide: "docs/integrations/freshdesk.md",
        scopes: USER_SCOPES,
        // We found no sign that Freshworks sends PKCE (see the guide).
        pkce_optional: true,
        redirect_hint: "Freshworks shows a Redirect URL on its OpenID Connect screen (Security > Agents & Employees or Contacts). Copy it exactly.",
        note: "Freshworks does not say whether it sends PKCE, so PKCE is optional for it.",
        fields: &[
            ("Client ID", Value::ClientId),
            ("Client secret", Value::ClientSecret),
            ("Authorization URL", Value::Authorization),
            ("Access token URL", Value::Token),
            ("User info URL (if shown)", Value::UserInfo),
            ("Issuer (if shown)", Value::Issuer),
            ("JWKS URL (if shown)", Value::Jwks),
            ("Scopes (if shown)", Value::ScopesSpaces),
            ("Logout URL (optional)", Value::EndSession),
        ],
    },
    Preset {
        key: "custom",
        vendor: "Another application",
        guide: "docs/integrations/README.md",
        scopes: USER_SCOPES,
        pkce_optional: false,
        redirect_hint: "The application's documentation names its redirect (callback) URI. It must use https, or http on a loopback address while developing.",
        note: "Most OpenID Connect libraries need only the discovery URL, the client ID and the client secret.",
        fields: &[
            ("Discovery URL", Value::Discovery),
            ("Issuer", Value::Issuer),
            ("Client ID", Value::ClientId),
            ("Client secret", Value::ClientSecret),
            ("Client authentication", Value::Text("client_secret_basic")),
            ("Scopes", Value::ScopesSpaces),
            ("Authorization endpoint", Value::Authorization),
            ("Token endpoint", Value::Token),
            ("UserInfo endpoint", Value::UserInfo),
            ("JWKS URI", Value::Jwks),
            ("End session endpoint", Value::EndSession),
        ],
    },
];

/// Vendors of `docs/integrations/` that sign in over SAML only in our guides.
pub const SAML_ONLY: [&str; 2] = ["Genesys Cloud", "Intercom"];

/// The preset named `key`.
pub fn preset(key: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|p| p.key == key)
}

/// One value to paste: the vendor's label, the value, and whether it is the secret (shown
/// once).
#[derive(Clone, Debug, Serialize)]
pub struct Paste {
    pub label: &'static str,
    pub value: String,
    pub secret: bool,
}

/// What an application is known by, for the values to paste.
pub struct Known<'a> {
    pub issuer: &'a Issuer,
    pub client_id: &'a str,
    /// The secret, when it has just been made; `None` afterwards.
    pub secret: Option<&'a str>,
    pub scopes: &'a [String],
}

impl Preset {
    /// The vendor's fields with their values. The secret's field is left out once the secret
    /// is no longer at hand (or the application has none).
    pub fn values(&self, known: &Known<'_>) -> Vec<Paste> {
        self.fields
            .iter()
            .filter_map(|(label, value)| {
                let secret = matches!(value, Value::ClientSecret);
                let value = match value {
                    Value::ClientSecret => known.secret?.to_owned(),
                    other => resolve(*other, known),
                };
                Some(Paste {
                    label,
                    value,
                    secret,
                })
            })
            .collect()
    }
}

fn resolve(value: Value, known: &Known<'_>) -> String {
    let at = |path: &str| known.issuer.endpoint(path);
    match value {
        Value::ClientId => known.client_id.to_owned(),
        Value::ClientSecret => known.secret.unwrap_or_default().to_owned(),
        Value::Issuer => known.issuer.to_string(),
        Value::Discovery => at(urls::DISCOVERY),
        Value::Authorization => at(urls::AUTHORIZE),
        Value::Token => at(urls::TOKEN),
        Value::UserInfo => at(urls::USERINFO),
        Value::Jwks => at(urls::JWKS),
        Value::EndSession => at(urls::END_SESSION),
        Value::ScopesCommas => known.scopes.join(","),
        Value::ScopesSpaces => known.scopes.join(" "),
        Value::Text(text) => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn zendesk_gets_its_own_labels_and_comma_separated_scopes() {
        let issuer = latchkey_testkit::issuer();
        let scopes = vec![
            "openid".to_owned(),
            "email".to_owned(),
            "profile".to_owned(),
        ];
        let known = Known {
            issuer: &issuer,
            client_id: "abc",
            secret: Some("s3cret"),
            scopes: &scopes,
        };
        let values = preset("zendesk").unwrap().values(&known);
        let of = |label: &str| {
            values
                .iter()
                .find(|p| p.label == label)
                .unwrap()
                .value
                .clone()
        };
        assert_eq!(of("Client ID"), "abc");
        assert_eq!(of("Client secret"), "s3cret");
        assert_eq!(of("Scopes"), "openid,email,profile");
        assert_eq!(of("Auto discovery: Issuer URL"), issuer.to_string());
        assert_eq!(
            of("Token URL (discovery off)"),
            issuer.endpoint(urls::TOKEN)
        );
        let later = Known {
            secret: None,
            ..known
        };
        let values = preset("zendesk").unwrap().values(&later);
        assert!(
            values.iter().all(|p| !p.secret),
            "the secret is shown once only"
        );
        assert!(preset("intercom").is_none(), "SAML only in our guides");
    }
}

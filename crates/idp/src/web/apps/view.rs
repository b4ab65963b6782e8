//! The view of `apps.html`: one tile per application, and what the empty page says.

use latchkey_oidc::OpenableApplication;
use latchkey_saml::OpenableServiceProvider;
use latchkey_teams::{Membership, Role};
use serde::Serialize;

/// The launcher page.
#[derive(Serialize)]
pub(super) struct AppsView {
    /// The team the session works in; none: the person is in no team.
    pub team: Option<String>,
    pub apps: Vec<AppTile>,
    /// The person administers the team: the empty page says where applications are added.
    pub administrator: bool,
    /// Where administrators register SAML applications and OpenID applications.
    pub integrations_href: &'static str,
}

impl AppsView {
    pub(super) fn new(membership: Option<&Membership>, apps: Vec<AppTile>) -> Self {
        Self {
            team: membership.map(|m| m.team.name.clone()),
            apps,
            administrator: membership.is_some_and(|m| m.role == Role::Administrator),
            integrations_href: latchkey_core::urls::INTEGRATIONS,
        }
    }
}

/// One application: its name, how it signs people in, and where its button goes.
#[derive(Serialize)]
pub(super) struct AppTile {
    pub name: String,
    /// "SAML" or "OpenID Connect", said beside the name.
    pub kind: &'static str,
    /// Absolute: `/saml/init` on this issuer, or the application's own login URI.
    pub href: String,
}

impl From<OpenableServiceProvider> for AppTile {
    fn from(sp: OpenableServiceProvider) -> Self {
        Self {
            name: sp.name,
            kind: "SAML",
            href: sp.init_url,
        }
    }
}

impl From<OpenableApplication> for AppTile {
    fn from(app: OpenableApplication) -> Self {
        Self {
            name: app.name,
            kind: "OpenID Connect",
            href: app.launch_url,
        }
    }
}

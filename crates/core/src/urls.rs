//! Every public path of the provider, in one leaf that routes, pages, mail, metadata and the
//! command line all read: a path is written once, and nothing that names one has to import
//! the router. Discovery and metadata publish them as absolute URLs (`Issuer::endpoint`).

pub const DISCOVERY: &str = "/.well-known/openid-configuration";
pub const JWKS: &str = "/.well-known/jwks.json";
pub const AUTHORIZE: &str = "/authorize";
pub const AUTHORIZE_CONTINUE: &str = "/authorize/continue";
pub const AUTHORIZE_CONSENT: &str = "/authorize/consent";
pub const TOKEN: &str = "/token";
pub const USERINFO: &str = "/userinfo";
pub const REVOCATION: &str = "/revoke";
pub const INTROSPECTION: &str = "/introspect";
pub const END_SESSION: &str = "/end-session";
pub const HEALTHZ: &str = "/healthz";
pub const READYZ: &str = "/readyz";
pub const METRICS: &str = "/metrics";
pub const STYLESHEET: &str = "/assets/latchkey.css";
/// The application page's copy buttons (the page works without it).
pub const COPY_SCRIPT: &str = "/assets/copy.js";

pub const LOGIN: &str = "/login";
pub const REGISTER: &str = "/register";
pub const LOGIN_SENT: &str = "/login/sent";
pub const LOGIN_CODE: &str = "/login/code";
pub const LOGIN_VERIFY: &str = "/login/verify";
/// The sign-in page opened at the part that enters a device's code.
pub const LOGIN_DEVICE: &str = "/login#device";
pub const LOGOUT: &str = "/logout";
pub const LOGOUT_EVERYWHERE: &str = "/logout/everywhere";
/// Where a single logout across SAML applications says how it went.
pub const SIGN_OUT_STATUS: &str = "/logout/status";
pub const JOIN: &str = "/join/{token}";

pub const DASHBOARD: &str = "/dashboard";
/// A member's application launcher: the team's applications they may open from here.
pub const APPS: &str = "/apps";
pub const PROFILE: &str = "/dashboard/profile";
pub const TEAM_SWITCH: &str = "/dashboard/team";
pub const TEAM_SETTINGS: &str = "/dashboard/settings/team";
pub const TEAM_RENAME: &str = "/dashboard/settings/team/rename";
pub const TEAM_JOIN_LINKS: &str = "/dashboard/settings/team/join-links";
pub const TEAM_JOIN_LINK_REVOKE: &str = "/dashboard/settings/team/join-links/revoke";
pub const TEAM_MEMBER_ROLE: &str = "/dashboard/settings/team/members/role";
pub const TEAM_MEMBER_REMOVE: &str = "/dashboard/settings/team/members/remove";
/// The team's audit log on a page of its own (the team page shows it too).
pub const TEAM_AUDIT: &str = "/dashboard/settings/team/audit";

pub const APPLICATIONS: &str = "/dashboard/applications";
pub const APPLICATION_NEW: &str = "/dashboard/applications/new";
/// One of a team's OpenID applications, by its client id.
pub const APPLICATION: &str = "/dashboard/applications/{client}";
pub const APPLICATION_SECRET: &str = "/dashboard/applications/{client}/secret";
pub const APPLICATION_REMOVE: &str = "/dashboard/applications/{client}/remove";

pub const INTEGRATIONS: &str = "/dashboard/integrations";
pub const INTEGRATIONS_ADD: &str = "/dashboard/integrations/issuers";
pub const INTEGRATIONS_REMOVE: &str = "/dashboard/integrations/issuers/remove";
pub const INTEGRATIONS_CONNECTIONS: &str = "/dashboard/integrations/connections";
pub const INTEGRATIONS_CONNECTION_REMOVE: &str = "/dashboard/integrations/connections/remove";
pub const INTEGRATIONS_CONNECTION_VERIFY: &str = "/dashboard/integrations/connections/verify";
pub const INTEGRATIONS_SAML: &str = "/dashboard/integrations/saml";
pub const INTEGRATIONS_SAML_REMOVE: &str = "/dashboard/integrations/saml/remove";
pub const INTEGRATIONS_SAML_UPDATE: &str = "/dashboard/integrations/saml/update";

pub const SSO_JWT: &str = "/sso/jwt";
/// A team's own browser sign-on: only that team's trusted issuers count there, so no other
/// team can take over or block it by trusting the same issuer.
pub const SSO_JWT_TEAM: &str = "/sso/jwt/teams/{team}";
pub const SSO_OIDC_START: &str = "/sso/oidc/start";
/// Each connection's own redirect URI: [`SSO_OIDC_CALLBACK_BASE`] and the connection's id.
pub const SSO_OIDC_CALLBACK: &str = "/sso/oidc/callback/{connection}";
pub const SSO_OIDC_CALLBACK_BASE: &str = "/sso/oidc/callback";

pub const SAML_METADATA: &str = "/saml/metadata";
pub const SAML_SSO: &str = "/saml/sso";
pub const SAML_INIT: &str = "/saml/init";
pub const SAML_SLO: &str = "/saml/slo";
pub const SAML_CONTINUE: &str = "/saml/continue";
/// A team's own SAML identity provider: its metadata (the URL is its entity ID), sign-on and
/// logout. `/saml/init` and `/saml/continue` serve every identity.
pub const SAML_TEAM_METADATA: &str = "/saml/teams/{team}/metadata";
pub const SAML_TEAM_SSO: &str = "/saml/teams/{team}/sso";
pub const SAML_TEAM_SLO: &str = "/saml/teams/{team}/slo";
/// The integrations page's actions on a team's SAML certificates.
pub const INTEGRATIONS_SAML_CERTIFICATES: &str = "/dashboard/integrations/saml/certificates";

/// The path of one join link (the route is [`JOIN`]).
pub fn join(token: &str) -> String {
    format!("/join/{token}")
}

/// The path of one connection's redirect URI (the route is [`SSO_OIDC_CALLBACK`]).
pub fn sso_oidc_callback(connection_id: &str) -> String {
    format!("{SSO_OIDC_CALLBACK_BASE}/{connection_id}")
}

/// The path of a team's own browser sign-on (the route is [`SSO_JWT_TEAM`]).
pub fn sso_jwt_team(team_id: &str) -> String {
    SSO_JWT_TEAM.replace("{team}", team_id)
}

/// The path of a team's SAML identity provider endpoint: a `SAML_TEAM_*` route, for `team_id`.
pub fn saml_team(route: &str, team_id: &str) -> String {
    route.replace("{team}", team_id)
}

/// `path?name=value`, the value form-encoded.
pub fn with_query(path: &str, pairs: &[(&str, &str)]) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in pairs {
        query.append_pair(name, value);
    }
    format!("{path}?{}", query.finish())
}

/// The page of one of a team's OpenID applications.
pub fn application(client_id: &str) -> String {
    APPLICATION.replace("{client}", client_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_templates_and_their_builders_agree() {
        assert_eq!(join("abc"), JOIN.replace("{token}", "abc"));
        assert_eq!(
            sso_oidc_callback("c1"),
            SSO_OIDC_CALLBACK.replace("{connection}", "c1")
        );
        assert_eq!(sso_jwt_team("t1"), "/sso/jwt/teams/t1");
    }

    #[test]
    fn query_values_are_encoded() {
        assert_eq!(
            with_query(LOGIN, &[("request", "a b&c"), ("x", "1")]),
            "/login?request=a+b%26c&x=1"
        );
    }
}

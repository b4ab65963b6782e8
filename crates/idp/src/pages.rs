use serde::Serialize;
use tera::{Context, Tera};

/// The page templates, embedded so the binary works outside the repository and in a container.
pub(crate) struct Pages {
    tera: Tera,
}

/// The stylesheet every page links to.
pub(crate) const STYLESHEET: &str = include_str!("../../../templates/assets/latchkey.css");

impl Pages {
    pub(crate) fn load() -> Result<Self, tera::Error> {
        let mut tera = Tera::default();
        tera.add_raw_templates([
            (
                "base.html",
                include_str!("../../../templates/pages/base.html"),
            ),
            (
                "error.html",
                include_str!("../../../templates/pages/error.html"),
            ),
            (
                "email_form.html",
                include_str!("../../../templates/pages/email_form.html"),
            ),
            (
                "sent.html",
                include_str!("../../../templates/pages/sent.html"),
            ),
            (
                "confirm.html",
                include_str!("../../../templates/pages/confirm.html"),
            ),
            (
                "apps.html",
                include_str!("../../../templates/pages/apps.html"),
            ),
            (
                "dashboard.html",
                include_str!("../../../templates/pages/dashboard.html"),
            ),
            (
                "integrations.html",
                include_str!("../../../templates/pages/integrations.html"),
            ),
            (
                "profile.html",
                include_str!("../../../templates/pages/profile.html"),
            ),
            (
                "team.html",
                include_str!("../../../templates/pages/team.html"),
            ),
            (
                "consent.html",
                include_str!("../../../templates/pages/consent.html"),
            ),
            (
                "end_session.html",
                include_str!("../../../templates/pages/end_session.html"),
            ),
            (
                "upstream.html",
                include_str!("../../../templates/pages/upstream.html"),
            ),
            (
                "saml_post.html",
                include_str!("../../../templates/pages/saml_post.html"),
            ),
            (
                "signed_out.html",
                include_str!("../../../templates/pages/signed_out.html"),
            ),
            (
                "saml_confirm.html",
                include_str!("../../../templates/pages/saml_confirm.html"),
            ),
            (
                "sso_jwt_confirm.html",
                include_str!("../../../templates/pages/sso_jwt_confirm.html"),
            ),
        ])?;
        Ok(Self { tera })
    }

    /// Renders `template` from its typed view. Autoescaping is on for every `.html` template.
    pub(crate) fn render<V: Serialize>(
        &self,
        template: &str,
        view: &V,
    ) -> Result<String, tera::Error> {
        self.tera.render(template, &Context::from_serialize(view)?)
    }
}

/// The view of `error.html`: what happened, in a sentence, and what to do next.
#[derive(Serialize)]
pub(crate) struct ErrorView<'a> {
    pub title: &'a str,
    pub message: &'a str,
    pub hint: Option<&'a str>,
    /// A path from the code, never from input: the template writes it unescaped.
    pub action_href: Option<&'static str>,
    pub action_label: Option<&'a str>,
}

/// The view of `email_form.html`: the register and login pages.
#[derive(Serialize)]
pub(crate) struct EmailFormView<'a> {
    pub title: &'a str,
    pub lead: &'a str,
    pub action: &'a str,
    pub button: &'a str,
    pub email: &'a str,
    /// Whether the form asks for a name (creating an account, or joining a team).
    pub ask_name: bool,
    pub name: &'a str,
    pub csrf: &'a str,
    /// The pending authorization request, carried in a hidden field.
    pub request: &'a str,
    pub error: Option<&'a str>,
    pub other_text: &'a str,
    pub other_href: &'a str,
    pub other_link: &'a str,
    /// The team whose sign-in options the page offers (a hidden field), or empty.
    pub team: &'a str,
    /// Its connections: each a way to sign in with the team's own identity provider.
    pub connections: &'a [ConnectionChoice],
    /// A single logout of this browser did not settle: the page points to how it went.
    pub signing_out: bool,
}

/// A button to sign in through a team's identity provider.
#[derive(Serialize)]
pub(crate) struct ConnectionChoice {
    pub id: String,
    pub name: String,
    /// The provider's host, beside the name the team chose.
    pub host: String,
}

/// The view of `upstream.html`: an address whose domain a team's identity provider signs in.
#[derive(Serialize)]
pub(crate) struct UpstreamView<'a> {
    pub csrf: &'a str,
    pub connection: &'a str,
    pub host: &'a str,
    pub domain: &'a str,
    pub connection_id: &'a str,
    pub login_hint: &'a str,
    pub request: &'a str,
}

/// The view of `sent.html`: "check your email", with the code form.
#[derive(Serialize)]
pub(crate) struct SentView<'a> {
    pub minutes: i64,
    pub csrf: &'a str,
    pub error: Option<&'a str>,
}

/// The view of `confirm.html`: what pressing the button will do, and as whom.
#[derive(Serialize)]
pub(crate) struct ConfirmView<'a> {
    /// The application signing in continues to, if it began at one.
    pub application: Option<&'a str>,
    pub title: &'a str,
    pub action: &'a str,
    pub button: &'a str,
    pub email: &'a str,
    pub issuer: &'a str,
    pub token: &'a str,
    pub csrf: &'a str,
}

/// The view of `dashboard.html`.
#[derive(Serialize)]
pub(crate) struct DashboardView<'a> {
    pub email: &'a str,
    pub name: Option<&'a str>,
    /// The integration whose token opened the session, if one did.
    pub opened_by: Option<&'a str>,
    pub signed_in_at: String,
    pub csrf: &'a str,
    /// The team the session works in, and the person's role there.
    pub team: Option<(String, &'static str)>,
    pub left_team: bool,
    /// Whether this session may sign out everywhere (it speaks for the whole account).
    pub may_change_account: bool,
}

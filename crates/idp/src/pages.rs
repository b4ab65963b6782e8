use serde::Serialize;
use tera::{Context, Tera};

/// The page templates, embedded so the binary works outside the repository and in a container.
pub(crate) struct Pages {
    tera: Tera,
}

/// The stylesheet every page links to.
pub(crate) const STYLESHEET: &str = include_str!("../../../templates/assets/latchkey.css");

/// A page template by its name, embedded from `templates/pages/`.
macro_rules! template {
    ($name:literal) => {
        (
            $name,
            include_str!(concat!("../../../templates/pages/", $name)),
        )
    };
}

/// Every page template; `macros.html` holds the macros the others import.
const TEMPLATES: &[(&str, &str)] = &[
    template!("base.html"),
    template!("macros.html"),
    template!("audit.html"),
    template!("audit_log.html"),
    template!("integrations_issuers.html"),
    template!("integrations_connections.html"),
    template!("integrations_saml.html"),
    template!("error.html"),
    template!("email_form.html"),
    template!("sent.html"),
    template!("confirm.html"),
    template!("dashboard.html"),
    template!("integrations.html"),
    template!("applications.html"),
    template!("applications_form.html"),
    template!("applications_new.html"),
    template!("application.html"),
    template!("apps.html"),
    template!("profile.html"),
    template!("team.html"),
    template!("consent.html"),
    template!("end_session.html"),
    template!("upstream.html"),
    template!("saml_post.html"),
    template!("signed_out.html"),
    template!("saml_confirm.html"),
    template!("sso_jwt_confirm.html"),
];

impl Pages {
    pub(crate) fn load() -> Result<Self, tera::Error> {
        let mut tera = Tera::default();
        tera.add_raw_templates(TEMPLATES.iter().copied())?;
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
    pub signed_in_at: crate::web::Moment,
    pub csrf: &'a str,
    /// The team the session works in, and the person's role there.
    pub team: Option<(String, &'static str)>,
    pub left_team: bool,
    /// Whether this session may sign out everywhere (it speaks for the whole account).
    pub may_change_account: bool,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn nav(team: &str) -> serde_json::Value {
        json!({
            "links": [
                { "href": "/dashboard", "label": "Your account", "current": false },
                { "href": "/dashboard/settings/team", "label": "Team", "current": true },
            ],
            "team": team,
            "is_admin": false,
        })
    }

    #[test]
    fn a_signed_in_page_has_the_navigation_with_the_current_page_marked_and_escaped() {
        let pages = Pages::load().unwrap();
        let view = json!({ "title": "Team", "message": "m", "nav": nav("<b>Acme</b>") });
        let page = pages.render("error.html", &view).unwrap();
        assert!(page.contains(r#"<nav class="console-nav" aria-label="Console">"#));
        assert!(page.contains(r#"aria-current="page">Team</a>"#), "{page}");
        assert_eq!(page.matches("aria-current").count(), 1, "{page}");
        assert!(page.contains("&lt;b&gt;Acme&lt;&#x2F;b&gt;"), "{page}");
        assert!(!page.contains("<b>Acme"), "{page}");
    }

    #[test]
    fn a_page_without_a_session_has_no_navigation() {
        let pages = Pages::load().unwrap();
        let page = pages
            .render(
                "error.html",
                &json!({ "title": "Not found", "message": "m" }),
            )
            .unwrap();
        assert!(!page.contains("<nav"), "{page}");
    }
}

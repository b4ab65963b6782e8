//! The sign-up and sign-in pages: the address form, and the link (or note) it sends.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use axum_extra::extract::CookieJar;
use latchkey_core::TeamId;
use serde::Deserialize;

use crate::pages::{ConnectionChoice, EmailFormView, UpstreamView};
use crate::state::AppState;
use crate::web::cookies::Jar;
use crate::web::csrf;
use crate::web::error::PageError;
use crate::web::extract::CsrfForm;
use latchkey_core::email::Email;
use latchkey_core::secret::SecretToken;
use latchkey_core::urls;
use latchkey_login::{Continuing, JoinTarget, Purpose, Requester, Resume};
use latchkey_teams::PersonName;

use crate::web::page::{PageResult, form_status, html};

#[derive(Deserialize)]
pub(super) struct HintQuery {
    login_hint: Option<String>,
    /// A team whose own identity providers the page offers.
    team: Option<String>,
    /// The pending request that signing in continues.
    request: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct EmailForm {
    #[serde(default)]
    email: String,
    /// Only on the register form.
    #[serde(default)]
    name: String,
    #[serde(default)]
    request: String,
    /// The team whose identity providers the page offered.
    #[serde(default)]
    team: String,
}

/// A pending request the login pages carry along: what it is, and the name of the
/// application signing in continues to.
#[derive(Default)]
struct Continues {
    resume: Option<Resume>,
    client: Option<String>,
}

impl Continues {
    /// The request named by a page's `request` parameter, if it still waits; nothing otherwise
    /// (a stale id is dropped rather than carried into the mail).
    async fn find(state: &AppState, request: Option<&str>) -> Self {
        let Some(resume) = request.and_then(Resume::parse) else {
            return Self::default();
        };
        match crate::web::resume::pending_application(state, &resume).await {
            Some(client) => Self {
                resume: Some(resume),
                client: Some(client),
            },
            None => Self::default(),
        }
    }

    /// The request as the page's forms carry it ("" for none).
    fn request(&self) -> &str {
        self.resume.as_ref().map_or("", Resume::as_str)
    }

    /// The request to continue and its application, for the mail.
    fn continuing(&self) -> Option<Continuing> {
        Some(Continuing {
            request: self.resume.clone()?,
            application: self.client.clone()?,
        })
    }

    /// "Sign in", or "Sign in to continue to Helpdesk".
    fn title(&self, action: &str) -> String {
        match &self.client {
            Some(client) => format!("{action} to continue to {client}"),
            None => action.to_owned(),
        }
    }
}

/// A team's own identity providers, offered on its login page (`?team=ID`).
#[derive(Default)]
struct Offered {
    team: String,
    choices: Vec<ConnectionChoice>,
}

impl Offered {
    /// The connections of `team`, if it has any; none for an unknown or empty id.
    async fn by(state: &AppState, team: &str) -> Self {
        let team = team.trim();
        if team.is_empty() || team.len() > 64 {
            return Self::default();
        }
        let choices = connection_choices(state, &TeamId::from(team)).await;
        Self {
            team: if choices.is_empty() {
                String::new()
            } else {
                team.to_owned()
            },
            choices,
        }
    }
}

/// A button for each of the team's connections (the page's form carries the pending request).
pub(super) async fn connection_choices(state: &AppState, team: &TeamId) -> Vec<ConnectionChoice> {
    let offered = match state.connections.offered_by(team).await {
        Ok(offered) => offered,
        Err(error) => {
            tracing::warn!(%error, "could not list a team's connections");
            return Vec::new();
        }
    };
    offered
        .into_iter()
        .map(|offered| ConnectionChoice {
            id: offered.id,
            name: offered.name,
            host: offered.host,
        })
        .collect()
}

/// The register or login page, with `email` pre-filled and an optional error.
fn email_form(
    state: &AppState,
    jar: CookieJar,
    purpose: Purpose,
    (email, name): (&str, &str),
    continues: &Continues,
    offered: &Offered,
    error: Option<&str>,
) -> PageResult {
    let (jar, csrf) = csrf::token(jar, state.cookies);
    let request = continues.request();
    // The links between the two forms keep the pending request.
    let (login_href, register_href) = if request.is_empty() {
        (urls::LOGIN.to_owned(), urls::REGISTER.to_owned())
    } else {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("request", request)
            .finish();
        (
            format!("{}?{query}", urls::LOGIN),
            format!("{}?{query}", urls::REGISTER),
        )
    };
    let signing_out = jar.get(state.cookies.name(Jar::SignOut)).is_some();
    let sign_in = continues.title("Sign in");
    let create = continues.title("Create your account");
    let view = match purpose {
        Purpose::Login => EmailFormView {
            title: &sign_in,
            lead: "Enter your email address and we will send you a link to sign in. No password needed.",
            action: urls::LOGIN,
            button: "Email me a sign-in link",
            email,
            ask_name: false,
            name: "",
            csrf: &csrf,
            request,
            error,
            other_text: "New here?",
            other_href: &register_href,
            other_link: "Create an account",
            team: &offered.team,
            connections: &offered.choices,
            signing_out,
        },
        Purpose::Register | Purpose::Join => EmailFormView {
            title: &create,
            lead: "Enter your email address and we will send you a link to finish signing up. No password needed.",
            action: urls::REGISTER,
            button: "Email me a sign-up link",
            email,
            ask_name: true,
            name,
            csrf: &csrf,
            request,
            error,
            other_text: "Already have an account?",
            other_href: &login_href,
            other_link: "Sign in",
            team: &offered.team,
            connections: &offered.choices,
            signing_out: false,
        },
    };
    let status = form_status(error);
    Ok((jar, html(state, status, "email_form.html", &view)?).into_response())
}

/// `GET /login`: `login_hint` pre-fills the address.
pub(super) async fn login_page(
    State(state): State<AppState>,
    jar: CookieJar,
    Query(q): Query<HintQuery>,
) -> PageResult {
    form_page(&state, jar, q, Purpose::Login).await
}

/// `GET /register`.
pub(super) async fn register_page(
    State(state): State<AppState>,
    jar: CookieJar,
    Query(q): Query<HintQuery>,
) -> PageResult {
    form_page(&state, jar, q, Purpose::Register).await
}

/// Either page, carrying a pending authorization request along if it still waits.
async fn form_page(state: &AppState, jar: CookieJar, q: HintQuery, purpose: Purpose) -> PageResult {
    let hint = q.login_hint.unwrap_or_default();
    let continues = Continues::find(state, q.request.as_deref()).await;
    let offered = Offered::by(state, q.team.as_deref().unwrap_or_default()).await;
    email_form(
        state,
        jar,
        purpose,
        (hint.trim(), ""),
        &continues,
        &offered,
        None,
    )
}

/// `POST /login`.
pub(super) async fn login_submit(
    State(state): State<AppState>,
    from: Requester,
    jar: CookieJar,
    CsrfForm(form): CsrfForm<EmailForm>,
) -> PageResult {
    submit(&state, &from, jar, form, Purpose::Login).await
}

/// `POST /register`.
pub(super) async fn register_submit(
    State(state): State<AppState>,
    from: Requester,
    jar: CookieJar,
    CsrfForm(form): CsrfForm<EmailForm>,
) -> PageResult {
    submit(&state, &from, jar, form, Purpose::Register).await
}

/// Sends a link (or a note, or nothing past the limit) and answers the same way regardless.
async fn submit(
    state: &AppState,
    from: &Requester,
    jar: CookieJar,
    form: EmailForm,
    purpose: Purpose,
) -> PageResult {
    let continues = Continues::find(state, Some(&form.request)).await;
    let offered = Offered::by(state, &form.team).await;
    let typed = (form.email.trim(), form.name.trim());
    let refuse = |jar, message| {
        email_form(
            state,
            jar,
            purpose,
            typed,
            &continues,
            &offered,
            Some(message),
        )
    };
    let Ok(email) = Email::parse(&form.email) else {
        return refuse(
            jar,
            "That does not look like an email address. Check it and try again.",
        );
    };
    let name = match optional_name(&form.name) {
        Ok(name) => name.filter(|_| purpose == Purpose::Register),
        Err(message) => return refuse(jar, message),
    };
    // Home-realm discovery: a domain a team has proven signs in with its identity provider.
    match state.connections.for_address(&email).await {
        Ok(Some(offered)) => {
            let domain = email
                .as_str()
                .rsplit_once('@')
                .map(|(_, d)| d)
                .unwrap_or_default();
            let (jar, csrf) = csrf::token(jar, state.cookies);
            let view = UpstreamView {
                csrf: &csrf,
                connection: &offered.name,
                host: &offered.host,
                domain,
                connection_id: &offered.id,
                login_hint: email.as_str(),
                request: continues.request(),
            };
            return Ok((jar, html(state, StatusCode::OK, "upstream.html", &view)?).into_response());
        }
        Ok(None) => {}
        Err(error) => return Err(PageError::internal(error)),
    }
    let continuing = continues.continuing();
    let asked = LinkAsked {
        purpose,
        continues: continuing.as_ref(),
        join: None,
        name: name.as_ref(),
    };
    send_link(state, from, jar, &email, asked).await
}

/// A name typed in the optional field: none when left empty, refused when unusable.
pub(super) fn optional_name(raw: &str) -> Result<Option<PersonName>, &'static str> {
    if raw.trim().is_empty() {
        return Ok(None);
    }
    PersonName::parse(raw)
        .map(Some)
        .ok_or("Your name can be up to 200 characters, on one line. Or leave it empty.")
}

/// What a link is asked for, beyond the address.
pub(super) struct LinkAsked<'a> {
    pub purpose: Purpose,
    pub continues: Option<&'a Continuing>,
    pub join: Option<&'a JoinTarget>,
    pub name: Option<&'a PersonName>,
}

/// Queues the link for `email`, marks this browser as the one that asked (for the code),
/// and shows "check your email".
pub(super) async fn send_link(
    state: &AppState,
    from: &Requester,
    jar: CookieJar,
    email: &Email,
    asked: LinkAsked<'_>,
) -> PageResult {
    let browser = SecretToken::generate();
    state
        .login
        .request(
            email,
            asked.purpose,
            &browser,
            from,
            asked.continues,
            asked.join,
            asked.name,
            state.now(),
        )
        .await
        .map_err(PageError::internal)?;
    let jar = jar.add(
        state
            .cookies
            .make(Jar::Browser, browser.expose().to_owned()),
    );
    Ok((jar, Redirect::to(urls::LOGIN_SENT)).into_response())
}

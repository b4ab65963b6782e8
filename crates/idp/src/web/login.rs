//! The sign-up and sign-in pages: thin handlers over `crate::login`.

use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use chrono::{SecondsFormat, Utc};
use serde::Deserialize;

use super::cookies::Jar;
use super::csrf;
use super::error::PageError;
use super::extract::{CsrfForm, CurrentUser, current_user};
use super::paths;
use crate::email::Email;
use crate::login::{CodeError, JoinTarget, LinkError, LoginError, Purpose, Requester, SignedIn};
use crate::pages::{ConfirmView, DashboardView, EmailFormView, SentView};
use crate::secret::SecretToken;
use crate::state::AppState;

type PageResult = Result<Response, PageError>;

pub(super) fn html(
    state: &AppState,
    status: StatusCode,
    template: &str,
    view: &impl serde::Serialize,
) -> PageResult {
    let page = state
        .pages
        .render(template, view)
        .map_err(PageError::internal)?;
    Ok((status, [(header::CACHE_CONTROL, "no-store")], Html(page)).into_response())
}

#[derive(Deserialize)]
pub(super) struct HintQuery {
    login_hint: Option<String>,
    /// The pending authorization request that signing in continues.
    request: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct EmailForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    request: String,
}

#[derive(Deserialize)]
pub(super) struct CodeForm {
    #[serde(default)]
    code: String,
}

#[derive(Deserialize)]
pub(super) struct TokenQuery {
    #[serde(default)]
    token: String,
}

#[derive(Deserialize)]
pub(super) struct ConfirmForm {
    #[serde(default)]
    token: String,
}

#[derive(Deserialize)]
pub(super) struct DashboardQuery {
    done: Option<String>,
}

/// A form with nothing but its CSRF token.
#[derive(Deserialize)]
pub(super) struct NoFields {}

/// A pending authorization request the login pages carry along: its id, and the name of the
/// application signing in continues to.
#[derive(Default)]
struct Continues {
    request: String,
    client: Option<String>,
}

impl Continues {
    /// The request named by a page's `request` parameter, if it still waits; nothing otherwise
    /// (a stale id is dropped rather than carried into the mail).
    async fn find(state: &AppState, request: Option<&str>) -> Self {
        let Some(id) = request.filter(|id| !id.is_empty()) else {
            return Self::default();
        };
        match state.provider.pending_client_name(id, Utc::now()).await {
            Some(client) => Self {
                request: id.to_owned(),
                client: Some(client),
            },
            None => Self::default(),
        }
    }

    /// The id for the mail, if there is a request to continue.
    fn request(&self) -> Option<&str> {
        Some(self.request.as_str()).filter(|r| !r.is_empty())
    }

    /// "Sign in", or "Sign in to continue to Helpdesk".
    fn title(&self, action: &str) -> String {
        match &self.client {
            Some(client) => format!("{action} to continue to {client}"),
            None => action.to_owned(),
        }
    }
}

/// The register or login page, with `email` pre-filled and an optional error.
fn email_form(
    state: &AppState,
    jar: CookieJar,
    purpose: Purpose,
    email: &str,
    continues: &Continues,
    error: Option<&str>,
) -> PageResult {
    let (jar, csrf) = csrf::token(jar, state.cookies);
    let request = continues.request.as_str();
    // The links between the two forms keep the pending request.
    let (login_href, register_href) = if request.is_empty() {
        (paths::LOGIN.to_owned(), paths::REGISTER.to_owned())
    } else {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("request", request)
            .finish();
        (
            format!("{}?{query}", paths::LOGIN),
            format!("{}?{query}", paths::REGISTER),
        )
    };
    let sign_in = continues.title("Sign in");
    let create = continues.title("Create your account");
    let view = match purpose {
        Purpose::Login => EmailFormView {
            title: &sign_in,
            lead: "Enter your email address and we will send you a link to sign in. No password needed.",
            action: paths::LOGIN,
            button: "Email me a sign-in link",
            email,
            csrf: &csrf,
            request,
            error,
            other_text: "New here?",
            other_href: &register_href,
            other_link: "Create an account",
        },
        Purpose::Register | Purpose::Join => EmailFormView {
            title: &create,
            lead: "Enter your email address and we will send you a link to finish signing up. No password needed.",
            action: paths::REGISTER,
            button: "Email me a sign-up link",
            email,
            csrf: &csrf,
            request,
            error,
            other_text: "Already have an account?",
            other_href: &login_href,
            other_link: "Sign in",
        },
    };
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
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
    email_form(state, jar, purpose, hint.trim(), &continues, None)
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
    let Ok(email) = Email::parse(&form.email) else {
        let message = "That does not look like an email address. Check it and try again.";
        return email_form(
            state,
            jar,
            purpose,
            form.email.trim(),
            &continues,
            Some(message),
        );
    };
    send_link(state, from, jar, &email, purpose, continues.request(), None).await
}

/// Queues the link for `email`, marks this browser as the one that asked (for the code),
/// and shows "check your email".
pub(super) async fn send_link(
    state: &AppState,
    from: &Requester,
    jar: CookieJar,
    email: &Email,
    purpose: Purpose,
    continues: Option<&str>,
    join: Option<&JoinTarget>,
) -> PageResult {
    let browser = SecretToken::generate();
    state
        .login
        .request(email, purpose, &browser, from, continues, join, Utc::now())
        .await
        .map_err(PageError::internal)?;
    let jar = jar.add(
        state
            .cookies
            .make(Jar::Browser, browser.expose().to_owned()),
    );
    Ok((jar, Redirect::to(paths::LOGIN_SENT)).into_response())
}

/// `GET /login/sent`: "check your email", with the form for the code.
pub(super) async fn sent_page(State(state): State<AppState>, jar: CookieJar) -> PageResult {
    sent(&state, jar, StatusCode::OK, None)
}

fn sent(state: &AppState, jar: CookieJar, status: StatusCode, error: Option<&str>) -> PageResult {
    let (jar, csrf) = csrf::token(jar, state.cookies);
    let view = SentView {
        minutes: state.login_settings.magic_link_ttl.num_minutes().max(1),
        csrf: &csrf,
        error,
    };
    Ok((jar, html(state, status, "sent.html", &view)?).into_response())
}

/// `POST /login/code`: the code from the mail, typed in the browser that asked.
pub(super) async fn code_submit(
    State(state): State<AppState>,
    from: Requester,
    jar: CookieJar,
    CsrfForm(form): CsrfForm<CodeForm>,
) -> PageResult {
    let browser = jar
        .get(state.cookies.name(Jar::Browser))
        .and_then(|c| SecretToken::from_client(c.value()));
    let outcome = match browser {
        Some(browser) => {
            state
                .login
                .confirm_code(&browser, &form.code, &from, Utc::now())
                .await
        }
        None => Err(CodeError::NothingPending),
    };
    match outcome {
            Ok(signed_in) => Ok(start_session(&state, jar, signed_in).await),
            Err(CodeError::Wrong { remaining }) => {
                let message = format!("That code is not right. {remaining} {} left.", if remaining == 1 { "try" } else { "tries" });
                sent(&state, jar, StatusCode::BAD_REQUEST, Some(&message))
            }
            Err(CodeError::Voided) => Err(link_error(LinkError::Voided)),
            Err(CodeError::NothingPending) => Err(PageError {
                status: StatusCode::BAD_REQUEST,
                title: "No sign-in is waiting here",
                message: "This browser has no sign-in link waiting for a code, or its link has expired or been used.".into(),
                hint: Some("Type the code in the same browser where you asked for the link."),
                action: Some((paths::LOGIN, "Send a new link")),
            }),
            Err(CodeError::Login(e)) => Err(link_error(LinkError::Login(e))),
        }
}

/// `GET /login/verify?token=…`: shows what the link will do. Consumes nothing, so a mail
/// scanner that fetches the link (and runs its scripts: there are none) uses nothing up.
pub(super) async fn verify_page(
    State(state): State<AppState>,
    jar: CookieJar,
    Query(q): Query<TokenQuery>,
) -> PageResult {
    let view = state
        .login
        .inspect(&q.token, Utc::now())
        .await
        .map_err(link_error)?;
    let (jar, csrf) = csrf::token(jar, state.cookies);
    let joining = view
        .team
        .as_ref()
        .map(|team| format!("join the team {team}"));
    let (title, button) = match view.purpose {
        Purpose::Register => ("Finish creating your account", "Create my account"),
        Purpose::Login => ("Sign in", "Sign me in"),
        Purpose::Join => ("Join your team", "Join the team"),
    };
    let page = ConfirmView {
        title,
        action: joining.as_deref().unwrap_or(view.purpose.action()),
        button,
        email: view.email.as_str(),
        issuer: state.issuer.as_str(),
        token: &q.token,
        csrf: &csrf,
    };
    Ok((jar, html(&state, StatusCode::OK, "confirm.html", &page)?).into_response())
}

/// `POST /login/verify`: uses the link and signs this browser in.
pub(super) async fn verify_submit(
    State(state): State<AppState>,
    from: Requester,
    jar: CookieJar,
    CsrfForm(form): CsrfForm<ConfirmForm>,
) -> PageResult {
    let signed_in = state
        .login
        .confirm(&form.token, &from, Utc::now())
        .await
        .map_err(link_error)?;
    Ok(start_session(&state, jar, signed_in).await)
}

/// Sets the new session's cookie, ending any session this browser had (a new id on every
/// sign-in: no fixation), and continues the authorization request it began with, or goes to
/// the dashboard.
async fn start_session(state: &AppState, jar: CookieJar, signed_in: SignedIn) -> Response {
    let previous = jar
        .get(state.cookies.name(Jar::Session))
        .and_then(|c| SecretToken::from_client(c.value()));
    if let Some(old) = previous
        && let Err(error) = state.login.sessions().revoke(&old, Utc::now()).await
    {
        tracing::warn!(%error, "could not end the previous session");
    }
    let jar = jar
        .add(
            state
                .cookies
                .make(Jar::Session, signed_in.session.expose().to_owned()),
        )
        .add(state.cookies.removal(Jar::Browser));
    let next = match &signed_in.continues {
        Some(request) => format!(
            "{}?{}",
            super::paths::AUTHORIZE_CONTINUE,
            url::form_urlencoded::Serializer::new(String::new())
                .append_pair("request", request)
                .finish()
        ),
        None => super::paths::DASHBOARD.to_owned(),
    };
    (jar, Redirect::to(&next)).into_response()
}

/// `GET /dashboard`: the signed-in landing page.
pub(super) async fn dashboard(
    State(state): State<AppState>,
    CurrentUser { user, .. }: CurrentUser,
    jar: CookieJar,
    Query(q): Query<DashboardQuery>,
) -> PageResult {
    let team = match &user.team_id {
        Some(team) => state.teams.open(team, &user.user_id).await.ok(),
        None => None,
    }
    .map(|m| (m.team.name, m.role.as_str()));
    let (jar, csrf) = csrf::token(jar, state.cookies);
    let view = DashboardView {
        email: &user.email,
        signed_in_at: user.signed_in_at.to_rfc3339_opts(SecondsFormat::Secs, true),
        csrf: &csrf,
        team,
        left_team: q.done.as_deref() == Some("left"),
    };
    Ok((jar, html(&state, StatusCode::OK, "dashboard.html", &view)?).into_response())
}

/// `POST /logout`: ends this session.
pub(super) async fn logout(
    State(state): State<AppState>,
    jar: CookieJar,
    CsrfForm(NoFields {}): CsrfForm<NoFields>,
) -> PageResult {
    if let Some((secret, _)) = current_user(&state, &jar).await? {
        state
            .login
            .sessions()
            .revoke(&secret, Utc::now())
            .await
            .map_err(PageError::internal)?;
    }
    Ok(signed_out(&state, jar))
}

/// `POST /logout/everywhere`: ends every session of the signed-in person.
pub(super) async fn logout_everywhere(
    State(state): State<AppState>,
    jar: CookieJar,
    CsrfForm(NoFields {}): CsrfForm<NoFields>,
) -> PageResult {
    if let Some((_, user)) = current_user(&state, &jar).await? {
        let ended = state
            .login
            .sessions()
            .revoke_all(&user.user_id, Utc::now())
            .await
            .map_err(PageError::internal)?;
        tracing::info!(user = %user.user_id, ended, "signed out everywhere");
    }
    Ok(signed_out(&state, jar))
}

/// Forgets the session cookie and shows the sign-in page.
fn signed_out(state: &AppState, jar: CookieJar) -> Response {
    (
        jar.add(state.cookies.removal(Jar::Session)),
        Redirect::to(paths::LOGIN),
    )
        .into_response()
}

/// The page for a link that cannot be used: what happened, and a way to get a new one.
fn link_error(error: LinkError) -> PageError {
    let (status, title, message) = match error {
        LinkError::Invalid => (
            StatusCode::BAD_REQUEST,
            "This link is not valid",
            "The link is damaged or incomplete: it may have been cut when it was copied from the mail.",
        ),
        LinkError::Expired => (
            StatusCode::GONE,
            "This link has expired",
            "Sign-in links work for a few minutes only, to keep your account safe.",
        ),
        LinkError::Used => (
            StatusCode::GONE,
            "This link has already been used",
            "Each sign-in link works once. If that was you, you are already signed in on the device where you used it.",
        ),
        LinkError::Voided => (
            StatusCode::GONE,
            "This link no longer works",
            "Too many wrong codes were typed for it, so the link and its code were cancelled.",
        ),
        LinkError::Login(LoginError::Join(e)) => return super::join::join_error(e),
        LinkError::Login(e) => return PageError::internal(e),
    };
    PageError {
        status,
        title,
        message: message.into(),
        hint: Some("You can ask for a new link; it takes a few seconds."),
        action: Some((paths::LOGIN, "Send me a new link")),
    }
}

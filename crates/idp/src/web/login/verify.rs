//! After the form: "check your email" with the code form, the confirm page a link opens, and
//! the session that either starts.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use serde::Deserialize;

use crate::pages::{ConfirmView, SentView};
use crate::state::AppState;
use crate::web::cookies::Jar;
use crate::web::csrf;
use crate::web::error::PageError;
use crate::web::extract::CsrfForm;
use latchkey_core::secret::SecretToken;
use latchkey_core::urls;
use latchkey_login::{CodeError, LinkError, LoginError, Purpose, Requester, SignedIn};

use crate::web::page::{PageResult, html};

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
                .confirm_code(&browser, &form.code, &from, state.now())
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
            Err(CodeError::CodesOff) => Err(PageError {
                status: StatusCode::TOO_MANY_REQUESTS,
                title: "Codes are off for this address today",
                message: "Too many wrong codes were typed for this address, so no code signs in to it until tomorrow.".into(),
                hint: Some("Open the link in the mail instead: it still works."),
                action: Some((urls::LOGIN, "Send a new link")),
            }),
            Err(CodeError::NothingPending) => Err(PageError {
                status: StatusCode::BAD_REQUEST,
                title: "No sign-in is waiting here",
                message: "This browser has no sign-in link waiting for a code, or its link has expired or been used.".into(),
                hint: Some("Type the code in the same browser where you asked for the link."),
                action: Some((urls::LOGIN, "Send a new link")),
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
        .inspect(&q.token, state.now())
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
    let application = match &view.continues {
        Some(resume) => crate::web::resume::pending_application(&state, resume).await,
        None => None,
    };
    let page = ConfirmView {
        application: application.as_deref(),
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
        .confirm(&form.token, &from, state.now())
        .await
        .map_err(link_error)?;
    Ok(start_session(&state, jar, signed_in).await)
}

/// Sets the new session's cookie, ending any session this browser had (a new id on every
/// sign-in: no fixation), and resumes the request it began with, or goes to the dashboard.
pub(super) async fn start_session(
    state: &AppState,
    jar: CookieJar,
    signed_in: SignedIn,
) -> Response {
    end_previous_session(state, &jar).await;
    let jar = jar
        .add(
            state
                .cookies
                .make(Jar::Session, signed_in.session.expose().to_owned()),
        )
        .add(state.cookies.removal(Jar::Browser));
    // Remembers that this browser signed in to the account, so strangers spending the
    // address's shared budget cannot keep it from asking for links later.
    let jar = match state.login.device_note(&signed_in.user_id, state.now()) {
        Ok(note) => jar.add(state.cookies.make_lasting(
            Jar::Device,
            note,
            latchkey_login::DEVICE_TTL.to_std().unwrap_or_default(),
        )),
        Err(error) => {
            tracing::warn!(%error, "could not sign the device note");
            jar
        }
    };
    let next = match &signed_in.continues {
        Some(resume) => resume.path(),
        None => latchkey_core::urls::DASHBOARD.to_owned(),
    };
    (jar, Redirect::to(&next)).into_response()
}

/// Ends the session this browser had before signing in again: a new id on every sign-in.
pub(super) async fn end_previous_session(state: &AppState, jar: &CookieJar) {
    let previous = jar
        .get(state.cookies.name(Jar::Session))
        .and_then(|c| SecretToken::from_client(c.value()));
    if let Some(old) = previous
        && let Err(error) = state.login.sessions().revoke(&old, state.now()).await
    {
        tracing::warn!(%error, "could not end the previous session");
    }
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
        action: Some((urls::LOGIN, "Send me a new link")),
    }
}

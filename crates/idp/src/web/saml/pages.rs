//! The pages a SAML answer becomes: a redirect, a form posted to the SP (at once, or on the
//! person's press), the question whether to continue, or a refusal that says what to do.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect};
use axum_extra::extract::CookieJar;
use latchkey_core::urls;
use latchkey_saml::{Confirmation, PostBack, Refusal, Reply};
use serde::Serialize;

use crate::state::AppState;
use crate::web::csrf;
use crate::web::error::PageError;
use crate::web::page::{PageResult, html};

/// The script that posts the response form, allowed by its hash and nothing else.
const AUTO_POST: &str = "document.getElementById(\"saml-post\").submit();";

/// A redirect, the page that posts a form to the SP (at once, or when the person presses
/// its button), or the question whether to continue.
pub(super) fn respond(state: &AppState, jar: CookieJar, reply: Reply) -> PageResult {
    let page = match reply {
        Reply::Redirect(to) => Redirect::to(&to).into_response(),
        Reply::Post(form) => post_page(state, &form, None)?,
        Reply::StatusPage(page) => {
            post_page(state, &page.form, Some((&page.message, &page.button)))?
        }
        Reply::Confirm(question) => return confirm_page(state, jar, &question),
    };
    Ok((jar, page).into_response())
}

#[derive(Serialize)]
struct ConfirmView<'a> {
    title: String,
    sp: &'a str,
    email: &'a str,
    request: &'a str,
    csrf: &'a str,
    action: &'a str,
}

/// "Continue to {SP} as {address}?": its button posts back to `/saml/continue`.
fn confirm_page(state: &AppState, jar: CookieJar, question: &Confirmation) -> PageResult {
    let (jar, csrf) = csrf::token(jar, state.cookies);
    let view = ConfirmView {
        title: format!("Continue to {}?", question.sp),
        sp: &question.sp,
        email: &question.email,
        request: question.request.as_str(),
        csrf: &csrf,
        action: urls::SAML_CONTINUE,
    };
    let page = html(state, StatusCode::OK, "saml_confirm.html", &view)?;
    Ok((jar, page).into_response())
}

/// The page a refusal shows, with what the person, or the SP's administrator, can do.
pub(super) fn refusal(refusal: Refusal) -> PageError {
    let page = |title, message: String, hint| PageError {
        status: StatusCode::BAD_REQUEST,
        title,
        message,
        hint: Some(hint),
        action: None,
    };
    match refusal {
        Refusal::Unreadable(why) => page(
            "This sign-in request cannot be read",
            format!("The request is malformed: {why}."),
            "Go back to the application and try again, or tell its administrator about this page.",
        ),
        Refusal::UnknownSp => page(
            "This application is not registered",
            "The sign-in request comes from an application Latchkey does not know.".into(),
            "Tell the application's administrator: a team administrator registers it with Latchkey, on the integrations page.",
        ),
        Refusal::Unchecked { sp } => page(
            "This sign-in request cannot be checked",
            format!(
                "{sp} signed this request, and Latchkey has no certificate of it to check it with."
            ),
            "Tell the team's administrator: register the application's signing certificate with it (its metadata has it).",
        ),
        Refusal::NotSigned { sp } => page(
            "This sign-in request is not signed by the application",
            format!("This request's signature is missing, or does not match {sp}'s certificate."),
            "Go back to the application and try again. If this keeps happening, its certificate may have changed: tell its administrator.",
        ),
        Refusal::AcsNotRegistered { sp } => page(
            "This sign-in request cannot be completed",
            format!(
                "{sp} asked for the answer to go to an address it has not registered with Latchkey."
            ),
            "Tell the application's administrator: the address it answers at (its ACS URL) must be registered with Latchkey.",
        ),
        Refusal::AcsIndexNotRegistered { sp, index } => page(
            "This sign-in request cannot be completed",
            format!(
                "{sp} asked for the answer to go to its address number {index} (AssertionConsumerServiceIndex), which it has not registered with Latchkey."
            ),
            "Tell the application's administrator: register it again from its current metadata, which lists that index.",
        ),
        Refusal::AcsBinding { sp, binding } => page(
            "This sign-in request cannot be completed",
            format!(
                "{sp} asks for the answer over the {binding} binding; Latchkey answers over HTTP-POST."
            ),
            "Tell the application's administrator: have it ask for the answer at an HTTP-POST address (its AssertionConsumerService).",
        ),
        other => refused_request(other),
    }
}

/// The page of a request refused for what it asks, or how it is signed.
fn refused_request(refusal: Refusal) -> PageError {
    let page = |title, message: String, hint| PageError {
        status: StatusCode::BAD_REQUEST,
        title,
        message,
        hint: Some(hint),
        action: None,
    };
    match refusal {
        Refusal::AcsIndexAndUrl { sp } => page(
            "This sign-in request cannot be read",
            format!(
                "{sp} named where the answer goes twice, by number and by address: a request names one (SAML Core §3.4.1)."
            ),
            "Tell the application's administrator about this page: its sign-in requests are malformed.",
        ),
        Refusal::RelayStateTooLong { sp } => page(
            "The address to return to is too long",
            format!(
                "{sp} asked to bring you back to a page whose address (RelayState) is longer than Latchkey keeps ({} bytes).",
                latchkey_saml::MAX_RELAY_STATE
            ),
            "Go back to the application and open its start page rather than a deep link, or tell its administrator about this page.",
        ),
        Refusal::Sha1 { sp } => page(
            "This sign-in request is signed with an outdated algorithm",
            format!(
                "{sp} signed its request with SHA-1, which Latchkey does not accept: such signatures can be forged."
            ),
            "Tell the application's administrator: sign requests with RSA-SHA256. If it cannot, Latchkey's operator can allow SHA-1 for it (saml-sp update --allow-sha1-signatures true).",
        ),
        other => refused_sign_on(other),
    }
}

/// The page of a sign-on or logout that was readable but cannot go ahead: spent, expired,
/// not for this person, or not set up.
fn refused_sign_on(refusal: Refusal) -> PageError {
    let page = |title, message: &str, hint| PageError {
        status: StatusCode::BAD_REQUEST,
        title,
        message: message.to_owned(),
        hint: Some(hint),
        action: None,
    };
    const AGAIN: &str = "Go back to the application and sign in again.";
    match refusal {
        Refusal::StartsAtApplication { sp } => PageError {
            status: StatusCode::FORBIDDEN,
            title: "Start signing in at the application",
            message: format!(
                "{sp} does not take sign-ins started from Latchkey: open it, and it sends you here."
            ),
            hint: None,
            action: Some((urls::DASHBOARD, "Go to your account")),
        },
        Refusal::Replay => page(
            "This sign-in request was already used",
            "A sign-in request works once. This one has been received before.",
            AGAIN,
        ),
        Refusal::Expired => page(
            "This sign-in request has expired",
            "It was completed already, or it waited too long.",
            AGAIN,
        ),
        Refusal::AlreadyCompleted => page(
            "This sign-in request was already completed",
            "It was answered in another tab or window.",
            "Go back to the application: you may already be signed in.",
        ),
        Refusal::NotMember { sp, email } => PageError {
            status: StatusCode::FORBIDDEN,
            title: "You cannot sign in to this application",
            message: format!(
                "{sp} is for the members of one team, and {email} is not one of them."
            ),
            hint: Some(
                "Ask the team's administrator for a join link, or sign out and sign in with another address.",
            ),
            action: Some((urls::DASHBOARD, "Go to your account")),
        },
        Refusal::NoLogoutUrl { sp } => page(
            "This sign-out request cannot be completed",
            &format!("{sp} has no logout URL registered with Latchkey."),
            "Tell the application's administrator: its logout URL must be registered with Latchkey.",
        ),
        Refusal::LogoutReplay => page(
            "This sign-out request was already used",
            "A sign-out request works once. This one has been received before.",
            "Go back to the application and sign out again.",
        ),
        Refusal::SignOutOver => PageError {
            status: StatusCode::BAD_REQUEST,
            title: "This sign-out is over",
            message:
                "Signing out of your applications finished or expired, or went on in another tab."
                    .to_owned(),
            hint: Some(
                "You are signed out of Latchkey. To be sure you are signed out of an application, open it and sign out there.",
            ),
            action: Some((urls::LOGIN, "Sign in again")),
        },
        Refusal::Failed(error) => PageError::failed(error),
        Refusal::Database(error) => PageError::internal(error),
        // The request's own refusals are `refusal`'s, which never hands them here.
        other => PageError::failed(other),
    }
}

#[derive(Serialize)]
struct PostView<'a> {
    title: &'a str,
    message: &'a str,
    button: &'a str,
    action: &'a str,
    fields: &'a [(String, String)],
    /// Posted by the page's script at once.
    auto: bool,
}

/// The page that posts a form to the SP: at once with the one script the page allows, or
/// with its button without JavaScript; or, with `explained` (its message and button), only
/// when the person presses the button.
fn post_page(state: &AppState, form: &PostBack, explained: Option<(&str, &str)>) -> PageResult {
    let (message, button) = explained.unwrap_or((
        "Latchkey is sending you back to the application.",
        "Continue",
    ));
    let view = PostView {
        title: &form.title,
        message,
        button,
        action: &form.action,
        fields: &form.fields,
        auto: explained.is_none(),
    };
    let page = state
        .pages
        .render("saml_post.html", &view)
        .map_err(PageError::internal)?;
    let policy = format!(
        "default-src 'none'; style-src 'self'; img-src 'self'; script-src '{}'; frame-ancestors 'none'; base-uri 'none'",
        script_hash()
    );
    let policy = HeaderValue::from_str(&policy).map_err(PageError::failed)?;
    let headers = [
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (header::CONTENT_SECURITY_POLICY, policy),
    ];
    Ok((headers, axum::response::Html(page)).into_response())
}

/// `sha256-…` of [`AUTO_POST`], as CSP names an inline script.
fn script_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| {
        use base64::Engine;
        use sha2::Digest;
        let digest = sha2::Sha256::digest(AUTO_POST.as_bytes());
        format!(
            "sha256-{}",
            base64::engine::general_purpose::STANDARD.encode(digest)
        )
    })
}

//! The page of a single logout across SAML applications (`/logout/status`): which of the
//! applications the person signed in to through Latchkey confirmed signing them out, which may
//! still be signed in and why, and a way on when one does not answer. It is found by the
//! chain's id in a cookie of this browser alone, kept as long as the chain or until the page
//! showed it settled; while the cookie is there, the sign-in page points here (a person whose
//! browser was left at an application that never answered comes back to Latchkey there).
//! Without one, this is the sign-in page.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use axum_extra::extract::CookieJar;
use latchkey_core::urls;
use latchkey_saml::{Refusal, SignOutStatus};
use serde::Serialize;

use crate::state::AppState;
use crate::web::cookies::Jar;
use crate::web::csrf;
use crate::web::error::PageError;
use crate::web::extract::CsrfForm;
use crate::web::page::{PageResult, html};

use super::account::NoFields;

#[derive(Serialize)]
struct SignedOutView<'a> {
    signed_out: &'a [String],
    may_be_signed_in: Vec<(&'a str, &'static str)>,
    waiting_on: Option<&'a str>,
    not_yet: &'a [String],
    /// The button that goes on, if there is somewhere to go.
    go_on: Option<&'static str>,
    csrf: &'a str,
}

/// The chain this browser's cookie names.
fn chain_of(state: &AppState, jar: &CookieJar) -> Option<String> {
    jar.get(state.cookies.name(Jar::SignOut))
        .map(|c| c.value().to_owned())
        .filter(|id| !id.is_empty() && id.len() <= 64)
}

/// `GET /logout/status`.
pub(super) async fn page(State(state): State<AppState>, jar: CookieJar) -> PageResult {
    let Some(id) = chain_of(&state, &jar) else {
        return Ok(Redirect::to(urls::LOGIN).into_response());
    };
    let status = state.saml.sign_out_status(&id, state.now()).await;
    let Some(status) = status.map_err(PageError::failed)? else {
        let jar = jar.add(state.cookies.removal(Jar::SignOut));
        return Ok((jar, Redirect::to(urls::LOGIN)).into_response());
    };
    let (jar, csrf) = csrf::token(jar, state.cookies);
    let view = view(&status, &csrf);
    // Shown once it is settled: the sign-in page stops pointing here.
    let jar = match status.settled() {
        true => jar.add(state.cookies.removal(Jar::SignOut)),
        false => jar,
    };
    Ok((jar, html(&state, StatusCode::OK, "signed_out.html", &view)?).into_response())
}

fn view<'a>(status: &'a SignOutStatus, csrf: &'a str) -> SignedOutView<'a> {
    let go_on = match (&status.waiting_on, status.returns_to_application) {
        (Some(_), _) => Some("Go on without it"),
        (None, true) => Some("Return to the application"),
        (None, false) => None,
    };
    SignedOutView {
        signed_out: &status.signed_out,
        may_be_signed_in: status
            .may_be_signed_in
            .iter()
            .map(|(name, why)| (name.as_str(), why.reason()))
            .collect(),
        waiting_on: status.waiting_on.as_deref(),
        not_yet: &status.not_yet,
        go_on,
        csrf,
    }
}

/// `POST /logout/status`: goes on without the application awaited (noted as not answering),
/// or, once every application had its turn, to the one that started the logout.
pub(super) async fn go_on(
    State(state): State<AppState>,
    jar: CookieJar,
    CsrfForm(NoFields {}): CsrfForm<NoFields>,
) -> PageResult {
    let Some(id) = chain_of(&state, &jar) else {
        return Ok(Redirect::to(urls::LOGIN).into_response());
    };
    match state.saml.go_on(&id, state.now()).await {
        Ok(next) => crate::web::saml::sign_out_step(&state, jar, None, next),
        Err(Refusal::SignOutOver) => Ok(Redirect::to(urls::SIGN_OUT_STATUS).into_response()),
        Err(error) => Err(PageError::failed(error)),
    }
}

//! Single logout at `/saml/slo` (and a team's): an SP's `LogoutRequest`, or the
//! `LogoutResponse` of an SP a logout chain asked, and the browser's next step in a chain.

use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, RawQuery, State};
use axum::response::{IntoResponse, Redirect};
use axum_extra::extract::CookieJar;
use latchkey_core::urls;
use latchkey_saml::{Identity, Inbound, LOGOUT_CHAIN_TTL, Refusal, SignOutNext};
use serde::Deserialize;

use crate::state::AppState;
use crate::web::extract::current_user;
use crate::web::page::PageResult;

use super::pages::{refusal, respond};
use super::team_identity;

/// The form of `/saml/slo`: an SP's `LogoutRequest`, or its `LogoutResponse` to one that
/// Latchkey sent in a single logout.
#[derive(Deserialize)]
pub(super) struct LogoutForm {
    #[serde(rename = "SAMLRequest")]
    saml_request: Option<String>,
    #[serde(rename = "SAMLResponse")]
    saml_response: Option<String>,
    #[serde(rename = "RelayState")]
    relay_state: Option<String>,
}

/// `GET|POST /saml/slo`: an SP-initiated `LogoutRequest`, answered over the binding it used,
/// or an SP's `LogoutResponse` in a single logout Latchkey leads.
pub(super) async fn slo_redirect(
    State(state): State<AppState>,
    jar: CookieJar,
    RawQuery(query): RawQuery,
) -> PageResult {
    slo_by_redirect(&state, jar, &Identity::Shared, query).await
}

pub(super) async fn slo_post(
    State(state): State<AppState>,
    jar: CookieJar,
    form: Result<Form<LogoutForm>, FormRejection>,
) -> PageResult {
    slo_by_post(&state, jar, &Identity::Shared, form).await
}

/// `GET|POST /saml/teams/{team}/slo`: the same, at a team's identity provider.
pub(super) async fn team_slo_redirect(
    State(state): State<AppState>,
    Path(team): Path<String>,
    jar: CookieJar,
    RawQuery(query): RawQuery,
) -> PageResult {
    slo_by_redirect(&state, jar, &team_identity(&team), query).await
}

pub(super) async fn team_slo_post(
    State(state): State<AppState>,
    Path(team): Path<String>,
    jar: CookieJar,
    form: Result<Form<LogoutForm>, FormRejection>,
) -> PageResult {
    slo_by_post(&state, jar, &team_identity(&team), form).await
}

/// A `LogoutRequest`, or the `LogoutResponse` of an SP a logout chain asked, over
/// HTTP-Redirect.
async fn slo_by_redirect(
    state: &AppState,
    jar: CookieJar,
    identity: &Identity,
    query: Option<String>,
) -> PageResult {
    let query = query.unwrap_or_default();
    let answers = url::form_urlencoded::parse(query.as_bytes()).any(|(k, _)| k == "SAMLResponse");
    let inbound = Inbound::Redirect(query);
    match answers {
        true => logout_answered(state, jar, inbound).await,
        false => logout(state, jar, identity, inbound, false).await,
    }
}

/// The same over HTTP-POST.
async fn slo_by_post(
    state: &AppState,
    jar: CookieJar,
    identity: &Identity,
    form: Result<Form<LogoutForm>, FormRejection>,
) -> PageResult {
    let Form(form) = form.map_err(|e| refusal(Refusal::Unreadable(e.to_string())))?;
    let relay_state = form.relay_state;
    match form.saml_response {
        Some(message) => {
            let inbound = Inbound::Post {
                message,
                relay_state,
            };
            logout_answered(state, jar, inbound).await
        }
        None => {
            let inbound = Inbound::Post {
                message: form.saml_request.unwrap_or_default(),
                relay_state,
            };
            logout(state, jar, identity, inbound, true).await
        }
    }
}

/// The request is checked before the browser's session is read; it is kept against replay
/// only if it names a session.
async fn logout(
    state: &AppState,
    jar: CookieJar,
    identity: &Identity,
    inbound: Inbound,
    post: bool,
) -> PageResult {
    let now = state.now();
    let request = state.saml.check_logout(identity, inbound, now).await;
    let request = request.map_err(refusal)?;
    let browser = current_user(state, &jar).await?.map(|(_, user)| user);
    let outcome = state
        .saml
        .logout(request, browser.as_ref(), post, now)
        .await;
    let outcome = outcome.map_err(refusal)?;
    let jar = match outcome.end_this_browser {
        true => jar.add(state.cookies.removal(crate::web::cookies::Jar::Session)),
        false => jar,
    };
    sign_out_step(state, jar, outcome.chain, outcome.next)
}

/// An SP's answer in a single logout: the chain notes it and goes on.
async fn logout_answered(state: &AppState, jar: CookieJar, inbound: Inbound) -> PageResult {
    let chain = state.saml.logout_answered(inbound, state.now()).await;
    let chain = chain.map_err(refusal)?;
    sign_out_step(state, jar, Some(chain.id), chain.next)
}

/// The browser's next step in a single logout: to the next SP (or the one that started it),
/// or to the page that says how it went. The chain's id is kept in a cookie while the chain
/// lasts, so that its page can be found again from Latchkey.
pub(in crate::web) fn sign_out_step(
    state: &AppState,
    jar: CookieJar,
    chain: Option<String>,
    next: SignOutNext,
) -> PageResult {
    let jar = match chain {
        Some(id) => {
            let lasts = LOGOUT_CHAIN_TTL.to_std().unwrap_or_default();
            jar.add(
                state
                    .cookies
                    .make_lasting(crate::web::cookies::Jar::SignOut, id, lasts),
            )
        }
        None => jar,
    };
    match next {
        SignOutNext::Go(reply) => respond(state, jar, reply),
        SignOutNext::Over(reply) => {
            let jar = jar.add(state.cookies.removal(crate::web::cookies::Jar::SignOut));
            respond(state, jar, reply)
        }
        SignOutNext::Done(_) => Ok((jar, Redirect::to(urls::SIGN_OUT_STATUS)).into_response()),
    }
}

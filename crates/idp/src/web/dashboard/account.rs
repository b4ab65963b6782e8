//! The signed-in landing page, and signing out here or everywhere.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use latchkey_teams::{Actor, Role};
use serde::{Deserialize, Serialize};

use super::overview::Overview;
use crate::pages::DashboardView;
use crate::state::AppState;
use crate::web::console::{self, Moment, Section};
use crate::web::cookies::Jar;
use crate::web::csrf;
use crate::web::error::PageError;
use crate::web::extract::{CsrfForm, CurrentUser, current_user, revoke_session};
use crate::web::framing;
use latchkey_core::urls;

use crate::web::page::PageResult;

#[derive(Deserialize)]
pub(super) struct DashboardQuery {
    done: Option<String>,
}

/// A form with nothing but its CSRF token.
#[derive(Deserialize)]
pub(crate) struct NoFields {}

/// What `/dashboard` shows beside the account: the person's teams, and for an administrator
/// of the team the session works in, its overview.
#[derive(Serialize)]
struct DashboardPage<'a> {
    #[serde(flatten)]
    account: DashboardView<'a>,
    teams: Vec<(String, &'static str)>,
    overview: Option<Overview>,
}

/// `GET /dashboard`: the signed-in landing page.
pub(super) async fn dashboard(
    State(state): State<AppState>,
    CurrentUser { user, .. }: CurrentUser,
    jar: CookieJar,
    Query(q): Query<DashboardQuery>,
) -> PageResult {
    let membership = match &user.team_id {
        Some(team) => state.teams.open(team, &user.user_id).await.ok(),
        None => None,
    };
    let overview = match &membership {
        Some(m) if m.role == Role::Administrator => {
            let me = Actor::person(&user.user_id, &user.email, "", "");
            Some(Overview::of(&state, &m.team.id, &me).await?)
        }
        _ => None,
    };
    let teams = state
        .teams
        .memberships(&user.user_id)
        .await
        .map_err(PageError::internal)?
        .into_iter()
        .filter(|m| user.acts_for(&m.team.id))
        .map(|m| (m.team.name, m.role.as_str()))
        .collect();
    let (jar, csrf) = csrf::token(jar, state.cookies);
    let account = DashboardView {
        email: &user.shown_email,
        name: user.name.as_deref(),
        // A connection's id says nothing to the person: the page names the team's own sign-in.
        opened_by: user.opened_by.as_deref().map(|by| {
            if by.starts_with("connection:") {
                "connection"
            } else {
                by
            }
        }),
        signed_in_at: Moment::new(user.signed_in_at, state.now()),
        csrf: &csrf,
        team: membership.map(|m| (m.team.name, m.role.as_str())),
        left_team: q.done.as_deref() == Some("left"),
        may_change_account: user.may_change_account(),
    };
    let view = DashboardPage {
        account,
        teams,
        overview,
    };
    let page = console::page(
        &state,
        &user,
        Section::Account,
        StatusCode::OK,
        "dashboard.html",
        &view,
    )
    .await?;
    Ok((jar, page).into_response())
}

/// `POST /logout`: ends this session, then signs it out of the SAML applications it signed
/// in to (one after another, in this browser), ending on the page that says how that went.
pub(super) async fn logout(
    State(state): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
    CsrfForm(NoFields {}): CsrfForm<NoFields>,
) -> PageResult {
    let Some((secret, user)) = current_user(&state, &jar).await? else {
        return Ok(signed_out(&state, jar, &headers));
    };
    // Latchkey's session ends first: whatever an application answers, or fails to, the
    // person is signed out here.
    revoke_session(&state, &secret).await?;
    let chain = match framing::framed(&headers) {
        // A framed page cannot take the person through other sites.
        true => None,
        false => match state
            .saml
            .sign_out_of_applications(&user.sid, state.now())
            .await
        {
            Ok(chain) => chain,
            Err(error) => {
                tracing::warn!(%error, "could not start signing out of SAML applications");
                None
            }
        },
    };
    let Some(chain) = chain else {
        return Ok(signed_out(&state, jar, &headers));
    };
    let jar = jar.add(state.cookies.removal(Jar::Session));
    crate::web::saml::sign_out_step(&state, jar, Some(chain.id), chain.next)
}

/// `POST /logout/everywhere`: ends every session of the signed-in person, unless this session
/// speaks for one team only (`SessionUser::may_change_account`).
pub(super) async fn logout_everywhere(
    State(state): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
    CsrfForm(NoFields {}): CsrfForm<NoFields>,
) -> PageResult {
    if let Some((_, user)) = current_user(&state, &jar).await? {
        let ended = state
            .login
            .sessions()
            .end_everywhere(&user, state.now())
            .await
            .map_err(super::profile::account_refused)?;
        // And out of every application: their refresh tokens are revoked too.
        let grants = state
            .provider
            .revoke_grants_of(&user.user_id, "signed_out_everywhere", state.now())
            .await
            .map_err(PageError::internal)?;
        tracing::info!(user = %user.user_id, ended, grants, "signed out everywhere");
    }
    Ok(signed_out(&state, jar, &headers))
}

/// Forgets the session cookie (inside a frame, the partitioned one a framed sign-on set) and
/// shows the sign-in page.
fn signed_out(state: &AppState, jar: CookieJar, headers: &HeaderMap) -> Response {
    let removal = match framing::framed(headers) {
        true => state.cookies.framed_removal(Jar::Session),
        false => state.cookies.removal(Jar::Session),
    };
    (jar.add(removal), Redirect::to(urls::LOGIN)).into_response()
}

//! The team page's forms: rename, join links, roles, removal, and switching teams.

use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use chrono::TimeDelta;
use latchkey_core::{JoinLinkId, TeamId, UserId};
use latchkey_teams::{NewJoinLink, Role, TeamError, TeamName};
use serde::Deserialize;

use crate::state::AppState;
use crate::web::error::PageError;
use crate::web::extract::{SignedInForm, works_in};
use latchkey_core::secret::SecretToken;
use latchkey_core::urls;
use latchkey_login::Requester;

use super::outcome::{back, bad_request, team_error};
use super::page::{SettingsQuery, render};
use crate::web::console::Section;

/// `POST …/rename`.
#[derive(Deserialize)]
pub(super) struct RenameForm {
    #[serde(default)]
    team: TeamId,
    #[serde(default)]
    name: String,
}

/// `POST …/join-links`.
#[derive(Deserialize)]
pub(super) struct NewLinkForm {
    #[serde(default)]
    team: TeamId,
    #[serde(default)]
    ttl_hours: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    max_uses: String,
}

/// `POST …/join-links/revoke`.
#[derive(Deserialize)]
pub(super) struct RevokeLinkForm {
    #[serde(default)]
    team: TeamId,
    #[serde(default)]
    link: JoinLinkId,
}

/// `POST …/members/role`.
#[derive(Deserialize)]
pub(super) struct RoleForm {
    #[serde(default)]
    team: TeamId,
    #[serde(default)]
    user: UserId,
    #[serde(default)]
    role: String,
}

/// `POST …/members/remove`.
#[derive(Deserialize)]
pub(super) struct MemberForm {
    #[serde(default)]
    team: TeamId,
    #[serde(default)]
    user: UserId,
}

/// `POST /dashboard/team`.
#[derive(Deserialize)]
pub(super) struct SwitchForm {
    #[serde(default)]
    team: TeamId,
}

/// `POST /dashboard/settings/team/rename`.
pub(super) async fn rename(
    State(state): State<AppState>,
    from: Requester,
    SignedInForm { user, form }: SignedInForm<RenameForm>,
) -> Result<Response, PageError> {
    works_in(&user.user, &form.team)?;
    let name = TeamName::parse(&form.name).map_err(team_error)?;
    state
        .teams
        .rename(&form.team, &name, &user.actor(&from), state.now())
        .await
        .map_err(team_error)?;
    Ok(back(&form.team, "renamed"))
}

/// `POST /dashboard/settings/team/join-links`: creates a link and shows it, once.
pub(super) async fn create_join_link(
    State(state): State<AppState>,
    from: Requester,
    jar: CookieJar,
    SignedInForm { user, form }: SignedInForm<NewLinkForm>,
) -> Result<Response, PageError> {
    works_in(&user.user, &form.team)?;
    let token = SecretToken::generate();
    let link = NewJoinLink {
        team_id: form.team.clone(),
        role: role_or_member(&form.role)?,
        ttl: TimeDelta::try_hours(hours(&form.ttl_hours)?).unwrap_or(TimeDelta::MAX),
        max_uses: max_uses(&form.max_uses)?,
        token_hash: token.hash(),
    };
    state
        .teams
        .create_join_link(link, &user.actor(&from), state.now())
        .await
        .map_err(team_error)?;
    let url = state.issuer.endpoint(&urls::join(token.expose()));
    let query = SettingsQuery::for_team(form.team);
    render(&state, jar, &user.user, &query, Some(&url), Section::Team).await
}

fn hours(raw: &str) -> Result<i64, PageError> {
    raw.trim()
        .parse()
        .map_err(|_| bad_request("The lifetime must be a whole number of hours.".to_owned()))
}

fn max_uses(raw: &str) -> Result<Option<i32>, PageError> {
    match raw.trim() {
        "" => Ok(None),
        raw => raw
            .parse()
            .map(Some)
            .map_err(|_| team_error(TeamError::MaxUses)),
    }
}

fn role_or_member(raw: &str) -> Result<Role, PageError> {
    Role::parse(if raw.is_empty() { "member" } else { raw }).map_err(|e| bad_request(e.to_string()))
}

/// `POST /dashboard/settings/team/join-links/revoke`.
pub(super) async fn revoke_join_link(
    State(state): State<AppState>,
    from: Requester,
    SignedInForm { user, form }: SignedInForm<RevokeLinkForm>,
) -> Result<Response, PageError> {
    works_in(&user.user, &form.team)?;
    state
        .teams
        .revoke_join_link(&form.team, &form.link, &user.actor(&from), state.now())
        .await
        .map_err(team_error)?;
    Ok(back(&form.team, "revoked"))
}

/// `POST /dashboard/settings/team/members/role`.
pub(super) async fn change_role(
    State(state): State<AppState>,
    from: Requester,
    SignedInForm { user, form }: SignedInForm<RoleForm>,
) -> Result<Response, PageError> {
    works_in(&user.user, &form.team)?;
    let role = Role::parse(&form.role).map_err(|e| bad_request(e.to_string()))?;
    state
        .teams
        .change_role(
            &form.team,
            &form.user,
            role,
            &user.actor(&from),
            state.now(),
        )
        .await
        .map_err(team_error)?;
    Ok(back(&form.team, "role"))
}

/// `POST /dashboard/settings/team/members/remove`: removes a member (or, on oneself, leaves),
/// revoking their grants for the team in the same transaction.
pub(super) async fn remove_member(
    State(state): State<AppState>,
    from: Requester,
    SignedInForm { user, form }: SignedInForm<MemberForm>,
) -> Result<Response, PageError> {
    works_in(&user.user, &form.team)?;
    state
        .provider
        .remove_member(
            &state.teams,
            &form.team,
            &form.user,
            &user.actor(&from),
            state.now(),
        )
        .await
        .map_err(team_error)?;
    if form.user == user.user.user_id {
        return Ok(Redirect::to(&format!("{}?done=left", urls::DASHBOARD)).into_response());
    }
    Ok(back(&form.team, "removed"))
}

/// `POST /dashboard/team`: works in another of the person's teams.
pub(super) async fn switch(
    State(state): State<AppState>,
    SignedInForm { user, form }: SignedInForm<SwitchForm>,
) -> Result<Redirect, PageError> {
    works_in(&user.user, &form.team)?;
    state
        .teams
        .open(&form.team, &user.user.user_id)
        .await
        .map_err(team_error)?;
    state
        .login
        .sessions()
        .switch_team(&user.session, &form.team)
        .await
        .map_err(PageError::internal)?;
    Ok(Redirect::to(urls::DASHBOARD))
}

//! `/dashboard/settings/team`: members and roles, join links and the audit log. Every action
//! is a CSRF-protected form; the teams crate checks the actor's role, so a member gets 403 and
//! someone outside the team 404 whatever they post.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use chrono::{SecondsFormat, TimeDelta, Utc};
use latchkey_teams::{Actor, AuditFilter, NewJoinLink, Role, TeamError, TeamName};
use serde::{Deserialize, Serialize};

use super::csrf;
use super::error::PageError;
use super::extract::{CurrentUser, SignedInForm};
use super::login::html;
use super::paths;
use crate::login::{Requester, SessionUser};
use crate::secret::SecretToken;
use crate::state::AppState;

/// Events shown per page of the audit log.
const AUDIT_PAGE: u64 = 50;

#[derive(Deserialize, Default)]
pub(super) struct SettingsQuery {
    team: Option<String>,
    action: Option<String>,
    person: Option<String>,
    before: Option<String>,
    done: Option<String>,
}

/// `POST …/rename`.
#[derive(Deserialize)]
pub(super) struct RenameForm {
    #[serde(default)]
    team: String,
    #[serde(default)]
    name: String,
}

/// `POST …/join-links`.
#[derive(Deserialize)]
pub(super) struct NewLinkForm {
    #[serde(default)]
    team: String,
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
    team: String,
    #[serde(default)]
    link: String,
}

/// `POST …/members/role`.
#[derive(Deserialize)]
pub(super) struct RoleForm {
    #[serde(default)]
    team: String,
    #[serde(default)]
    user: String,
    #[serde(default)]
    role: String,
}

/// `POST …/members/remove`.
#[derive(Deserialize)]
pub(super) struct MemberForm {
    #[serde(default)]
    team: String,
    #[serde(default)]
    user: String,
}

/// `POST /dashboard/team`.
#[derive(Deserialize)]
pub(super) struct SwitchForm {
    #[serde(default)]
    team: String,
}

#[derive(Serialize)]
struct TeamChoice {
    id: String,
    name: String,
    role: &'static str,
    current: bool,
}

#[derive(Serialize)]
struct MemberRow {
    user_id: String,
    email: String,
    role: &'static str,
    joined_at: String,
    via: String,
    you: bool,
}

#[derive(Serialize)]
struct LinkRow {
    id: String,
    role: &'static str,
    created_by: String,
    created_at: String,
    expires_at: String,
    uses: String,
    state: &'static str,
    active: bool,
}

#[derive(Serialize)]
struct EventRow {
    at: String,
    action: String,
    actor: String,
    subject: String,
    details: String,
    ip: String,
}

#[derive(Serialize)]
struct SettingsView<'a> {
    csrf: &'a str,
    team_id: &'a str,
    team_name: &'a str,
    role: &'static str,
    is_admin: bool,
    teams: Vec<TeamChoice>,
    members: Vec<MemberRow>,
    links: Vec<LinkRow>,
    new_link: Option<&'a str>,
    max_ttl_hours: i64,
    events: Vec<EventRow>,
    filter_action: &'a str,
    filter_person: &'a str,
    next_page: Option<String>,
    notice: Option<&'static str>,
}

fn time(at: chrono::DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// How a refused team action reads.
fn team_error(error: TeamError) -> PageError {
    let (status, title) = match &error {
        TeamError::NotFound => (StatusCode::NOT_FOUND, "Team not found"),
        TeamError::Forbidden => (StatusCode::FORBIDDEN, "Only administrators can do this"),
        TeamError::Database(_) => return PageError::internal(error),
        TeamError::LastAdministrator => (StatusCode::CONFLICT, "The team needs an administrator"),
        _ => return bad_request(error.to_string()),
    };
    PageError {
        status,
        title,
        message: error.to_string(),
        hint: None,
        action: Some((paths::TEAM_SETTINGS, "Back to the team")),
    }
}

/// A form that asked for something impossible: says what, and leads back.
fn bad_request(message: String) -> PageError {
    PageError {
        status: StatusCode::BAD_REQUEST,
        title: "That could not be done",
        message,
        hint: None,
        action: Some((paths::TEAM_SETTINGS, "Back to the team")),
    }
}

/// `GET /dashboard/settings/team`: the current team, or `?team=` another of the person's.
pub(super) async fn settings_page(
    State(state): State<AppState>,
    CurrentUser { user, .. }: CurrentUser,
    jar: CookieJar,
    Query(query): Query<SettingsQuery>,
) -> Result<Response, PageError> {
    render(&state, jar, &user, &query, None).await
}

async fn render(
    state: &AppState,
    jar: CookieJar,
    user: &SessionUser,
    query: &SettingsQuery,
    new_link: Option<&str>,
) -> Result<Response, PageError> {
    let now = Utc::now();
    let memberships = state
        .teams
        .memberships(&user.user_id)
        .await
        .map_err(team_error)?;
    let team_id = query
        .team
        .clone()
        .or_else(|| user.team_id.clone())
        .or_else(|| memberships.first().map(|m| m.team.id.clone()))
        .ok_or_else(|| team_error(TeamError::NotFound))?;
    let membership = state
        .teams
        .open(&team_id, &user.user_id)
        .await
        .map_err(team_error)?;
    let me = Actor::person(&user.user_id, &user.email, "", "");
    let is_admin = membership.role == Role::Administrator;
    let members = state
        .teams
        .members(&team_id, &me)
        .await
        .map_err(team_error)?
        .into_iter()
        .map(|m| MemberRow {
            you: m.user_id == user.user_id,
            via: match (&m.issuer, &m.join_link_id) {
                (Some(issuer), _) => format!("integration {issuer}"),
                (None, Some(_)) => "join link".to_owned(),
                (None, None) => "founded the team".to_owned(),
            },
            user_id: m.user_id,
            email: m.email,
            role: m.role.as_str(),
            joined_at: time(m.joined_at),
        })
        .collect();
    let (links, events, next_page) = if is_admin {
        let links = state
            .teams
            .join_links(&team_id, &me, now)
            .await
            .map_err(team_error)?
            .into_iter()
            .map(|l| LinkRow {
                active: l.unusable().is_none(),
                state: match l.state {
                    latchkey_teams::JoinLinkState::Active => "active",
                    latchkey_teams::JoinLinkState::Expired => "expired",
                    latchkey_teams::JoinLinkState::Revoked => "revoked",
                    latchkey_teams::JoinLinkState::UsedUp => "used up",
                },
                uses: match l.max_uses {
                    Some(max) => format!("{} of {max}", l.uses),
                    None => l.uses.to_string(),
                },
                id: l.id,
                role: l.role.as_str(),
                created_by: l.created_by,
                created_at: time(l.created_at),
                expires_at: time(l.expires_at),
            })
            .collect();
        let filter = AuditFilter {
            action: query.action.clone(),
            person: query.person.clone(),
            before: query.before.clone(),
            limit: AUDIT_PAGE,
        };
        let found = state
            .teams
            .audit_log(&team_id, &me, &filter)
            .await
            .map_err(team_error)?;
        let next_page = (found.len() as u64 == AUDIT_PAGE)
            .then(|| found.last().map(|e| e.id.clone()))
            .flatten()
            .map(|before| {
                let mut query = url::form_urlencoded::Serializer::new(String::new());
                query
                    .append_pair("team", &team_id)
                    .append_pair("before", &before);
                if let Some(action) = &filter.action {
                    query.append_pair("action", action);
                }
                if let Some(person) = &filter.person {
                    query.append_pair("person", person);
                }
                format!("{}?{}", paths::TEAM_SETTINGS, query.finish())
            });
        let events = found
            .into_iter()
            .map(|e| EventRow {
                at: time(e.at),
                action: e.action,
                actor: e.actor,
                subject: e.subject,
                details: e.details.to_string(),
                ip: e.ip,
            })
            .collect();
        (links, events, next_page)
    } else {
        (Vec::new(), Vec::new(), None)
    };
    let (jar, csrf) = csrf::token(jar, state.cookies);
    let view = SettingsView {
        csrf: &csrf,
        team_id: &team_id,
        team_name: &membership.team.name,
        role: membership.role.as_str(),
        is_admin,
        teams: memberships
            .iter()
            .map(|m| TeamChoice {
                id: m.team.id.clone(),
                name: m.team.name.clone(),
                role: m.role.as_str(),
                current: m.team.id == team_id,
            })
            .collect(),
        members,
        links,
        new_link,
        max_ttl_hours: state.teams.join_link_max_ttl().num_hours().max(1),
        events,
        filter_action: query.action.as_deref().unwrap_or(""),
        filter_person: query.person.as_deref().unwrap_or(""),
        next_page,
        notice: query.done.as_deref().and_then(notice),
    };
    Ok((jar, html(state, StatusCode::OK, "team.html", &view)?).into_response())
}

/// The sentence shown after an action, by its name in the redirect.
fn notice(done: &str) -> Option<&'static str> {
    Some(match done {
        "renamed" => "The team was renamed.",
        "revoked" => "The join link was revoked. It no longer works.",
        "role" => "The role was changed.",
        "removed" => "The member was removed. Their access to the team's applications has ended.",
        "left" => "You left the team.",
        _ => return None,
    })
}

fn back(team: &str, done: &str) -> Response {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("team", team)
        .append_pair("done", done)
        .finish();
    Redirect::to(&format!("{}?{query}", paths::TEAM_SETTINGS)).into_response()
}

/// `POST /dashboard/settings/team/rename`.
pub(super) async fn rename(
    State(state): State<AppState>,
    from: Requester,
    SignedInForm { user, form }: SignedInForm<RenameForm>,
) -> Result<Response, PageError> {
    let name = TeamName::parse(&form.name).map_err(team_error)?;
    state
        .teams
        .rename(&form.team, &name, &user.actor(&from), Utc::now())
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
        .create_join_link(link, &user.actor(&from), Utc::now())
        .await
        .map_err(team_error)?;
    let url = state.issuer.endpoint(&paths::join(token.expose()));
    let query = SettingsQuery {
        team: Some(form.team),
        ..SettingsQuery::default()
    };
    render(&state, jar, &user.user, &query, Some(&url)).await
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
    state
        .teams
        .revoke_join_link(&form.team, &form.link, &user.actor(&from), Utc::now())
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
    let role = Role::parse(&form.role).map_err(|e| bad_request(e.to_string()))?;
    state
        .teams
        .change_role(&form.team, &form.user, role, &user.actor(&from), Utc::now())
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
    end_membership(&state, &form.team, &form.user, &user.actor(&from))
        .await
        .map_err(team_error)?;
    if form.user == user.user.user_id {
        return Ok(Redirect::to(&format!("{}?done=left", paths::DASHBOARD)).into_response());
    }
    Ok(back(&form.team, "removed"))
}

/// Removes the membership and, in the same transaction, revokes what the person holds for
/// the team; this replica forgets their tokens at once, the others within a second.
async fn end_membership(
    state: &AppState,
    team_id: &str,
    user_id: &str,
    actor: &Actor,
) -> Result<(), TeamError> {
    let now = Utc::now();
    let provider = &state.provider;
    let mut ended = None;
    state
        .teams
        .remove_member(team_id, user_id, actor, now, async |txn| {
            ended = Some(provider.end_membership(txn, team_id, user_id, now).await?);
            Ok(())
        })
        .await?;
    if let Some(ended) = ended {
        provider.forget_membership(&ended, now);
    }
    Ok(())
}

/// `POST /dashboard/team`: works in another of the person's teams.
pub(super) async fn switch(
    State(state): State<AppState>,
    SignedInForm { user, form }: SignedInForm<SwitchForm>,
) -> Result<Redirect, PageError> {
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
    Ok(Redirect::to(paths::DASHBOARD))
}

//! The team page: the person's teams, the members, and for administrators the join links and
//! the audit log.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use latchkey_core::{JoinLinkId, TeamId, UserId};
use latchkey_teams::{Actor, AuditFilter, ReadableEvent, Role, TeamError};
use serde::{Deserialize, Serialize};

use crate::state::AppState;
use crate::web::console::{self, Moment, Section};
use crate::web::csrf;
use crate::web::error::PageError;
use crate::web::extract::CurrentUser;
use crate::web::extract::works_in;
use latchkey_core::urls;
use latchkey_login::SessionUser;

use super::outcome::team_error;

/// Events shown per page of the audit log.
const AUDIT_PAGE: u64 = 50;

#[derive(Deserialize, Default)]
pub(super) struct SettingsQuery {
    team: Option<TeamId>,
    action: Option<String>,
    person: Option<String>,
    before: Option<String>,
    done: Option<String>,
}

impl SettingsQuery {
    /// The page of one team, unfiltered.
    pub(super) fn for_team(team: TeamId) -> Self {
        Self {
            team: Some(team),
            ..Self::default()
        }
    }
}

#[derive(Serialize)]
struct TeamChoice {
    id: TeamId,
    name: String,
    role: &'static str,
    current: bool,
}

#[derive(Serialize)]
struct MemberRow {
    user_id: UserId,
    email: String,
    role: &'static str,
    joined_at: Moment,
    via: String,
    you: bool,
}

#[derive(Serialize)]
struct LinkRow {
    id: JoinLinkId,
    role: &'static str,
    created_by: String,
    created_at: Moment,
    expires_at: Moment,
    uses: String,
    state: &'static str,
    active: bool,
}

#[derive(Serialize)]
struct EventRow {
    at: Moment,
    action: String,
    event: ReadableEvent,
    ip: String,
}

#[derive(Serialize)]
struct SettingsView<'a> {
    csrf: &'a str,
    team_id: &'a TeamId,
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
    /// Where the audit log's filter form goes: the page it is on.
    audit_path: &'static str,
    notice: Option<&'static str>,
}

/// `GET /dashboard/settings/team`: the current team, or `?team=` another of the person's.
pub(super) async fn settings_page(
    State(state): State<AppState>,
    CurrentUser { user, .. }: CurrentUser,
    jar: CookieJar,
    Query(query): Query<SettingsQuery>,
) -> Result<Response, PageError> {
    render(&state, jar, &user, &query, None, Section::Team).await
}

/// `GET /dashboard/settings/team/audit`: the team's audit log alone, for administrators.
pub(super) async fn audit_page(
    State(state): State<AppState>,
    CurrentUser { user, .. }: CurrentUser,
    jar: CookieJar,
    Query(query): Query<SettingsQuery>,
) -> Result<Response, PageError> {
    render(&state, jar, &user, &query, None, Section::Audit).await
}

/// The team page (`Section::Team`) or its audit log (`Section::Audit`).
pub(super) async fn render(
    state: &AppState,
    jar: CookieJar,
    user: &SessionUser,
    query: &SettingsQuery,
    new_link: Option<&str>,
    section: Section,
) -> Result<Response, PageError> {
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
    works_in(user, &team_id)?;
    let membership = state
        .teams
        .open(&team_id, &user.user_id)
        .await
        .map_err(team_error)?;
    let me = Actor::person(&user.user_id, &user.email, "", "");
    let is_admin = membership.role == Role::Administrator;
    if section == Section::Audit && !is_admin {
        return Err(team_error(TeamError::Forbidden));
    }
    let members = member_rows(state, &team_id, &me, user).await?;
    let (links, (events, next_page)) = if is_admin {
        (
            link_rows(state, &team_id, &me).await?,
            audit_rows(state, &team_id, &me, query, section).await?,
        )
    } else {
        (Vec::new(), (Vec::new(), None))
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
        audit_path: match section {
            Section::Audit => urls::TEAM_AUDIT,
            _ => urls::TEAM_SETTINGS,
        },
        notice: query.done.as_deref().and_then(notice),
    };
    let template = match section {
        Section::Audit => "audit.html",
        _ => "team.html",
    };
    let page = console::page(state, user, section, StatusCode::OK, template, &view).await?;
    Ok((jar, page).into_response())
}

/// The member table.
async fn member_rows(
    state: &AppState,
    team_id: &TeamId,
    me: &Actor,
    user: &SessionUser,
) -> Result<Vec<MemberRow>, PageError> {
    let members = state.teams.members(team_id, me).await.map_err(team_error)?;
    Ok(members
        .into_iter()
        .map(|m| MemberRow {
            you: m.user_id == user.user_id,
            via: match (&m.issuer, &m.join_link_id) {
                (Some(issuer), _) if m.unclaimed => {
                    format!("integration {issuer} (its own identity; the address is unverified)")
                }
                (Some(issuer), _) => format!("integration {issuer}"),
                (None, Some(_)) => "join link".to_owned(),
                (None, None) => "founded the team".to_owned(),
            },
            user_id: m.user_id,
            email: m.email,
            role: m.role.as_str(),
            joined_at: Moment::new(m.joined_at, state.now()),
        })
        .collect())
}

/// The join-link table, for administrators.
async fn link_rows(
    state: &AppState,
    team_id: &TeamId,
    me: &Actor,
) -> Result<Vec<LinkRow>, PageError> {
    let links = state
        .teams
        .join_links(team_id, me, state.now())
        .await
        .map_err(team_error)?;
    Ok(links
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
            created_at: Moment::new(l.created_at, state.now()),
            expires_at: Moment::new(l.expires_at, state.now()),
        })
        .collect())
}

/// One page of the audit log, for administrators, and the link to the next.
async fn audit_rows(
    state: &AppState,
    team_id: &TeamId,
    me: &Actor,
    query: &SettingsQuery,
    section: Section,
) -> Result<(Vec<EventRow>, Option<String>), PageError> {
    let filter = AuditFilter {
        action: query.action.clone(),
        person: query.person.clone(),
        before: query.before.clone(),
        limit: AUDIT_PAGE,
    };
    let found = state
        .teams
        .audit_log(team_id, me, &filter)
        .await
        .map_err(team_error)?;
    let next_page = (found.len() as u64 == AUDIT_PAGE)
        .then(|| found.last().map(|e| e.id.clone()))
        .flatten()
        .map(|before| {
            let mut next = url::form_urlencoded::Serializer::new(String::new());
            next.append_pair("team", team_id.as_str())
                .append_pair("before", &before);
            if let Some(action) = &filter.action {
                next.append_pair("action", action);
            }
            if let Some(person) = &filter.person {
                next.append_pair("person", person);
            }
            let page = match section {
                Section::Audit => urls::TEAM_AUDIT,
                _ => urls::TEAM_SETTINGS,
            };
            format!("{page}?{}", next.finish())
        });
    let events = found
        .into_iter()
        .map(|e| EventRow {
            at: Moment::new(e.at, state.now()),
            event: e.readable(),
            action: e.action,
            ip: e.ip,
        })
        .collect();
    Ok((events, next_page))
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

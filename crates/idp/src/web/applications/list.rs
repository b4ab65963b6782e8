//! `GET /dashboard/applications`: the team's OpenID applications.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum_extra::extract::CookieJar;
use latchkey_core::TeamId;
use serde::{Deserialize, Serialize};

use super::view::Row;
use super::{applications, refused, team_of};
use crate::state::AppState;
use crate::web::console::{self, Section};
use crate::web::extract::CurrentUser;
use crate::web::page::PageResult;
use latchkey_teams::Actor;

#[derive(Deserialize, Default)]
pub(super) struct ListQuery {
    team: Option<TeamId>,
    done: Option<String>,
}

#[derive(Serialize)]
struct ListView<'a> {
    team_id: &'a TeamId,
    team_name: &'a str,
    applications: Vec<Row>,
    notice: Option<&'static str>,
}

pub(super) async fn page(
    State(state): State<AppState>,
    CurrentUser { user, .. }: CurrentUser,
    jar: CookieJar,
    Query(query): Query<ListQuery>,
) -> PageResult {
    let team = team_of(&user, query.team)?;
    let me = Actor::person(&user.user_id, &user.email, "", "");
    let listed = applications(&state)
        .list(&team, &me)
        .await
        .map_err(refused)?;
    let membership = state
        .teams
        .open(&team, &user.user_id)
        .await
        .map_err(|e| refused(e.into()))?;
    let view = ListView {
        team_id: &team,
        team_name: &membership.team.name,
        applications: listed.iter().map(Row::from).collect(),
        notice: match query.done.as_deref() {
            Some("removed") => Some(
                "The application is removed: nobody signs in to it here any more, and its tokens stopped working.",
            ),
            _ => None,
        },
    };
    Ok((
        jar,
        console::page(
            &state,
            &user,
            Section::Applications,
            StatusCode::OK,
            "applications.html",
            &view,
        )
        .await?,
    )
        .into_response())
}

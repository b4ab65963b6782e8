//! `/dashboard/settings/team`: members and roles, join links and the audit log (`page`), and
//! the forms that change them (`actions`). Every action is a CSRF-protected form; the teams
//! crate checks the actor's role, so a member gets 403 and someone outside the team 404
//! whatever they post.

mod actions;
mod outcome;
mod page;

use axum::Router;
use axum::routing::{get, post};
use latchkey_core::urls;

use crate::state::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(urls::TEAM_SWITCH, post(actions::switch))
        .route(urls::TEAM_SETTINGS, get(page::settings_page))
        .route(urls::TEAM_AUDIT, get(page::audit_page))
        .route(urls::TEAM_RENAME, post(actions::rename))
        .route(urls::TEAM_JOIN_LINKS, post(actions::create_join_link))
        .route(urls::TEAM_JOIN_LINK_REVOKE, post(actions::revoke_join_link))
        .route(urls::TEAM_MEMBER_ROLE, post(actions::change_role))
        .route(urls::TEAM_MEMBER_REMOVE, post(actions::remove_member))
}

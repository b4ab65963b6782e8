//! `/dashboard`: a signed-in person's own account (`account`: where they are signed in, and
//! signing out, with the team's overview for its administrators, `overview`) and their name (`profile`); the page of a single logout across SAML
//! applications (`sign_out`).

mod account;
mod overview;
mod profile;
mod sign_out;

use axum::Router;
use axum::routing::{get, post};
use latchkey_core::urls;

use crate::state::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(urls::DASHBOARD, get(account::dashboard))
        .route(urls::PROFILE, get(profile::page).post(profile::save))
        .route(urls::LOGOUT, post(account::logout))
        .route(urls::LOGOUT_EVERYWHERE, post(account::logout_everywhere))
        .route(
            urls::SIGN_OUT_STATUS,
            get(sign_out::page).post(sign_out::go_on),
        )
}

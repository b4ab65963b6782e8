//! Signing up and signing in: the pages that take an address and send a link (`email`), the
//! link and the code that finish it (`verify`), join links (`join`), and the sign-ins another
//! party vouches for: an integration's signed JWT (`sso_jwt`) and a team's own identity
//! provider (`sso_oidc`).

mod email;
mod join;
mod sso_jwt;
mod sso_jwt_confirm;
mod sso_oidc;
mod verify;

use axum::Router;
use axum::routing::{get, post};
use latchkey_core::urls;

use crate::state::AppState;
use crate::web::per_ip_limit::PerIpLimit;

/// The routes that send mail or sign in are limited per client IP (429 with `Retry-After`
/// past the limit), all of them sharing one budget per client.
pub(super) fn routes(state: &AppState) -> Router<AppState> {
    let limit = PerIpLimit::new(state);
    let limited = |route| limit.apply(route);
    Router::new()
        .route(
            urls::LOGIN,
            get(email::login_page).merge(limited(post(email::login_submit))),
        )
        .route(
            urls::REGISTER,
            get(email::register_page).merge(limited(post(email::register_submit))),
        )
        .route(urls::LOGIN_SENT, get(verify::sent_page))
        .route(urls::LOGIN_CODE, limited(post(verify::code_submit)))
        .route(
            urls::LOGIN_VERIFY,
            get(verify::verify_page).merge(limited(post(verify::verify_submit))),
        )
        // Not limited per IP: a signed token is no guess, and the agents of one helpdesk
        // often share an address.
        .route(
            urls::SSO_JWT,
            get(sso_jwt::sign_on_get).post(sso_jwt::sign_on_post),
        )
        .route(
            urls::SSO_JWT_TEAM,
            get(sso_jwt::team_sign_on_get).post(sso_jwt::team_sign_on_post),
        )
        // Starting writes a pending sign-in; the callback signs in.
        .route(urls::SSO_OIDC_START, limited(post(sso_oidc::start)))
        .route(urls::SSO_OIDC_CALLBACK, limited(get(sso_oidc::callback)))
        .route(
            urls::JOIN,
            get(join::join_page).merge(limited(post(join::join_submit))),
        )
}

//! `/dashboard/integrations`: what a team's administrator connects to Latchkey. An overview
//! (`page`) leads to a page per kind (`kinds`), each with the forms that change it: the issuers
//! a team trusts to sign tokens about its members (`issuers`), the team's own identity
//! providers (`connections`), and its SAML applications (`saml`) with the team's SAML
//! certificates (`saml_certificates`). Administrators only; the domain checks the role on
//! every action.

mod connections;
mod issuers;
mod kinds;
mod page;
mod reply;
mod saml;
mod saml_certificates;

use axum::Router;
use axum::routing::{get, post};
use latchkey_core::urls;

use crate::state::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(urls::INTEGRATIONS, get(page::overview))
        .route(
            urls::INTEGRATIONS_ADD,
            get(kinds::issuers).post(issuers::add),
        )
        .route(urls::INTEGRATIONS_REMOVE, post(issuers::remove))
        .route(
            urls::INTEGRATIONS_CONNECTIONS,
            get(kinds::connections).post(connections::add),
        )
        .route(
            urls::INTEGRATIONS_CONNECTION_REMOVE,
            post(connections::remove),
        )
        .route(
            urls::INTEGRATIONS_CONNECTION_VERIFY,
            post(connections::verify_domain),
        )
        .route(urls::INTEGRATIONS_SAML, get(kinds::saml).post(saml::add))
        .route(urls::INTEGRATIONS_SAML_REMOVE, post(saml::remove))
        .route(urls::INTEGRATIONS_SAML_UPDATE, post(saml::update))
        .route(
            urls::INTEGRATIONS_SAML_CERTIFICATES,
            post(saml_certificates::act),
        )
}

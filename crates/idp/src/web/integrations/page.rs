//! `GET /dashboard/integrations`: an overview of what a team's administrator connects to
//! Latchkey (what each kind is for, how many the team has, a link to its page), and what the
//! pages of each kind (`kinds`) share: the team they show, and the sentence after an action.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use latchkey_core::TeamId;
use latchkey_login::SessionUser;
use latchkey_oidc::federation::{IssuerError, TrustedIssuers};
use latchkey_teams::{Actor, TeamError};
use serde::{Deserialize, Serialize};

use crate::state::AppState;
use crate::web::console::{self, Section};
use crate::web::error::PageError;
use crate::web::extract::{CurrentUser, works_in};

#[derive(Deserialize, Default)]
pub(super) struct PageQuery {
    team: Option<TeamId>,
    pub done: Option<String>,
}

/// The team a page of integrations shows, for the person asking: its administrators only
/// (every list below checks the role again).
pub(super) struct Shown {
    pub team_id: TeamId,
    pub team_name: String,
    pub me: Actor,
}

impl Shown {
    pub(super) async fn resolve(
        state: &AppState,
        user: &SessionUser,
        query: &PageQuery,
    ) -> Result<Self, PageError> {
        let team_id = query
            .team
            .clone()
            .or(user.team_id.clone())
            .ok_or_else(|| super::issuers::refused(IssuerError::Team(TeamError::NotFound)))?;
        works_in(user, &team_id)?;
        let team = state
            .teams
            .open(&team_id, &user.user_id)
            .await
            .map_err(|e| super::issuers::refused(IssuerError::Team(e)))?;
        Ok(Self {
            team_id,
            team_name: team.team.name,
            me: Actor::person(&user.user_id, &user.email, "", ""),
        })
    }
}

#[derive(Serialize)]
struct OverviewView<'a> {
    team_id: &'a TeamId,
    team_name: &'a str,
    issuers: usize,
    connections: usize,
    unproven_domains: usize,
    saml_sps: usize,
}

/// `GET /dashboard/integrations`.
pub(super) async fn overview(
    State(state): State<AppState>,
    CurrentUser { user, .. }: CurrentUser,
    jar: CookieJar,
    Query(query): Query<PageQuery>,
) -> Result<Response, PageError> {
    let shown = Shown::resolve(&state, &user, &query).await?;
    let (team_id, me) = (&shown.team_id, &shown.me);
    let issuers = TrustedIssuers::new(
        state.db.clone(),
        state.provider.authenticator().jwks().clone(),
    )
    .list(team_id, me)
    .await
    .map_err(super::issuers::refused)?;
    let connections = state
        .connections
        .list(Some(team_id), me)
        .await
        .map_err(super::connections::refused)?;
    let saml_sps = state
        .saml_sps
        .list(Some(team_id), me)
        .await
        .map_err(super::saml::refused)?;
    let view = OverviewView {
        team_id,
        team_name: &shown.team_name,
        issuers: issuers.len(),
        unproven_domains: connections
            .iter()
            .flat_map(|c| &c.domains)
            .filter(|d| !d.proven)
            .count(),
        connections: connections.len(),
        saml_sps: saml_sps.len(),
    };
    let page = console::page(
        &state,
        &user,
        Section::Integrations,
        StatusCode::OK,
        "integrations.html",
        &view,
    )
    .await?;
    Ok((jar, page).into_response())
}

/// What a page says after an action (`?done=`).
pub(super) fn notice(done: &str) -> Option<&'static str> {
    Some(match done {
        "added" => "The issuer is trusted. Its assertions work at once.",
        "removed" => "The issuer is no longer trusted.",
        "connection-added" => {
            "The identity provider is added. Give it the redirect URI shown below, publish the TXT record of each domain, then check it."
        }
        "connection-removed" => {
            "The identity provider is removed, and every session it opened is ended."
        }
        "domain-proven" => {
            "The domain is proven: its addresses now sign in with your identity provider."
        }
        "saml-added" => {
            "The application is added. Give it the metadata URL above; its people can sign in at once."
        }
        "saml-updated" => {
            "The application is changed. It keeps its identifiers: the people it knows stay the same."
        }
        "saml-unchanged" => "Nothing was changed: the application is as it was.",
        "saml-removed" => "The application is removed: nobody signs in to it here any more.",
        "saml-certificate-added" => {
            "A next certificate is published in the team's metadata. Give it to each application, then sign with it."
        }
        "saml-certificate-used" => {
            "Responses are now signed with the chosen certificate. The previous one stays published until you retire it."
        }
        "saml-certificate-retired" => "The certificate is out of the team's metadata.",
        "saml-moved" => {
            "The application now trusts the team's own SAML identity: give it the team's metadata (or its certificate and URLs) now, as its old one no longer signs for it."
        }
        _ => return None,
    })
}

/// Whether a notice is about the team's SAML identity and certificates.
pub(super) fn about_certificates(done: &str) -> bool {
    done.starts_with("saml-certificate-") || done == "saml-moved"
}

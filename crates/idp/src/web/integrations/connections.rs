//! The identity-provider section of `/dashboard/integrations`: add a connection, prove one of
//! its domains, remove it. Administrators only; the domain checks the role on every action.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use latchkey_connections::{ConnectionError, NewConnection};
use latchkey_core::urls;
use latchkey_core::{ConnectionId, TeamId};
use latchkey_login::Requester;
use latchkey_teams::TeamError;
use serde::Deserialize;

use super::reply::{back_to, refusal};
use crate::state::AppState;
use crate::web::error::PageError;
use crate::web::extract::{CurrentUser, SignedInForm, works_in};

/// Where the page shows connections, and the notice of what was done to them.
const SECTION: &str = "#connections-heading";

/// `POST …/connections`.
#[derive(Deserialize)]
pub(super) struct ConnectionForm {
    #[serde(default)]
    team: TeamId,
    #[serde(default)]
    name: String,
    #[serde(default)]
    issuer: String,
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    client_secret: String,
    /// One per line (or separated by spaces or commas).
    #[serde(default)]
    domains: String,
    #[serde(default)]
    email_claim: String,
    /// Google Workspace's hosted domain (`hd`); empty for none.
    #[serde(default)]
    hosted_domain: String,
    /// A checkbox: present when ticked.
    #[serde(default)]
    require_email_verified: Option<String>,
}

/// `POST …/connections/remove` and `…/connections/verify`.
#[derive(Deserialize)]
pub(super) struct ConnectionAction {
    #[serde(default)]
    team: TeamId,
    #[serde(default)]
    id: ConnectionId,
    #[serde(default)]
    domain: String,
}

pub(super) fn refused(error: ConnectionError) -> PageError {
    let (status, title) = match &error {
        ConnectionError::Team(TeamError::NotFound) | ConnectionError::NoTeam => {
            (StatusCode::NOT_FOUND, "Team not found")
        }
        ConnectionError::NotFound(_) => (StatusCode::NOT_FOUND, "No such identity provider"),
        ConnectionError::Team(TeamError::Forbidden) => {
            (StatusCode::FORBIDDEN, "Only administrators can do this")
        }
        ConnectionError::Upstream(_) => (
            StatusCode::BAD_REQUEST,
            "The identity provider could not be used",
        ),
        ConnectionError::NotProven { .. } | ConnectionError::Dns(_) => {
            (StatusCode::CONFLICT, "The domain is not proven yet")
        }
        ConnectionError::Database(_) | ConnectionError::Sealing => {
            return PageError::internal(error);
        }
        _ => (StatusCode::BAD_REQUEST, "That could not be done"),
    };
    refusal(status, title, &error)
}

/// `POST /dashboard/integrations/connections`.
pub(super) async fn add(
    State(state): State<AppState>,
    from: Requester,
    SignedInForm { user, form }: SignedInForm<ConnectionForm>,
) -> Result<Response, PageError> {
    works_in(&user.user, &form.team)?;
    let new = NewConnection {
        client_secret: form.client_secret,
        domains: vec![form.domains],
        email_claim: match form.email_claim.trim() {
            "" => "email".to_owned(),
            claim => claim.to_owned(),
        },
        require_email_verified: form.require_email_verified.is_some(),
        hosted_domain: Some(form.hosted_domain).filter(|d| !d.trim().is_empty()),
        ..NewConnection::new(form.team.clone(), form.name, form.issuer, form.client_id)
    };
    state
        .connections
        .add(new, &user.actor(&from), state.now())
        .await
        .map_err(refused)?;
    Ok(back_to(
        urls::INTEGRATIONS_CONNECTIONS,
        &form.team,
        "connection-added",
        SECTION,
    ))
}

/// `POST /dashboard/integrations/connections/remove`.
pub(super) async fn remove(
    State(state): State<AppState>,
    from: Requester,
    SignedInForm { user, form }: SignedInForm<ConnectionAction>,
) -> Result<Response, PageError> {
    act(&state, &from, &user, &form, Action::Remove).await
}

/// `POST /dashboard/integrations/connections/verify`: checks a domain's TXT record.
pub(super) async fn verify_domain(
    State(state): State<AppState>,
    from: Requester,
    SignedInForm { user, form }: SignedInForm<ConnectionAction>,
) -> Result<Response, PageError> {
    act(&state, &from, &user, &form, Action::VerifyDomain).await
}

/// What a form does to one of the team's connections.
enum Action {
    Remove,
    VerifyDomain,
}

async fn act(
    state: &AppState,
    from: &Requester,
    user: &CurrentUser,
    form: &ConnectionAction,
    action: Action,
) -> Result<Response, PageError> {
    let id = of_team(state, &user.user, form).await?;
    let (actor, now) = (user.actor(from), state.now());
    let connections = &state.connections;
    let done = match action {
        Action::Remove => connections
            .remove(&id, &actor, now)
            .await
            .map(|_| "connection-removed"),
        Action::VerifyDomain => connections
            .verify_domain(&id, &form.domain, &actor, now)
            .await
            .map(|_| "domain-proven"),
    };
    Ok(back_to(
        urls::INTEGRATIONS_CONNECTIONS,
        &form.team,
        done.map_err(refused)?,
        SECTION,
    ))
}

/// The connection a form names, if it is the team's the form names and the session works in:
/// a page acts on its own team's connections only.
async fn of_team(
    state: &AppState,
    user: &latchkey_login::SessionUser,
    form: &ConnectionAction,
) -> Result<ConnectionId, PageError> {
    works_in(user, &form.team)?;
    state
        .connections
        .find_in(&form.team, &form.id)
        .await
        .map_err(refused)
}

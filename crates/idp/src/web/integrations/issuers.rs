//! The issuers section of `/dashboard/integrations`: the issuers a team trusts to sign tokens
//! about its members (the jwt-bearer grant and browser sign-on at `/sso/jwt`). Administrators
//! only; the domain checks the role on every action.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::TimeDelta;
use latchkey_core::urls;
use latchkey_core::{TeamId, TrustedIssuerId};
use latchkey_login::Requester;
use latchkey_oidc::federation::{
    AdminClaim, IssuerError, NewIssuer, TrustedIssuers, parse_algorithm,
};
use latchkey_teams::TeamError;
use serde::Deserialize;

use super::reply::{back_to, refusal};
use crate::state::AppState;
use crate::web::error::PageError;
use crate::web::extract::{SignedInForm, works_in};

/// `POST …/issuers`.
#[derive(Deserialize)]
pub(super) struct IssuerForm {
    #[serde(default)]
    team: TeamId,
    #[serde(default)]
    issuer: String,
    #[serde(default)]
    jwks_uri: String,
    #[serde(default)]
    jwks: String,
    /// A pasted PEM public key.
    #[serde(default)]
    public_key: String,
    #[serde(default)]
    algorithms: String,
    #[serde(default)]
    max_lifetime_secs: String,
    /// A checkbox: present when ticked.
    #[serde(default)]
    require_jti: Option<String>,
    #[serde(default)]
    email_claim: String,
    #[serde(default)]
    name_claim: String,
    /// `CLAIM=VALUE`, or empty.
    #[serde(default)]
    admin_claim: String,
    /// Origins separated by spaces or lines.
    #[serde(default)]
    frame_origins: String,
}

/// `POST …/issuers/remove`.
#[derive(Deserialize)]
pub(super) struct RemoveForm {
    #[serde(default)]
    team: TeamId,
    #[serde(default)]
    id: TrustedIssuerId,
}

pub(super) fn refused(error: IssuerError) -> PageError {
    let (status, title) = match &error {
        IssuerError::Team(TeamError::NotFound) | IssuerError::NoTeam => {
            (StatusCode::NOT_FOUND, "Team not found")
        }
        IssuerError::Team(TeamError::Forbidden) => {
            (StatusCode::FORBIDDEN, "Only administrators can do this")
        }
        IssuerError::Database(_) => return PageError::internal(error),
        _ => (StatusCode::BAD_REQUEST, "That could not be done"),
    };
    refusal(status, title, &error)
}

fn back(team: &TeamId, done: &str) -> Response {
    back_to(urls::INTEGRATIONS_ADD, team, done, "")
}

/// `POST /dashboard/integrations/issuers`: trusts an issuer, by key URL, pasted key set or
/// pasted PEM public key.
pub(super) async fn add(
    State(state): State<AppState>,
    from: Requester,
    SignedInForm { user, form }: SignedInForm<IssuerForm>,
) -> Result<Response, PageError> {
    works_in(&user.user, &form.team)?;
    // Any number parses; TimeDelta takes only what it can hold (the range check is the
    // domain's), so a huge one is refused here rather than panicking.
    let lifetime = match form.max_lifetime_secs.trim() {
        "" => Some(TimeDelta::minutes(5)),
        raw => raw.parse().ok().and_then(TimeDelta::try_seconds),
    }
    .ok_or_else(|| refused(IssuerError::Lifetime))?;
    let algorithms = form
        .algorithms
        .split(',')
        .filter(|a| !a.trim().is_empty())
        .map(parse_algorithm)
        .collect::<Result<_, _>>()
        .map_err(refused)?;
    let optional = |value: &str| Some(value.trim().to_owned()).filter(|v| !v.is_empty());
    let admin_claim = optional(&form.admin_claim)
        .map(|raw| AdminClaim::parse(&raw))
        .transpose()
        .map_err(refused)?;
    let new = NewIssuer {
        jwks_uri: optional(&form.jwks_uri),
        jwks: optional(&form.jwks),
        public_keys_pem: optional(&form.public_key).into_iter().collect(),
        algorithms,
        max_lifetime: lifetime,
        email_claim: optional(&form.email_claim).unwrap_or_else(|| "email".to_owned()),
        name_claim: optional(&form.name_claim).unwrap_or_else(|| "name".to_owned()),
        require_jti: form.require_jti.is_some(),
        admin_claim,
        frame_origins: form
            .frame_origins
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
        ..NewIssuer::new(form.team.clone(), form.issuer)
    };
    let added = TrustedIssuers::new(
        state.db.clone(),
        state.provider.authenticator().jwks().clone(),
    )
    .add(new, &user.actor(&from), state.now())
    .await
    .map_err(refused)?;
    state.provider.federation().forget_issuer(&added.issuer);
    Ok(back(&form.team, "added"))
}

/// `POST /dashboard/integrations/issuers/remove`.
pub(super) async fn remove(
    State(state): State<AppState>,
    from: Requester,
    SignedInForm { user, form }: SignedInForm<RemoveForm>,
) -> Result<Response, PageError> {
    works_in(&user.user, &form.team)?;
    let removed = TrustedIssuers::new(
        state.db.clone(),
        state.provider.authenticator().jwks().clone(),
    )
    .remove(&form.team, &form.id, &user.actor(&from), state.now())
    .await
    .map_err(refused)?;
    // Untrusted here at once; on other replicas within the issuer cache's few seconds.
    state.provider.federation().forget_issuer(&removed);
    Ok(back(&form.team, "removed"))
}

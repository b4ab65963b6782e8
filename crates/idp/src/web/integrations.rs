//! `/dashboard/integrations`: the issuers a team trusts to sign tokens about its members (the
//! jwt-bearer grant and browser sign-on at `/sso/jwt`). Administrators only; the domain checks
//! the role on every action.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use chrono::{SecondsFormat, TimeDelta};
use latchkey_core::{TeamId, TrustedIssuerId};
use latchkey_teams::{Actor, TeamError};
use serde::{Deserialize, Serialize};

use super::csrf;
use super::error::PageError;
use super::extract::{CurrentUser, SignedInForm, works_in};
use super::page::html;
use super::paths;
use crate::state::AppState;
use latchkey_login::Requester;
use latchkey_oidc::federation::{
    AdminClaim, IssuerError, JWT_BEARER, NewIssuer, TrustedIssuers, parse_algorithm,
};
use latchkey_oidc::upstream::Connection;

#[derive(Deserialize, Default)]
pub(super) struct PageQuery {
    team: Option<TeamId>,
    done: Option<String>,
}

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

#[derive(Serialize)]
struct IssuerRow {
    id: TrustedIssuerId,
    issuer: String,
    keys: String,
    algorithms: String,
    max_lifetime_secs: i32,
    require_jti: bool,
    admin_claim: Option<String>,
    frame_origins: String,
    created_at: String,
}

#[derive(Serialize)]
struct IntegrationsView<'a> {
    csrf: &'a str,
    team_id: &'a TeamId,
    team_name: &'a str,
    issuers: Vec<IssuerRow>,
    token_endpoint: String,
    sign_on_url: String,
    grant_type: &'static str,
    notice: Option<&'static str>,
    /// A notice about connections, shown in their section.
    connection_notice: bool,
    connections: Vec<Connection>,
    team_login_url: String,
    /// A notice about SAML applications, shown in their section.
    saml_notice: bool,
    saml_sps: Vec<latchkey_saml::ServiceProvider>,
    saml_metadata_url: String,
    saml_sso_url: String,
}

/// A refused action on the integrations page: what the domain said, and the way back.
pub(super) fn refusal(
    status: StatusCode,
    title: &'static str,
    error: &impl std::fmt::Display,
) -> PageError {
    PageError {
        status,
        title,
        message: error.to_string(),
        hint: None,
        action: Some((paths::INTEGRATIONS, "Back to integrations")),
    }
}

fn refused(error: IssuerError) -> PageError {
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

/// `GET /dashboard/integrations`.
pub(super) async fn page(
    State(state): State<AppState>,
    CurrentUser { user, .. }: CurrentUser,
    jar: CookieJar,
    Query(query): Query<PageQuery>,
) -> Result<Response, PageError> {
    let team_id = query
        .team
        .clone()
        .or(user.team_id.clone())
        .ok_or_else(|| refused(IssuerError::Team(TeamError::NotFound)))?;
    works_in(&user, &team_id)?;
    let me = Actor::person(&user.user_id, &user.email, "", "");
    let issuers = TrustedIssuers::new(
        state.db.clone(),
        state.provider.authenticator().jwks().clone(),
    )
    .list(&team_id, &me)
    .await
    .map_err(refused)?;
    let team = state
        .teams
        .open(&team_id, &user.user_id)
        .await
        .map_err(|e| refused(IssuerError::Team(e)))?;
    let connections = state
        .connections
        .list(Some(&team_id), &me)
        .await
        .map_err(super::connections::refused)?;
    let saml_sps = state
        .saml_sps
        .list(Some(&team_id), &me)
        .await
        .map_err(super::saml_admin::refused)?;
    let (jar, csrf) = csrf::token(jar, state.cookies);
    let team_login_url = format!(
        "{}?{}",
        state.issuer.endpoint(paths::LOGIN),
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("team", team_id.as_str())
            .finish()
    );
    let view = IntegrationsView {
        csrf: &csrf,
        team_id: &team_id,
        team_name: &team.team.name,
        issuers: issuers
            .into_iter()
            .map(|i| IssuerRow {
                keys: match &i.jwks_uri {
                    Some(uri) => uri.clone(),
                    None if i.key_ids.is_empty() => "registered key set".to_owned(),
                    None => format!("kid {}", i.key_ids.join(", ")),
                },
                require_jti: i.require_jti,
                admin_claim: i.admin_claim.clone(),
                frame_origins: i.frame_origins.join(" "),
                algorithms: i.algorithms.join(", "),
                created_at: i.created_at.to_rfc3339_opts(SecondsFormat::Secs, true),
                id: i.id,
                issuer: i.issuer,
                max_lifetime_secs: i.max_lifetime_secs,
            })
            .collect(),
        token_endpoint: state.issuer.endpoint(paths::TOKEN),
        sign_on_url: state.issuer.endpoint(paths::SSO_JWT),
        grant_type: JWT_BEARER,
        notice: match query.done.as_deref() {
            Some("added") => Some("The issuer is trusted. Its assertions work at once."),
            Some("removed") => Some("The issuer is no longer trusted."),
            Some("connection-added") => Some(
                "The identity provider is added. Give it the redirect URI shown below, publish the TXT record of each domain, then check it.",
            ),
            Some("connection-removed") => {
                Some("The identity provider is removed, and every session it opened is ended.")
            }
            Some("domain-proven") => {
                Some("The domain is proven: its addresses now sign in with your identity provider.")
            }
            Some("saml-added") => Some(
                "The application is added. Give it the metadata URL above; its people can sign in at once.",
            ),
            Some("saml-updated") => Some(
                "The application is changed. It keeps its identifiers: the people it knows stay the same.",
            ),
            Some("saml-unchanged") => Some("Nothing was changed: the application is as it was."),
            Some("saml-removed") => {
                Some("The application is removed: nobody signs in to it here any more.")
            }
            _ => None,
        },
        connection_notice: query
            .done
            .as_deref()
            .is_some_and(|done| done.starts_with("connection-") || done == "domain-proven"),
        connections,
        team_login_url,
        saml_notice: query
            .done
            .as_deref()
            .is_some_and(|done| done.starts_with("saml-")),
        saml_sps,
        saml_metadata_url: state.issuer.endpoint(paths::SAML_METADATA),
        saml_sso_url: state.issuer.endpoint(paths::SAML_SSO),
    };
    Ok((
        jar,
        html(&state, StatusCode::OK, "integrations.html", &view)?,
    )
        .into_response())
}

fn back(team: &TeamId, done: &str) -> Response {
    back_to(team, done, "")
}

/// Back to the page after an action, saying what was done, at `anchor` (or the top).
pub(super) fn back_to(team: &TeamId, done: &str, anchor: &str) -> Response {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("team", team.as_str())
        .append_pair("done", done)
        .finish();
    Redirect::to(&format!("{}?{query}{anchor}", paths::INTEGRATIONS)).into_response()
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
    state.provider.forget_issuer(&added.issuer);
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
    state.provider.forget_issuer(&removed);
    Ok(back(&form.team, "removed"))
}

//! `GET /dashboard/integrations`: a team's trusted issuers, its own identity providers
//! (connections) and its SAML applications, each section with the forms that change it.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use chrono::SecondsFormat;
use latchkey_core::{TeamId, TrustedIssuerId};
use latchkey_teams::{Actor, TeamError};
use serde::{Deserialize, Serialize};

use crate::state::AppState;
use crate::web::csrf;
use crate::web::error::PageError;
use crate::web::extract::{CurrentUser, works_in};
use crate::web::page::html;
use latchkey_connections::Connection;
use latchkey_core::urls;
use latchkey_oidc::federation::{IssuerError, JWT_BEARER, TrustedIssuer, TrustedIssuers};

#[derive(Deserialize, Default)]
pub(super) struct PageQuery {
    team: Option<TeamId>,
    done: Option<String>,
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
    /// The team's own SAML identity provider, and its certificates.
    saml_identity: latchkey_saml::Addresses,
    saml_certificates: Vec<latchkey_saml::TeamCertificate>,
    /// A notice about the certificates, shown in their section.
    saml_certificate_notice: bool,
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
        .ok_or_else(|| super::issuers::refused(IssuerError::Team(TeamError::NotFound)))?;
    works_in(&user, &team_id)?;
    let me = Actor::person(&user.user_id, &user.email, "", "");
    let issuers = TrustedIssuers::new(
        state.db.clone(),
        state.provider.authenticator().jwks().clone(),
    )
    .list(&team_id, &me)
    .await
    .map_err(super::issuers::refused)?;
    let team = state
        .teams
        .open(&team_id, &user.user_id)
        .await
        .map_err(|e| super::issuers::refused(IssuerError::Team(e)))?;
    let connections = state
        .connections
        .list(Some(&team_id), &me)
        .await
        .map_err(super::connections::refused)?;
    let saml_sps = state
        .saml_sps
        .list(Some(&team_id), &me)
        .await
        .map_err(super::saml::refused)?;
    let saml_certificates = state
        .saml_sps
        .certificates()
        .list(&team_id, &me, state.now())
        .await
        .map_err(super::saml::refused)?;
    let saml_identity = latchkey_saml::Identity::Team(team_id.clone()).addresses(&state.issuer);
    let (jar, csrf) = csrf::token(jar, state.cookies);
    let team_login_url = format!(
        "{}?{}",
        state.issuer.endpoint(urls::LOGIN),
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("team", team_id.as_str())
            .finish()
    );
    let view = IntegrationsView {
        csrf: &csrf,
        team_id: &team_id,
        team_name: &team.team.name,
        issuers: issuers.into_iter().map(IssuerRow::from).collect(),
        token_endpoint: state.issuer.endpoint(urls::TOKEN),
        sign_on_url: state.issuer.endpoint(&urls::sso_jwt_team(team_id.as_str())),
        grant_type: JWT_BEARER,
        notice: query.done.as_deref().and_then(notice),
        connection_notice: query
            .done
            .as_deref()
            .is_some_and(|done| done.starts_with("connection-") || done == "domain-proven"),
        connections,
        team_login_url,
        saml_notice: query
            .done
            .as_deref()
            .is_some_and(|done| done.starts_with("saml-") && !about_certificates(done)),
        saml_certificate_notice: query.done.as_deref().is_some_and(about_certificates),
        saml_sps,
        saml_identity,
        saml_certificates,
    };
    Ok((
        jar,
        html(&state, StatusCode::OK, "integrations.html", &view)?,
    )
        .into_response())
}

impl From<TrustedIssuer> for IssuerRow {
    fn from(i: TrustedIssuer) -> Self {
        Self {
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
        }
    }
}

/// Whether a notice is about the team's SAML identity and certificates.
fn about_certificates(done: &str) -> bool {
    done.starts_with("saml-certificate-") || done == "saml-moved"
}

/// What the page says after an action (`?done=`).
fn notice(done: &str) -> Option<&'static str> {
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

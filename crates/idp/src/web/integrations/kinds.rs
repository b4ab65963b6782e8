//! The page of each kind of integration: `GET /dashboard/integrations/issuers` (the issuers a
//! team trusts), `…/connections` (its own identity providers) and `…/saml` (its SAML
//! applications and certificates). Each shows what the team has and the form that adds one;
//! the forms post to the same paths, and come back to the page of their kind.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use latchkey_connections::Connection;
use latchkey_core::{TeamId, TrustedIssuerId, urls};
use latchkey_oidc::federation::{JWT_BEARER, TrustedIssuer, TrustedIssuers};
use latchkey_saml::{ServiceProvider, TeamCertificate};
use serde::Serialize;

use super::page::{PageQuery, Shown, about_certificates, notice};
use crate::state::AppState;
use crate::web::console::{self, Moment, Section};
use crate::web::csrf;
use crate::web::error::PageError;
use crate::web::extract::CurrentUser;

/// What every page of a kind shows: the team, the form token, and the sentence after an
/// action.
#[derive(Serialize)]
struct Common<'a> {
    csrf: &'a str,
    team_id: &'a TeamId,
    team_name: &'a str,
    notice: Option<&'static str>,
}

#[derive(Serialize)]
struct Page<'a, V> {
    #[serde(flatten)]
    common: Common<'a>,
    #[serde(flatten)]
    kind: V,
}

/// Renders one kind's page with what it lists.
async fn render<V: Serialize>(
    state: &AppState,
    jar: CookieJar,
    user: &latchkey_login::SessionUser,
    shown: &Shown,
    notice: Option<&'static str>,
    template: &str,
    kind: V,
) -> Result<Response, PageError> {
    let (jar, csrf) = csrf::token(jar, state.cookies);
    let view = Page {
        common: Common {
            csrf: &csrf,
            team_id: &shown.team_id,
            team_name: &shown.team_name,
            notice,
        },
        kind,
    };
    let page = console::page(
        state,
        user,
        Section::Integrations,
        StatusCode::OK,
        template,
        &view,
    )
    .await?;
    Ok((jar, page).into_response())
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
    created_at: Moment,
}

#[derive(Serialize)]
struct IssuersView {
    issuers: Vec<IssuerRow>,
    token_endpoint: String,
    sign_on_url: String,
    grant_type: &'static str,
}

/// `GET /dashboard/integrations/issuers`.
pub(super) async fn issuers(
    State(state): State<AppState>,
    CurrentUser { user, .. }: CurrentUser,
    jar: CookieJar,
    Query(query): Query<PageQuery>,
) -> Result<Response, PageError> {
    let shown = Shown::resolve(&state, &user, &query).await?;
    let issuers = TrustedIssuers::new(
        state.db.clone(),
        state.provider.authenticator().jwks().clone(),
    )
    .list(&shown.team_id, &shown.me)
    .await
    .map_err(super::issuers::refused)?;
    let now = state.now();
    let view = IssuersView {
        issuers: issuers.into_iter().map(|i| issuer_row(i, now)).collect(),
        token_endpoint: state.issuer.endpoint(urls::TOKEN),
        sign_on_url: state
            .issuer
            .endpoint(&urls::sso_jwt_team(shown.team_id.as_str())),
        grant_type: JWT_BEARER,
    };
    let notice = query.done.as_deref().and_then(notice);
    let template = "integrations_issuers.html";
    render(&state, jar, &user, &shown, notice, template, view).await
}

fn issuer_row(i: TrustedIssuer, now: chrono::DateTime<chrono::Utc>) -> IssuerRow {
    IssuerRow {
        keys: match &i.jwks_uri {
            Some(uri) => uri.clone(),
            None if i.key_ids.is_empty() => "registered key set".to_owned(),
            None => format!("kid {}", i.key_ids.join(", ")),
        },
        require_jti: i.require_jti,
        admin_claim: i.admin_claim.clone(),
        frame_origins: i.frame_origins.join(" "),
        algorithms: i.algorithms.join(", "),
        created_at: Moment::new(i.created_at, now),
        id: i.id,
        issuer: i.issuer,
        max_lifetime_secs: i.max_lifetime_secs,
    }
}

#[derive(Serialize)]
struct ConnectionsView {
    connections: Vec<Connection>,
    team_login_url: String,
}

/// `GET /dashboard/integrations/connections`.
pub(super) async fn connections(
    State(state): State<AppState>,
    CurrentUser { user, .. }: CurrentUser,
    jar: CookieJar,
    Query(query): Query<PageQuery>,
) -> Result<Response, PageError> {
    let shown = Shown::resolve(&state, &user, &query).await?;
    let connections = state
        .connections
        .list(Some(&shown.team_id), &shown.me)
        .await
        .map_err(super::connections::refused)?;
    let team_login_url = format!(
        "{}?{}",
        state.issuer.endpoint(urls::LOGIN),
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("team", shown.team_id.as_str())
            .finish()
    );
    let view = ConnectionsView {
        connections,
        team_login_url,
    };
    let notice = query.done.as_deref().and_then(notice);
    let template = "integrations_connections.html";
    render(&state, jar, &user, &shown, notice, template, view).await
}

/// A SAML application with the end of its signing certificate as people read it.
#[derive(Serialize)]
struct SpRow {
    #[serde(flatten)]
    sp: ServiceProvider,
    certificate_ends: Option<Moment>,
}

/// A certificate with its end as people read it.
#[derive(Serialize)]
struct CertificateRow {
    #[serde(flatten)]
    certificate: TeamCertificate,
    ends: Option<Moment>,
}

#[derive(Serialize)]
struct SamlView {
    saml_sps: Vec<SpRow>,
    saml_identity: latchkey_saml::Addresses,
    saml_certificates: Vec<CertificateRow>,
    /// Whether the notice is about the certificates (shown in their section).
    certificate_notice: bool,
}

/// `GET /dashboard/integrations/saml`.
pub(super) async fn saml(
    State(state): State<AppState>,
    CurrentUser { user, .. }: CurrentUser,
    jar: CookieJar,
    Query(query): Query<PageQuery>,
) -> Result<Response, PageError> {
    let shown = Shown::resolve(&state, &user, &query).await?;
    let now = state.now();
    let saml_sps = state
        .saml_sps
        .list(Some(&shown.team_id), &shown.me)
        .await
        .map_err(super::saml::refused)?;
    let certificates = state
        .saml_sps
        .certificates()
        .list(&shown.team_id, &shown.me, now)
        .await
        .map_err(super::saml::refused)?;
    let view = SamlView {
        saml_sps: saml_sps
            .into_iter()
            .map(|sp| SpRow {
                certificate_ends: sp
                    .certificate_expires_at
                    .as_deref()
                    .and_then(|at| Moment::parse(at, now)),
                sp,
            })
            .collect(),
        saml_identity: latchkey_saml::Identity::Team(shown.team_id.clone())
            .addresses(&state.issuer),
        saml_certificates: certificates
            .into_iter()
            .map(|certificate| CertificateRow {
                ends: Moment::parse(&certificate.not_after, now),
                certificate,
            })
            .collect(),
        certificate_notice: query.done.as_deref().is_some_and(about_certificates),
    };
    let notice = query.done.as_deref().and_then(notice);
    render(
        &state,
        jar,
        &user,
        &shown,
        notice,
        "integrations_saml.html",
        view,
    )
    .await
}

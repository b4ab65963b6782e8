//! The SAML 2.0 identity provider's endpoints: metadata, single sign-on (HTTP-Redirect and
//! HTTP-POST, and started here with `/saml/init`), and single logout. Every decision is
//! `latchkey_saml`'s (`SignOns`); this reads the bindings, hands over the person signed in,
//! and turns the answer into a redirect, an auto-posted form, or a page (a status to carry
//! back on a press of a button, or the question whether to continue to the SP, answered by a
//! CSRF-checked form).

//!
//! `logout` has the single-logout endpoints, `pages` the pages every answer becomes.

mod logout;
mod pages;

use axum::Router;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, Query, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use axum_extra::extract::CookieJar;
use latchkey_core::{SamlRequestId, TeamId, urls};
use latchkey_saml::{Identity, Inbound, Refusal, SamlError};
use serde::Deserialize;

use super::error::PageError;
use super::extract::{CsrfForm, current_user};
use super::page::PageResult;
use super::per_ip_limit::PerIpLimit;
use crate::state::AppState;

pub(in crate::web) use logout::sign_out_step;
use logout::{slo_post, slo_redirect, team_slo_post, team_slo_redirect};
use pages::{refusal, respond};

/// Keeping a sign-on writes a row, so the routes that do are limited per client IP, as
/// `/authorize` is; so is `/saml/slo`, whose requests can end sessions and write rows too.
pub(super) fn routes(state: &AppState) -> Router<AppState> {
    let limit = PerIpLimit::new(state);
    Router::new()
        .route(urls::SAML_METADATA, get(metadata))
        .route(
            urls::SAML_SSO,
            limit.apply(get(sso_redirect).post(sso_post)),
        )
        .route(urls::SAML_INIT, limit.apply(get(init)))
        .route(
            urls::SAML_CONTINUE,
            get(continue_sign_on).post(confirm_sign_on),
        )
        .route(
            urls::SAML_SLO,
            limit.apply(get(slo_redirect).post(slo_post)),
        )
        .route(urls::SAML_TEAM_METADATA, get(team_metadata))
        .route(
            urls::SAML_TEAM_SSO,
            limit.apply(get(team_sso_redirect).post(team_sso_post)),
        )
        .route(
            urls::SAML_TEAM_SLO,
            limit.apply(get(team_slo_redirect).post(team_slo_post)),
        )
}

/// `GET /saml/metadata`: the shared identity provider's metadata, for the SPs registered
/// before teams had their own.
async fn metadata(State(state): State<AppState>) -> PageResult {
    metadata_of(&state, &Identity::Shared).await
}

/// `GET /saml/teams/{team}/metadata`: a team's identity provider's metadata.
async fn team_metadata(State(state): State<AppState>, Path(team): Path<String>) -> PageResult {
    metadata_of(&state, &Identity::Team(TeamId::from(team.as_str()))).await
}

async fn metadata_of(state: &AppState, identity: &Identity) -> PageResult {
    let xml = state.saml.metadata_xml(identity, state.now()).await;
    let xml = xml.map_err(|e| match e {
        Refusal::Failed(SamlError::NoIdentity) => PageError {
            status: StatusCode::NOT_FOUND,
            title: "No SAML identity here",
            message: "This team has no SAML service providers, so it has no SAML identity yet.".to_owned(),
            hint: Some("Its administrators add one on the integrations page; its metadata is here after that."),
            action: None,
        },
        other => refusal(other),
    })?;
    let headers = [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/samlmetadata+xml"),
        ),
        (
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=300"),
        ),
    ];
    Ok((headers, xml).into_response())
}

#[derive(Deserialize)]
struct MessageForm {
    #[serde(rename = "SAMLRequest", default)]
    saml_request: String,
    #[serde(rename = "RelayState")]
    relay_state: Option<String>,
}

impl MessageForm {
    fn inbound(form: Result<Form<Self>, FormRejection>) -> Result<Inbound, PageError> {
        let Form(form) = form.map_err(|e| refusal(Refusal::Unreadable(e.to_string())))?;
        Ok(Inbound::Post {
            message: form.saml_request,
            relay_state: form.relay_state,
        })
    }
}

/// `GET /saml/sso`: an `AuthnRequest` over HTTP-Redirect.
async fn sso_redirect(
    State(state): State<AppState>,
    jar: CookieJar,
    RawQuery(query): RawQuery,
) -> PageResult {
    let inbound = Inbound::Redirect(query.unwrap_or_default());
    sign_on(&state, &jar, &Identity::Shared, inbound).await
}

/// `POST /saml/sso`: an `AuthnRequest` over HTTP-POST.
async fn sso_post(
    State(state): State<AppState>,
    jar: CookieJar,
    form: Result<Form<MessageForm>, FormRejection>,
) -> PageResult {
    let inbound = MessageForm::inbound(form)?;
    sign_on(&state, &jar, &Identity::Shared, inbound).await
}

/// `GET /saml/teams/{team}/sso`: an `AuthnRequest` to a team's identity provider.
async fn team_sso_redirect(
    State(state): State<AppState>,
    Path(team): Path<String>,
    jar: CookieJar,
    RawQuery(query): RawQuery,
) -> PageResult {
    let inbound = Inbound::Redirect(query.unwrap_or_default());
    sign_on(&state, &jar, &team_identity(&team), inbound).await
}

/// `POST /saml/teams/{team}/sso`.
async fn team_sso_post(
    State(state): State<AppState>,
    Path(team): Path<String>,
    jar: CookieJar,
    form: Result<Form<MessageForm>, FormRejection>,
) -> PageResult {
    let inbound = MessageForm::inbound(form)?;
    sign_on(&state, &jar, &team_identity(&team), inbound).await
}

fn team_identity(team: &str) -> Identity {
    Identity::Team(TeamId::from(team))
}

/// The request is checked before the browser's session is read: a forged request touches
/// no one's session.
async fn sign_on(
    state: &AppState,
    jar: &CookieJar,
    identity: &Identity,
    inbound: Inbound,
) -> PageResult {
    let now = state.now();
    let request = state.saml.check(identity, inbound, now).await;
    let request = request.map_err(refusal)?;
    let browser = match request.takes_a_session() {
        true => current_user(state, jar).await?.map(|(_, user)| user),
        false => None,
    };
    let reply = state.saml.receive(request, browser.as_ref(), now).await;
    respond(state, jar.clone(), reply.map_err(refusal)?)
}

/// `GET /saml/init?sp=ENTITY_ID[&team=TEAM][&RelayState=…]`: a sign-on started here
/// (IdP-initiated), to a team's SP (`team`) or to one on the shared identity.
#[derive(Deserialize)]
struct InitQuery {
    #[serde(default)]
    sp: String,
    team: Option<String>,
    #[serde(rename = "RelayState")]
    relay_state: Option<String>,
}

async fn init(
    State(state): State<AppState>,
    jar: CookieJar,
    Query(query): Query<InitQuery>,
) -> PageResult {
    let relay_state = query.relay_state.as_deref();
    let identity = match &query.team {
        Some(team) => team_identity(team),
        None => Identity::Shared,
    };
    let reply = state
        .saml
        .start(&identity, &query.sp, relay_state, state.now())
        .await;
    respond(&state, jar, reply.map_err(refusal)?)
}

/// What the request was (IsPassive, signed…) is read from the kept sign-on, never from this
/// URL: any other parameter is ignored.
#[derive(Deserialize)]
struct ContinueQuery {
    #[serde(default)]
    request: String,
}

/// `GET /saml/continue?request=…`: a kept sign-on, answered once the person is signed in.
async fn continue_sign_on(
    State(state): State<AppState>,
    jar: CookieJar,
    Query(query): Query<ContinueQuery>,
) -> PageResult {
    let id = SamlRequestId::recognise(&query.request).ok_or_else(|| refusal(Refusal::Expired))?;
    let browser = current_user(&state, &jar).await?.map(|(_, user)| user);
    let reply = state.saml.resume(&id, browser.as_ref(), state.now()).await;
    respond(&state, jar, reply.map_err(refusal)?)
}

#[derive(Deserialize)]
struct ConfirmForm {
    #[serde(default)]
    request: String,
}

/// `POST /saml/continue`: the person pressed "Continue" on the question whether to sign in
/// to the SP (a form of this site's only: CSRF-checked).
async fn confirm_sign_on(
    State(state): State<AppState>,
    jar: CookieJar,
    CsrfForm(form): CsrfForm<ConfirmForm>,
) -> PageResult {
    let id = SamlRequestId::recognise(&form.request).ok_or_else(|| refusal(Refusal::Expired))?;
    let browser = current_user(&state, &jar).await?.map(|(_, user)| user);
    let reply = state.saml.confirm(&id, browser.as_ref(), state.now()).await;
    respond(&state, jar, reply.map_err(refusal)?)
}

//! The SAML 2.0 identity provider's endpoints: metadata, single sign-on (HTTP-Redirect and
//! HTTP-POST, and started here with `/saml/init`), and single logout. Every decision is
//! `latchkey_saml`'s (`SignOns`); this reads the bindings, hands over the person signed in,
//! and turns the answer into a redirect, an auto-posted form, or a page (a status to carry
//! back on a press of a button, or the question whether to continue to the SP, answered by a
//! CSRF-checked form).

use axum::Router;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, Query, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect};
use axum::routing::get;
use axum_extra::extract::CookieJar;
use latchkey_core::{SamlRequestId, TeamId, urls};
use latchkey_saml::{
    Confirmation, Identity, Inbound, LOGOUT_CHAIN_TTL, PostBack, Refusal, Reply, SamlError,
    SignOutNext,
};
use serde::{Deserialize, Serialize};

use super::csrf;
use super::error::PageError;
use super::extract::{CsrfForm, current_user};
use super::page::{PageResult, html};
use super::per_ip_limit::PerIpLimit;
use crate::state::AppState;

/// The script that posts the response form, allowed by its hash and nothing else.
const AUTO_POST: &str = "document.getElementById(\"saml-post\").submit();";

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

/// The form of `/saml/slo`: an SP's `LogoutRequest`, or its `LogoutResponse` to one that
/// Latchkey sent in a single logout.
#[derive(Deserialize)]
struct LogoutForm {
    #[serde(rename = "SAMLRequest")]
    saml_request: Option<String>,
    #[serde(rename = "SAMLResponse")]
    saml_response: Option<String>,
    #[serde(rename = "RelayState")]
    relay_state: Option<String>,
}

/// `GET|POST /saml/slo`: an SP-initiated `LogoutRequest`, answered over the binding it used,
/// or an SP's `LogoutResponse` in a single logout Latchkey leads.
async fn slo_redirect(
    State(state): State<AppState>,
    jar: CookieJar,
    RawQuery(query): RawQuery,
) -> PageResult {
    slo_by_redirect(&state, jar, &Identity::Shared, query).await
}

async fn slo_post(
    State(state): State<AppState>,
    jar: CookieJar,
    form: Result<Form<LogoutForm>, FormRejection>,
) -> PageResult {
    slo_by_post(&state, jar, &Identity::Shared, form).await
}

/// `GET|POST /saml/teams/{team}/slo`: the same, at a team's identity provider.
async fn team_slo_redirect(
    State(state): State<AppState>,
    Path(team): Path<String>,
    jar: CookieJar,
    RawQuery(query): RawQuery,
) -> PageResult {
    slo_by_redirect(&state, jar, &team_identity(&team), query).await
}

async fn team_slo_post(
    State(state): State<AppState>,
    Path(team): Path<String>,
    jar: CookieJar,
    form: Result<Form<LogoutForm>, FormRejection>,
) -> PageResult {
    slo_by_post(&state, jar, &team_identity(&team), form).await
}

/// A `LogoutRequest`, or the `LogoutResponse` of an SP a logout chain asked, over
/// HTTP-Redirect.
async fn slo_by_redirect(
    state: &AppState,
    jar: CookieJar,
    identity: &Identity,
    query: Option<String>,
) -> PageResult {
    let query = query.unwrap_or_default();
    let answers = url::form_urlencoded::parse(query.as_bytes()).any(|(k, _)| k == "SAMLResponse");
    let inbound = Inbound::Redirect(query);
    match answers {
        true => logout_answered(state, jar, inbound).await,
        false => logout(state, jar, identity, inbound, false).await,
    }
}

/// The same over HTTP-POST.
async fn slo_by_post(
    state: &AppState,
    jar: CookieJar,
    identity: &Identity,
    form: Result<Form<LogoutForm>, FormRejection>,
) -> PageResult {
    let Form(form) = form.map_err(|e| refusal(Refusal::Unreadable(e.to_string())))?;
    let relay_state = form.relay_state;
    match form.saml_response {
        Some(message) => {
            let inbound = Inbound::Post {
                message,
                relay_state,
            };
            logout_answered(state, jar, inbound).await
        }
        None => {
            let inbound = Inbound::Post {
                message: form.saml_request.unwrap_or_default(),
                relay_state,
            };
            logout(state, jar, identity, inbound, true).await
        }
    }
}

/// The request is checked before the browser's session is read; it is kept against replay
/// only if it names a session.
async fn logout(
    state: &AppState,
    jar: CookieJar,
    identity: &Identity,
    inbound: Inbound,
    post: bool,
) -> PageResult {
    let now = state.now();
    let request = state.saml.check_logout(identity, inbound, now).await;
    let request = request.map_err(refusal)?;
    let browser = current_user(state, &jar).await?.map(|(_, user)| user);
    let outcome = state
        .saml
        .logout(request, browser.as_ref(), post, now)
        .await;
    let outcome = outcome.map_err(refusal)?;
    let jar = match outcome.end_this_browser {
        true => jar.add(state.cookies.removal(super::cookies::Jar::Session)),
        false => jar,
    };
    sign_out_step(state, jar, outcome.chain, outcome.next)
}

/// An SP's answer in a single logout: the chain notes it and goes on.
async fn logout_answered(state: &AppState, jar: CookieJar, inbound: Inbound) -> PageResult {
    let chain = state.saml.logout_answered(inbound, state.now()).await;
    let chain = chain.map_err(refusal)?;
    sign_out_step(state, jar, Some(chain.id), chain.next)
}

/// The browser's next step in a single logout: to the next SP (or the one that started it),
/// or to the page that says how it went. The chain's id is kept in a cookie while the chain
/// lasts, so that its page can be found again from Latchkey.
pub(super) fn sign_out_step(
    state: &AppState,
    jar: CookieJar,
    chain: Option<String>,
    next: SignOutNext,
) -> PageResult {
    let jar = match chain {
        Some(id) => {
            let lasts = LOGOUT_CHAIN_TTL.to_std().unwrap_or_default();
            jar.add(
                state
                    .cookies
                    .make_lasting(super::cookies::Jar::SignOut, id, lasts),
            )
        }
        None => jar,
    };
    match next {
        SignOutNext::Go(reply) => respond(state, jar, reply),
        SignOutNext::Over(reply) => {
            let jar = jar.add(state.cookies.removal(super::cookies::Jar::SignOut));
            respond(state, jar, reply)
        }
        SignOutNext::Done(_) => Ok((jar, Redirect::to(urls::SIGN_OUT_STATUS)).into_response()),
    }
}

/// A redirect, the page that posts a form to the SP (at once, or when the person presses
/// its button), or the question whether to continue.
fn respond(state: &AppState, jar: CookieJar, reply: Reply) -> PageResult {
    let page = match reply {
        Reply::Redirect(to) => Redirect::to(&to).into_response(),
        Reply::Post(form) => post_page(state, &form, None)?,
        Reply::StatusPage(page) => {
            post_page(state, &page.form, Some((&page.message, &page.button)))?
        }
        Reply::Confirm(question) => return confirm_page(state, jar, &question),
    };
    Ok((jar, page).into_response())
}

#[derive(Serialize)]
struct ConfirmView<'a> {
    title: String,
    sp: &'a str,
    email: &'a str,
    request: &'a str,
    csrf: &'a str,
    action: &'a str,
}

/// "Continue to {SP} as {address}?": its button posts back to `/saml/continue`.
fn confirm_page(state: &AppState, jar: CookieJar, question: &Confirmation) -> PageResult {
    let (jar, csrf) = csrf::token(jar, state.cookies);
    let view = ConfirmView {
        title: format!("Continue to {}?", question.sp),
        sp: &question.sp,
        email: &question.email,
        request: question.request.as_str(),
        csrf: &csrf,
        action: urls::SAML_CONTINUE,
    };
    let page = html(state, StatusCode::OK, "saml_confirm.html", &view)?;
    Ok((jar, page).into_response())
}

/// The page a refusal shows, with what the person, or the SP's administrator, can do.
fn refusal(refusal: Refusal) -> PageError {
    let page = |title, message: String, hint| PageError {
        status: StatusCode::BAD_REQUEST,
        title,
        message,
        hint: Some(hint),
        action: None,
    };
    match refusal {
        Refusal::Unreadable(why) => page(
            "This sign-in request cannot be read",
            format!("The request is malformed: {why}."),
            "Go back to the application and try again, or tell its administrator about this page.",
        ),
        Refusal::UnknownSp => page(
            "This application is not registered",
            "The sign-in request comes from an application Latchkey does not know.".into(),
            "Tell the application's administrator: a team administrator registers it with Latchkey, on the integrations page.",
        ),
        Refusal::Unchecked { sp } => page(
            "This sign-in request cannot be checked",
            format!(
                "{sp} signed this request, and Latchkey has no certificate of it to check it with."
            ),
            "Tell the team's administrator: register the application's signing certificate with it (its metadata has it).",
        ),
        Refusal::NotSigned { sp } => page(
            "This sign-in request is not signed by the application",
            format!("This request's signature is missing, or does not match {sp}'s certificate."),
            "Go back to the application and try again. If this keeps happening, its certificate may have changed: tell its administrator.",
        ),
        Refusal::AcsNotRegistered { sp } => page(
            "This sign-in request cannot be completed",
            format!(
                "{sp} asked for the answer to go to an address it has not registered with Latchkey."
            ),
            "Tell the application's administrator: the address it answers at (its ACS URL) must be registered with Latchkey.",
        ),
        Refusal::AcsIndexNotRegistered { sp, index } => page(
            "This sign-in request cannot be completed",
            format!(
                "{sp} asked for the answer to go to its address number {index} (AssertionConsumerServiceIndex), which it has not registered with Latchkey."
            ),
            "Tell the application's administrator: register it again from its current metadata, which lists that index.",
        ),
        Refusal::AcsBinding { sp, binding } => page(
            "This sign-in request cannot be completed",
            format!(
                "{sp} asks for the answer over the {binding} binding; Latchkey answers over HTTP-POST."
            ),
            "Tell the application's administrator: have it ask for the answer at an HTTP-POST address (its AssertionConsumerService).",
        ),
        other => refused_request(other),
    }
}

/// The page of a request refused for what it asks, or how it is signed.
fn refused_request(refusal: Refusal) -> PageError {
    let page = |title, message: String, hint| PageError {
        status: StatusCode::BAD_REQUEST,
        title,
        message,
        hint: Some(hint),
        action: None,
    };
    match refusal {
        Refusal::AcsIndexAndUrl { sp } => page(
            "This sign-in request cannot be read",
            format!(
                "{sp} named where the answer goes twice, by number and by address: a request names one (SAML Core §3.4.1)."
            ),
            "Tell the application's administrator about this page: its sign-in requests are malformed.",
        ),
        Refusal::RelayStateTooLong { sp } => page(
            "The address to return to is too long",
            format!(
                "{sp} asked to bring you back to a page whose address (RelayState) is longer than Latchkey keeps ({} bytes).",
                latchkey_saml::MAX_RELAY_STATE
            ),
            "Go back to the application and open its start page rather than a deep link, or tell its administrator about this page.",
        ),
        Refusal::Sha1 { sp } => page(
            "This sign-in request is signed with an outdated algorithm",
            format!(
                "{sp} signed its request with SHA-1, which Latchkey does not accept: such signatures can be forged."
            ),
            "Tell the application's administrator: sign requests with RSA-SHA256. If it cannot, Latchkey's operator can allow SHA-1 for it (saml-sp update --allow-sha1-signatures true).",
        ),
        other => refused_sign_on(other),
    }
}

/// The page of a sign-on or logout that was readable but cannot go ahead: spent, expired,
/// not for this person, or not set up.
fn refused_sign_on(refusal: Refusal) -> PageError {
    let page = |title, message: &str, hint| PageError {
        status: StatusCode::BAD_REQUEST,
        title,
        message: message.to_owned(),
        hint: Some(hint),
        action: None,
    };
    const AGAIN: &str = "Go back to the application and sign in again.";
    match refusal {
        Refusal::StartsAtApplication { sp } => PageError {
            status: StatusCode::FORBIDDEN,
            title: "Start signing in at the application",
            message: format!(
                "{sp} does not take sign-ins started from Latchkey: open it, and it sends you here."
            ),
            hint: None,
            action: Some((urls::DASHBOARD, "Go to your account")),
        },
        Refusal::Replay => page(
            "This sign-in request was already used",
            "A sign-in request works once. This one has been received before.",
            AGAIN,
        ),
        Refusal::Expired => page(
            "This sign-in request has expired",
            "It was completed already, or it waited too long.",
            AGAIN,
        ),
        Refusal::AlreadyCompleted => page(
            "This sign-in request was already completed",
            "It was answered in another tab or window.",
            "Go back to the application: you may already be signed in.",
        ),
        Refusal::NotMember { sp, email } => PageError {
            status: StatusCode::FORBIDDEN,
            title: "You cannot sign in to this application",
            message: format!(
                "{sp} is for the members of one team, and {email} is not one of them."
            ),
            hint: Some(
                "Ask the team's administrator for a join link, or sign out and sign in with another address.",
            ),
            action: Some((urls::DASHBOARD, "Go to your account")),
        },
        Refusal::NoLogoutUrl { sp } => page(
            "This sign-out request cannot be completed",
            &format!("{sp} has no logout URL registered with Latchkey."),
            "Tell the application's administrator: its logout URL must be registered with Latchkey.",
        ),
        Refusal::LogoutReplay => page(
            "This sign-out request was already used",
            "A sign-out request works once. This one has been received before.",
            "Go back to the application and sign out again.",
        ),
        Refusal::SignOutOver => PageError {
            status: StatusCode::BAD_REQUEST,
            title: "This sign-out is over",
            message:
                "Signing out of your applications finished or expired, or went on in another tab."
                    .to_owned(),
            hint: Some(
                "You are signed out of Latchkey. To be sure you are signed out of an application, open it and sign out there.",
            ),
            action: Some((urls::LOGIN, "Sign in again")),
        },
        Refusal::Failed(error) => PageError::failed(error),
        Refusal::Database(error) => PageError::internal(error),
        // The request's own refusals are `refusal`'s, which never hands them here.
        other => PageError::failed(other),
    }
}

#[derive(Serialize)]
struct PostView<'a> {
    title: &'a str,
    message: &'a str,
    button: &'a str,
    action: &'a str,
    fields: &'a [(String, String)],
    /// Posted by the page's script at once.
    auto: bool,
}

/// The page that posts a form to the SP: at once with the one script the page allows, or
/// with its button without JavaScript; or, with `explained` (its message and button), only
/// when the person presses the button.
fn post_page(state: &AppState, form: &PostBack, explained: Option<(&str, &str)>) -> PageResult {
    let (message, button) = explained.unwrap_or((
        "Latchkey is sending you back to the application.",
        "Continue",
    ));
    let view = PostView {
        title: &form.title,
        message,
        button,
        action: &form.action,
        fields: &form.fields,
        auto: explained.is_none(),
    };
    let page = state
        .pages
        .render("saml_post.html", &view)
        .map_err(PageError::internal)?;
    let policy = format!(
        "default-src 'none'; style-src 'self'; img-src 'self'; script-src '{}'; frame-ancestors 'none'; base-uri 'none'",
        script_hash()
    );
    let policy = HeaderValue::from_str(&policy).map_err(PageError::failed)?;
    let headers = [
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (header::CONTENT_SECURITY_POLICY, policy),
    ];
    Ok((headers, axum::response::Html(page)).into_response())
}

/// `sha256-…` of [`AUTO_POST`], as CSP names an inline script.
fn script_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| {
        use base64::Engine;
        use sha2::Digest;
        let digest = sha2::Sha256::digest(AUTO_POST.as_bytes());
        format!(
            "sha256-{}",
            base64::engine::general_purpose::STANDARD.encode(digest)
        )
    })
}

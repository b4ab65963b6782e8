//! The SAML 2.0 identity provider's endpoints: metadata, single sign-on (HTTP-Redirect and
//! HTTP-POST, and started here with `/saml/init`), and single logout. The checks live in
//! `latchkey_saml`; this maps them to pages, redirects and auto-posted forms.
//!
//! Every sign-on is stored before anything else and continued at `/saml/continue` with a
//! top-level GET: an `AuthnRequest` posted from the SP's site carries no `SameSite=Lax`
//! session cookie, the GET does. Sign-in returns there too.

use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Query, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use serde::{Deserialize, Serialize};

use crate::state::AppState;
use crate::web::error::PageError;
use crate::web::extract::current_user;
use crate::web::page::PageResult;
use latchkey_core::urls;
use latchkey_saml::response::Issue;
use latchkey_saml::{
    Account, HoldError, Inbound, Outgoing, PendingSignOn, RequestError, ServiceProvider,
    peek_issuer,
};

/// The SAML identity provider. Keeping a sign-on writes a row, so the routes that do are
/// limited per client IP, as `/authorize` is.
pub(super) fn routes(state: &AppState) -> axum::Router<AppState> {
    use axum::routing::get;
    let limit = super::per_ip_limit::PerIpLimit::new(state);
    axum::Router::new()
        .route(urls::SAML_METADATA, get(metadata))
        .route(
            urls::SAML_SSO,
            limit.apply(get(sso_redirect).post(sso_post)),
        )
        .route(urls::SAML_INIT, limit.apply(get(init)))
        .route(urls::SAML_CONTINUE, get(continue_sign_on))
        .route(urls::SAML_SLO, get(slo_redirect).post(slo_post))
}

/// The name of the application a pending request (an OIDC authorization request, or a SAML
/// sign-on) continues to, while it waits.
pub(super) async fn pending_application(state: &AppState, request: &str) -> Option<String> {
    if request.starts_with(latchkey_saml::PENDING_PREFIX) {
        return match state.saml_sps.pending(request, state.now()).await {
            Ok(pending) => pending.map(|p| p.sp.name),
            Err(error) => {
                tracing::warn!(%error, "could not read a pending SAML sign-on");
                None
            }
        };
    }
    state
        .provider
        .pending_client_name(&latchkey_core::RequestId::from(request), state.now())
        .await
}

/// A NameID policy that leaves the format to the identity provider.
const UNSPECIFIED: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified";

/// The script that posts the response form, allowed by its hash and nothing else.
const AUTO_POST: &str = "document.getElementById(\"saml-post\").submit();";

/// `GET /saml/metadata`: the identity provider's metadata, for SP administrators.
pub(super) async fn metadata(State(state): State<AppState>) -> PageResult {
    let idp = state.saml_idp.get(state.now()).map_err(PageError::failed)?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/samlmetadata+xml"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=300"),
            ),
        ],
        idp.metadata_xml(),
    )
        .into_response())
}

#[derive(Deserialize)]
pub(super) struct MessageForm {
    #[serde(rename = "SAMLRequest", default)]
    saml_request: String,
    #[serde(rename = "RelayState")]
    relay_state: Option<String>,
}

/// `GET /saml/sso`: an `AuthnRequest` over HTTP-Redirect.
pub(super) async fn sso_redirect(
    State(state): State<AppState>,
    jar: CookieJar,
    RawQuery(query): RawQuery,
) -> PageResult {
    sign_on(&state, &jar, Inbound::Redirect(query.unwrap_or_default())).await
}

/// `POST /saml/sso`: an `AuthnRequest` over HTTP-POST.
pub(super) async fn sso_post(
    State(state): State<AppState>,
    jar: CookieJar,
    form: Result<Form<MessageForm>, FormRejection>,
) -> PageResult {
    let Form(form) = form.map_err(|e| unreadable(&e.to_string()))?;
    sign_on(
        &state,
        &jar,
        Inbound::Post {
            message: form.saml_request,
            relay_state: form.relay_state,
        },
    )
    .await
}

/// Reads and checks the request, then keeps it: a request that is not from a registered SP,
/// or whose signature fails, gets a page and nothing signed.
async fn sign_on(state: &AppState, jar: &CookieJar, inbound: Inbound) -> PageResult {
    let now = state.now();
    let sp = sending_sp(state, &inbound).await?;
    let idp = state.saml_idp.get(now).map_err(PageError::failed)?;
    let asked = idp
        .read_authn_request(&sp, inbound, now)
        .map_err(|e| refused(&sp, &e))?;
    let registered = match asked.acs_index {
        Some(index) => sp.acs_urls.get(usize::from(index)).map(String::as_str),
        None => sp.acs_url(asked.acs_url.as_deref()),
    };
    let Some(acs_url) = registered else {
        tracing::warn!(sp = %sp.sp_id, asked = ?asked.acs_url, "SAML request names an ACS URL that is not registered");
        return Err(PageError {
            status: StatusCode::BAD_REQUEST,
            title: "This sign-in request cannot be completed",
            message: format!(
                "{} asked for the answer to go to an address it has not registered with Latchkey.",
                sp.name
            ),
            hint: Some(
                "Tell the application's administrator: the address it answers at (its ACS URL) must be registered with Latchkey.",
            ),
            action: None,
        });
    };
    let format_refused = asked
        .name_id_format
        .as_deref()
        .is_some_and(|f| f != sp.name_id_format.urn() && f != UNSPECIFIED);
    if format_refused {
        // The request is authentic and its ACS registered: the SP hears why.
        return post_status(
            state,
            acs_url,
            Some(&asked.id),
            asked.relay_state.as_deref(),
            ("Requester", "InvalidNameIDPolicy"),
        );
    }
    // A person signed in here already (and not asked to sign in again) is answered at once;
    // the request is still kept, answered, so that a replay is refused.
    let user = match asked.force_authn {
        true => None,
        false => current_user(state, jar)
            .await?
            .map(|(_, user)| user)
            .filter(|user| speaks_for(user, &sp)),
    };
    let pending = state
        .saml_sps
        .hold(
            &sp,
            Some(&asked.id),
            acs_url,
            asked.relay_state.as_deref(),
            asked.force_authn,
            user.is_some(),
            now,
        )
        .await
        .map_err(|e| match e {
            HoldError::Replay => {
                tracing::warn!(sp = %sp.sp_id, request = %asked.id, "SAML request replayed");
                PageError {
                    status: StatusCode::BAD_REQUEST,
                    title: "This sign-in request was already used",
                    message: "A sign-in request works once. This one has been received before."
                        .into(),
                    hint: Some("Go back to the application and sign in again."),
                    action: None,
                }
            }
            HoldError::Database(e) => PageError::internal(e),
        })?;
    match user {
        Some(user) => answer(state, &pending, &user, true).await,
        None => Ok(continue_at(&pending, asked.is_passive)),
    }
}

/// `GET /saml/init?sp=ENTITY_ID[&RelayState=…]`: a sign-on started here (IdP-initiated),
/// answered to the SP's first registered ACS URL.
#[derive(Deserialize)]
pub(super) struct InitQuery {
    #[serde(default)]
    sp: String,
    #[serde(rename = "RelayState")]
    relay_state: Option<String>,
}

pub(super) async fn init(
    State(state): State<AppState>,
    Query(query): Query<InitQuery>,
) -> PageResult {
    let now = state.now();
    let sp = state
        .saml_sps
        .by_entity_id(query.sp.trim())
        .await
        .map_err(PageError::internal)?
        .ok_or_else(unknown_sp)?;
    if !sp.idp_initiated {
        tracing::info!(sp = %sp.sp_id, "IdP-initiated SAML sign-on refused: the SP starts its own");
        return Err(PageError {
            status: StatusCode::FORBIDDEN,
            title: "Start signing in at the application",
            message: format!(
                "{} does not take sign-ins started from Latchkey: open it, and it sends you here.",
                sp.name
            ),
            hint: None,
            action: Some((urls::DASHBOARD, "Go to your account")),
        });
    }
    // SAML Bindings §3.4.3: at most 80 bytes.
    let relay_state = query.relay_state.filter(|r| !r.is_empty() && r.len() <= 80);
    let acs_url = sp.acs_url(None).ok_or_else(unknown_sp)?.to_owned();
    let pending = state
        .saml_sps
        .hold(
            &sp,
            None,
            &acs_url,
            relay_state.as_deref(),
            false,
            false,
            now,
        )
        .await
        .map_err(|e| match e {
            HoldError::Database(e) => PageError::internal(e),
            HoldError::Replay => PageError::failed("an IdP-initiated sign-on cannot replay"),
        })?;
    Ok(continue_at(&pending, false))
}

fn continue_at(pending: &PendingSignOn, passive: bool) -> Response {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.append_pair("request", &pending.id);
    if passive {
        query.append_pair("passive", "1");
    }
    Redirect::to(&format!("{}?{}", urls::SAML_CONTINUE, query.finish())).into_response()
}

#[derive(Deserialize)]
pub(super) struct ContinueQuery {
    #[serde(default)]
    request: String,
    #[serde(default)]
    passive: Option<String>,
}

/// `GET /saml/continue?request=…`: answers a kept sign-on once the person is signed in (as a
/// member of the SP's team, and since the request when it asked `ForceAuthn`), or sends
/// them to sign in first.
pub(super) async fn continue_sign_on(
    State(state): State<AppState>,
    jar: CookieJar,
    Query(query): Query<ContinueQuery>,
) -> PageResult {
    let now = state.now();
    let pending = state
        .saml_sps
        .pending(&query.request, now)
        .await
        .map_err(PageError::internal)?
        .ok_or_else(|| PageError {
            status: StatusCode::BAD_REQUEST,
            title: "This sign-in request has expired",
            message: "It was completed already, or it waited too long.".into(),
            hint: Some("Go back to the application and sign in again."),
            action: None,
        })?;
    let user = current_user(&state, &jar)
        .await?
        .map(|(_, user)| user)
        .filter(|user| speaks_for(user, &pending.sp))
        .filter(|user| !pending.force_authn || user.signed_in_at >= pending.created_at);
    let Some(user) = user else {
        if query.passive.is_some() {
            // Answered, once: the SP hears that nobody is signed in.
            if !state
                .saml_sps
                .answer(&pending.id, now)
                .await
                .map_err(PageError::internal)?
            {
                return Err(already_completed());
            }
            return post_status(
                &state,
                &pending.acs_url,
                pending.request_id.as_deref(),
                pending.relay_state.as_deref(),
                ("Responder", "NoPassive"),
            );
        }
        let login = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("request", &pending.id)
            .finish();
        return Ok(Redirect::to(&format!("{}?{login}", urls::LOGIN)).into_response());
    };
    answer(&state, &pending, &user, false).await
}

/// Answers a sign-on for a signed-in person: a member of the SP's team gets the signed
/// response, posted to the SP; `marked` when the sign-on was kept as answered already.
async fn answer(
    state: &AppState,
    pending: &PendingSignOn,
    user: &latchkey_login::SessionUser,
    marked: bool,
) -> PageResult {
    let now = state.now();
    let person = state
        .saml_sps
        .admit(&pending.sp, account(user))
        .await
        .map_err(PageError::internal)?
        .ok_or_else(|| {
            tracing::info!(sp = %pending.sp.sp_id, user = %user.user_id, "SAML sign-on refused: not a member of the SP's team");
            PageError {
                status: StatusCode::FORBIDDEN,
                title: "You cannot sign in to this application",
                message: format!(
                    "{} is for the members of one team, and {} is not one of them.",
                    pending.sp.name, user.shown_email
                ),
                hint: Some("Ask the team's administrator for a join link, or sign out and sign in with another address."),
                action: Some((urls::DASHBOARD, "Go to your account")),
            }
        })?;
    if !marked
        && !state
            .saml_sps
            .answer(&pending.id, now)
            .await
            .map_err(PageError::internal)?
    {
        return Err(already_completed());
    }
    let sp = &pending.sp;
    let idp = state.saml_idp.get(now).map_err(PageError::failed)?;
    let (name_id, attributes) = (sp.name_id(&person), sp.attribute_values(&person));
    let session_index = sp.session_index(&user.sid);
    let issue = Issue {
        issuer: idp.entity_id(),
        audience: &sp.entity_id,
        destination: &pending.acs_url,
        in_response_to: pending.request_id.as_deref(),
        name_id_format: sp.name_id_format,
        name_id: &name_id,
        session_index: &session_index,
        authenticated_at: user.signed_in_at,
        session_expires_at: user.signed_in_at + state.login_settings.session_max_ttl,
        attributes: &attributes,
        sign: sp.sign,
        encrypt_to: sp.encrypt_cert.as_deref().map(|cert| (cert, sp.encryption)),
        now,
    };
    let response = idp.response(&issue).map_err(PageError::failed)?;
    tracing::info!(sp = %sp.sp_id, user = %user.user_id, initiated_by = if pending.request_id.is_some() { "sp" } else { "idp" }, "SAML sign-on answered");
    metrics::counter!("saml_sign_ons_total").increment(1);
    auto_post(
        state,
        &pending.acs_url,
        vec![("SAMLResponse", response)],
        pending.relay_state.as_deref(),
        &format!("Signing you in to {}…", sp.name),
    )
}

/// `GET|POST /saml/slo`: an SP-initiated `LogoutRequest`. The sessions it names by their
/// `SessionIndex`, and this browser's session when it is the same person's, end; the SP
/// gets a signed `LogoutResponse` over the binding it used.
pub(super) async fn slo_redirect(
    State(state): State<AppState>,
    jar: CookieJar,
    RawQuery(query): RawQuery,
) -> PageResult {
    logout(
        &state,
        jar,
        Inbound::Redirect(query.unwrap_or_default()),
        false,
    )
    .await
}

pub(super) async fn slo_post(
    State(state): State<AppState>,
    jar: CookieJar,
    form: Result<Form<MessageForm>, FormRejection>,
) -> PageResult {
    let Form(form) = form.map_err(|e| unreadable(&e.to_string()))?;
    let inbound = Inbound::Post {
        message: form.saml_request,
        relay_state: form.relay_state,
    };
    logout(&state, jar, inbound, true).await
}

async fn logout(state: &AppState, jar: CookieJar, inbound: Inbound, post: bool) -> PageResult {
    let now = state.now();
    let sp = sending_sp(state, &inbound).await?;
    let Some(slo_url) = sp.slo_url.clone() else {
        return Err(PageError {
            status: StatusCode::BAD_REQUEST,
            title: "This sign-out request cannot be completed",
            message: format!("{} has no logout URL registered with Latchkey.", sp.name),
            hint: Some(
                "Tell the application's administrator: its logout URL must be registered with Latchkey.",
            ),
            action: None,
        });
    };
    let idp = state.saml_idp.get(now).map_err(PageError::failed)?;
    let ask = idp
        .read_logout_request(&sp, inbound, now)
        .map_err(|e| refused(&sp, &e))?;
    state
        .saml_sps
        .received_logout(&sp, ask.id(), &slo_url, now)
        .await
        .map_err(|e| match e {
            HoldError::Replay => {
                tracing::warn!(sp = %sp.sp_id, "SAML logout request replayed");
                PageError {
                    status: StatusCode::BAD_REQUEST,
                    title: "This sign-out request was already used",
                    message: "A sign-out request works once. This one has been received before."
                        .into(),
                    hint: Some("Go back to the application and sign out again."),
                    action: None,
                }
            }
            HoldError::Database(e) => PageError::internal(e),
        })?;
    let browser = current_user(state, &jar).await?;
    let mut jar = jar;
    if let Some((secret, user)) = &browser {
        // This browser's session ends when the request names its person and, for an SP
        // that does not sign its requests, also its SessionIndex, which only that SP was
        // given: nobody else can end a session by knowing an address.
        let names_session = ask.session_indexes.contains(&sp.session_index(&user.sid));
        let ended = match &ask.name_id {
            Some(name_id) if sp.signs_requests || names_session => state
                .saml_sps
                .admit(&sp, account(user))
                .await
                .map_err(PageError::internal)?
                .is_some_and(|person| sp.name_id(&person) == *name_id),
            _ => false,
        };
        if ended {
            crate::web::extract::revoke_session(state, secret).await?;
            jar = jar.add(state.cookies.removal(crate::web::cookies::Jar::Session));
        }
    }
    // Sessions named by their index end wherever they are, signed requests only: an
    // unsigned one could name anyone's.
    if sp.signs_requests
        && !ask.session_indexes.is_empty()
        && let Some(name_id) = &ask.name_id
        && let Some(user_id) = state
            .saml_sps
            .user_named(&sp, name_id)
            .await
            .map_err(PageError::internal)?
    {
        let indexes = &ask.session_indexes;
        state
            .login
            .sessions()
            .end_matching(
                &user_id,
                |sid| indexes.contains(&sp.session_index(sid)),
                now,
            )
            .await
            .map_err(PageError::internal)?;
    }
    tracing::info!(sp = %sp.sp_id, "SAML logout answered");
    match idp
        .logout_response(&sp, &ask, post)
        .map_err(PageError::failed)?
    {
        Outgoing::Redirect(url) => Ok((jar, Redirect::to(&url)).into_response()),
        Outgoing::Post { action, fields } => {
            let page = auto_post_fields(state, &action, &fields, "Signing you out…")?;
            Ok((jar, page).into_response())
        }
    }
}

/// What an assertion may say of the person signed in.
fn account(user: &latchkey_login::SessionUser) -> Account {
    Account {
        user_id: user.user_id.clone(),
        email: user.email.clone(),
        name: user.name.clone(),
        given_name: user.given_name.clone(),
        family_name: user.family_name.clone(),
    }
}

/// Whether a session may sign in to `sp`: one an integration's token opened speaks for that
/// integration's team only, as it does for OIDC clients; for any other SP the person signs
/// in themselves.
fn speaks_for(user: &latchkey_login::SessionUser, sp: &ServiceProvider) -> bool {
    user.opened_by.is_none() || user.team_id.as_ref() == Some(&sp.team_id)
}

/// The registered SP that sent a message, by the issuer it names.
async fn sending_sp(state: &AppState, inbound: &Inbound) -> Result<ServiceProvider, PageError> {
    let issuer = peek_issuer(inbound).map_err(|e| unreadable(&e.to_string()))?;
    state
        .saml_sps
        .by_entity_id(&issuer)
        .await
        .map_err(PageError::internal)?
        .ok_or_else(|| {
            tracing::warn!(%issuer, "SAML request from an unknown service provider");
            unknown_sp()
        })
}

fn already_completed() -> PageError {
    PageError {
        status: StatusCode::BAD_REQUEST,
        title: "This sign-in request was already completed",
        message: "It was answered in another tab or window.".into(),
        hint: Some("Go back to the application: you may already be signed in."),
        action: None,
    }
}

fn unknown_sp() -> PageError {
    PageError {
        status: StatusCode::BAD_REQUEST,
        title: "This application is not registered",
        message: "The sign-in request comes from an application Latchkey does not know.".into(),
        hint: Some(
            "Tell the application's administrator: a team administrator registers it with Latchkey, on the integrations page.",
        ),
        action: None,
    }
}

fn unreadable(why: &str) -> PageError {
    PageError {
        status: StatusCode::BAD_REQUEST,
        title: "This sign-in request cannot be read",
        message: format!("The request is malformed: {why}."),
        hint: Some(
            "Go back to the application and try again, or tell its administrator about this page.",
        ),
        action: None,
    }
}

fn refused(sp: &ServiceProvider, error: &RequestError) -> PageError {
    tracing::warn!(sp = %sp.sp_id, %error, "SAML request refused");
    match error {
        // Signed, but no certificate is registered to check it with.
        RequestError::Signature if !sp.signs_requests => PageError {
            status: StatusCode::BAD_REQUEST,
            title: "This sign-in request cannot be checked",
            message: format!(
                "{} signs its requests, and Latchkey has no certificate of it to check them with.",
                sp.name
            ),
            hint: Some(
                "Tell the team's administrator: register the application's signing certificate with it (its metadata has it).",
            ),
            action: None,
        },
        RequestError::Signature => PageError {
            status: StatusCode::BAD_REQUEST,
            title: "This sign-in request is not signed by the application",
            message: format!(
                "{} signs its requests, and this one's signature is missing or does not match its certificate.",
                sp.name
            ),
            hint: Some(
                "Go back to the application and try again. If this keeps happening, its certificate may have changed: tell its administrator.",
            ),
            action: None,
        },
        other => unreadable(&other.to_string()),
    }
}

/// A signed response with only a status, posted to a registered ACS URL.
fn post_status(
    state: &AppState,
    acs_url: &str,
    in_response_to: Option<&str>,
    relay_state: Option<&str>,
    status: (&str, &str),
) -> PageResult {
    let idp = state.saml_idp.get(state.now()).map_err(PageError::failed)?;
    let response = idp
        .status_response(acs_url, in_response_to, status, state.now())
        .map_err(PageError::failed)?;
    auto_post(
        state,
        acs_url,
        vec![("SAMLResponse", response)],
        relay_state,
        "Returning you to the application…",
    )
}

fn auto_post(
    state: &AppState,
    action: &str,
    mut fields: Vec<(&str, String)>,
    relay_state: Option<&str>,
    title: &str,
) -> PageResult {
    if let Some(relay_state) = relay_state {
        fields.push(("RelayState", relay_state.to_owned()));
    }
    let fields: Vec<(String, String)> = fields
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect();
    auto_post_fields(state, action, &fields, title)
}

#[derive(Serialize)]
struct PostView<'a> {
    title: &'a str,
    message: &'a str,
    button: &'a str,
    action: &'a str,
    fields: &'a [(String, String)],
}

/// The page that posts `fields` to `action`: at once with the one script the page allows,
/// or with its button without JavaScript.
fn auto_post_fields(
    state: &AppState,
    action: &str,
    fields: &[(String, String)],
    title: &str,
) -> PageResult {
    let view = PostView {
        title,
        message: "Latchkey is sending you back to the application.",
        button: "Continue",
        action,
        fields,
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
    Ok((
        [
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (header::CONTENT_SECURITY_POLICY, policy),
        ],
        axum::response::Html(page),
    )
        .into_response())
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

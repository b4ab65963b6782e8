//! `GET|POST /sso/jwt/teams/{team}` (a team's own) and `GET|POST /sso/jwt` (shared by every
//! team): an integration opens Latchkey in the agent's browser (often inside an iframe of its
//! own) with a short JWT it signed naming the agent; the agent is signed in with no second
//! login. No CSRF token on the form: the signed, single-use token is what authenticates it,
//! and it is posted from the integration's site by design. Where that would replace the
//! browser's own session, the person is asked first on a page of ours (`sso_jwt_confirm`),
//! whose answer is a CSRF-checked form.

use axum::Extension;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use latchkey_core::TeamId;
use latchkey_core::secret::SecretToken;
use latchkey_login::{Requester, Resume};
use latchkey_oidc::federation::{BrowserOutcome, BrowserRequest, BrowserSignOn, SignOnRefused};
use serde::Deserialize;

use super::sso_jwt_confirm::{self, Decision};
use crate::state::AppState;
use crate::web::cookies::Jar;
use crate::web::csrf;
use crate::web::error::PageError;
use crate::web::extract::current_user;
use crate::web::framing::{self, FramePermit};
use latchkey_core::urls;

/// The longest query string taken: a longer token must be posted (proxies and browsers cut
/// URLs past a few kilobytes, and the token would sit in their logs).
const LONGEST_QUERY: usize = 8 * 1024;
/// The longest token taken from a form.
const LONGEST_TOKEN: usize = 16 * 1024;

#[derive(Deserialize)]
pub(super) struct SignOnParams {
    #[serde(default)]
    pub(super) token: String,
    /// A path on this origin to land on.
    pub(super) return_to: Option<String>,
    /// A pending request to continue.
    pub(super) request: Option<String>,
    /// The person's answer on the page that asked before replacing their session (a form
    /// only).
    #[serde(default)]
    decision: Option<Decision>,
    /// That page's form token.
    #[serde(default)]
    csrf: String,
}

/// `GET /sso/jwt?token=JWT[&return_to=/path][&request=ID]`.
pub(super) async fn sign_on_get(
    State(state): State<AppState>,
    Extension(permit): Extension<FramePermit>,
    from: Requester,
    jar: CookieJar,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, PageError> {
    let params = query(&uri)?;
    sign_on(&state, &permit, &from, jar, &headers, params, None).await
}

/// `GET /sso/jwt/teams/{team}?token=JWT[&return_to=/path][&request=ID]`.
pub(super) async fn team_sign_on_get(
    State(state): State<AppState>,
    Extension(permit): Extension<FramePermit>,
    Path(team): Path<TeamId>,
    from: Requester,
    jar: CookieJar,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, PageError> {
    let params = query(&uri)?;
    sign_on(&state, &permit, &from, jar, &headers, params, Some(team)).await
}

/// `POST /sso/jwt` with the form fields `token`, `return_to` and `request`.
pub(super) async fn sign_on_post(
    State(state): State<AppState>,
    Extension(permit): Extension<FramePermit>,
    from: Requester,
    jar: CookieJar,
    headers: HeaderMap,
    form: Result<Form<SignOnParams>, axum::extract::rejection::FormRejection>,
) -> Result<Response, PageError> {
    let Form(params) = form.map_err(|_| unreadable())?;
    sign_on(&state, &permit, &from, jar, &headers, params, None).await
}

/// `POST /sso/jwt/teams/{team}` with the form fields `token`, `return_to` and `request`.
pub(super) async fn team_sign_on_post(
    State(state): State<AppState>,
    Extension(permit): Extension<FramePermit>,
    Path(team): Path<TeamId>,
    from: Requester,
    jar: CookieJar,
    headers: HeaderMap,
    form: Result<Form<SignOnParams>, axum::extract::rejection::FormRejection>,
) -> Result<Response, PageError> {
    let Form(params) = form.map_err(|_| unreadable())?;
    sign_on(&state, &permit, &from, jar, &headers, params, Some(team)).await
}

/// The parameters of a sign-on by GET. Only a form may answer the page that asks before
/// replacing a session.
fn query(uri: &Uri) -> Result<SignOnParams, PageError> {
    if uri.query().map_or(0, str::len) > LONGEST_QUERY {
        tracing::warn!(reason = "query over 8 KB", "browser sign-on refused");
        return Err(PageError {
            status: StatusCode::URI_TOO_LONG,
            title: "This sign-on link is too long",
            message: "The token in this link is longer than 8 KB, more than browsers and proxies keep in an address.".into(),
            hint: Some("If you build this integration: POST the token to your team's sign-on URL as the form field token instead, or make it smaller."),
            action: Some((urls::LOGIN, "Sign in with your email address")),
        });
    }
    let Query(mut params) = Query::<SignOnParams>::try_from_uri(uri).map_err(|_| unreadable())?;
    params.decision = None;
    Ok(params)
}

async fn sign_on(
    state: &AppState,
    permit: &FramePermit,
    from: &Requester,
    jar: CookieJar,
    headers: &HeaderMap,
    params: SignOnParams,
    team: Option<TeamId>,
) -> Result<Response, PageError> {
    let token = params.token.trim();
    if token.is_empty() || token.len() > LONGEST_TOKEN {
        return Err(refused(
            "no token was given (the token parameter is empty or over 16 KB)",
        ));
    }
    let federation = state.provider.federation();
    if let Some(decision) = params.decision {
        csrf::check(&jar, headers, &params.csrf, state.cookies, &state.issuer)?;
        if decision == Decision::Cancel {
            federation
                .decline_in_browser(token, team.as_ref(), state.now())
                .await;
            return Ok(Redirect::to(urls::DASHBOARD).into_response());
        }
    }
    let framed = framing::framed(headers);
    // Inside a frame the browser sends the frame's own partitioned cookie, never the
    // person's top-level session: only a top-level session is asked about.
    let current = match framed {
        true => None,
        false => current_user(state, &jar).await?.map(|(_, user)| user),
    };
    let request = BrowserRequest {
        token,
        team: team.as_ref(),
        framed,
        framable: state.cookies.framable,
        current: current.as_ref(),
        confirmed: params.decision == Some(Decision::Continue),
    };
    let outcome = federation
        .sign_on_in_browser(request, from, state.login.sessions(), state.now())
        .await;
    match outcome {
        Ok(BrowserOutcome::SignedOn(signed_on)) => {
            Ok(signed_in(state, permit, jar, framed, &params, signed_on).await)
        }
        Ok(BrowserOutcome::Ask(question)) => {
            sso_jwt_confirm::page(state, jar, &question, &params, team.as_ref())
        }
        Err(SignOnRefused::Check(why)) => {
            tracing::warn!(reason = %why, framed, "browser sign-on refused");
            if framed {
                // The integrator sees why inside their own frame.
                permit.allow(
                    &federation
                        .frame_origins_named_by(token, team.as_ref())
                        .await
                        .join(" "),
                );
            }
            Err(refused(&why))
        }
        Err(SignOnRefused::Unavailable) => Err(PageError::database_unavailable()),
        Err(SignOnRefused::Internal) => Err(PageError::failed("browser sign-on failed")),
    }
}

/// The browser signed in: its previous session ended, the new one's cookies set (inside a
/// frame, partitioned ones), and on to where the sign-on said.
async fn signed_in(
    state: &AppState,
    permit: &FramePermit,
    jar: CookieJar,
    framed: bool,
    params: &SignOnParams,
    signed_on: BrowserSignOn,
) -> Response {
    super::verify::end_previous_session(state, &jar).await;
    let cookie = |jar: Jar, value: String| {
        match framed {
            true => state.cookies.make_framed(jar, value.clone()),
            false => None,
        }
        .unwrap_or_else(|| state.cookies.make(jar, value))
    };
    // Inside a frame the form token lives in the frame's partition too, or no form there
    // could be sent.
    let jar = jar
        .add(cookie(Jar::Session, signed_on.session.expose().to_owned()))
        .add(cookie(
            Jar::Csrf,
            SecretToken::generate().expose().to_owned(),
        ));
    if framed {
        permit.allow(&signed_on.frame_origins.join(" "));
    }
    let next = match params.request.as_deref().and_then(Resume::parse) {
        Some(resume) => resume.path(),
        None => params
            .return_to
            .as_deref()
            .and_then(|raw| local_path(&state.issuer, raw))
            .unwrap_or_else(|| urls::DASHBOARD.to_owned()),
    };
    (jar, Redirect::to(&next)).into_response()
}

/// `return_to` as a path on this origin, or `None` for anything that could leave it:
/// `//host`, `/\host` (browsers read a backslash as a slash), a scheme, or control characters.
fn local_path(issuer: &latchkey_core::Issuer, raw: &str) -> Option<String> {
    if !raw.starts_with('/')
        || raw.starts_with("//")
        || raw.contains('\\')
        || raw.chars().any(char::is_control)
    {
        return None;
    }
    let base = url::Url::parse(issuer.as_str()).ok()?;
    let target = base.join(raw).ok()?;
    // Checked again once resolved: `/.//host` and `/a/..//host` become `//host`.
    if target.origin() != base.origin() || target.path().starts_with("//") {
        return None;
    }
    Some(match target.query() {
        Some(query) => format!("{}?{query}", target.path()),
        None => target.path().to_owned(),
    })
}

/// The page for a token that failed a check, naming the check for whoever builds the
/// integration.
fn refused(why: &str) -> PageError {
    PageError {
        status: StatusCode::UNAUTHORIZED,
        title: "Sign-on refused",
        message: format!(
            "Latchkey could not sign you in with the token this page was opened with: {why}."
        ),
        hint: Some(
            "If you build this integration, fix what the sentence names and try with a new token. Otherwise sign in with your email address, or tell your administrator.",
        ),
        action: Some((urls::LOGIN, "Sign in with your email address")),
    }
}

fn unreadable() -> PageError {
    PageError {
        status: StatusCode::BAD_REQUEST,
        title: "This sign-on could not be read",
        message: "The request does not carry the fields token, return_to and request as expected."
            .into(),
        hint: Some(
            "If you build this integration: post token (and optionally return_to or request) as a form to your team's sign-on URL.",
        ),
        action: Some((urls::LOGIN, "Sign in with your email address")),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn return_to_stays_on_this_origin() {
        let issuer = latchkey_core::Issuer::parse("https://id.example.com").unwrap();
        let local = |raw| local_path(&issuer, raw);
        assert_eq!(local("/dashboard").as_deref(), Some("/dashboard"));
        assert_eq!(
            local("/dashboard/profile?x=1").as_deref(),
            Some("/dashboard/profile?x=1")
        );
        assert_eq!(local("/a/../dashboard").as_deref(), Some("/dashboard"));
        for bad in [
            "//evil.example",
            "https://evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "dashboard",
            "/\tdashboard",
            "javascript:alert(1)",
            "",
            "/.//evil.example",
            "/a/..//evil.example",
            "/%2e//evil.example",
        ] {
            assert_eq!(local(bad), None, "{bad:?}");
        }
    }
}

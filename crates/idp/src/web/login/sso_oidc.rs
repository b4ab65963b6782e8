//! Signing in through a team's own identity provider: `GET /sso/oidc/start` sends the browser
//! there, with the state bound to it by a cookie; `GET /sso/oidc/callback` is where the
//! provider sends it back. A refused sign-in shows what went wrong and starts no session.

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use latchkey_connections::{Callback, Reauthentication, SignInFailure};
use latchkey_core::{ConnectionId, Email};
use latchkey_login::{Requester, Resume, SignedIn};
use serde::Deserialize;

use crate::state::AppState;
use crate::web::cookies::Jar;
use crate::web::error::PageError;
use crate::web::extract::CsrfForm;
use latchkey_core::urls;

#[derive(Deserialize)]
pub(super) struct StartForm {
    #[serde(default)]
    connection: String,
    /// The address the person typed, passed on so they need not type it again upstream.
    login_hint: Option<String>,
    /// A pending authorization request that signing in continues.
    request: Option<String>,
}

/// `POST /sso/oidc/start` with `connection`, and `login_hint` and `request` if any. A form of
/// Latchkey's own pages (its CSRF token checked): another site cannot start a sign-in that
/// would end with this browser signed in as someone the other site chose.
pub(super) async fn start(
    State(state): State<AppState>,
    jar: CookieJar,
    CsrfForm(query): CsrfForm<StartForm>,
) -> Result<Response, PageError> {
    let id = ConnectionId::from(query.connection.trim());
    let hint = query
        .login_hint
        .as_deref()
        .and_then(|raw| Email::parse(raw).ok());
    let demand = demand_of(&state, query.request.as_deref()).await;
    let started = state
        .connections
        .begin(
            &id,
            hint.as_ref(),
            query.request.as_deref(),
            demand,
            state.now(),
        )
        .await
        .map_err(failure_page)?;
    let jar = jar.add(
        state
            .cookies
            .make(Jar::Upstream, started.state.expose().to_owned()),
    );
    Ok((jar, Redirect::to(&started.redirect)).into_response())
}

/// The re-authentication the authorization request the sign-in continues demands, to pass on
/// to the team's provider; none for any other sign-in.
async fn demand_of(state: &AppState, request: Option<&str>) -> Reauthentication {
    let Some(Resume::Authorization(id)) = request.and_then(Resume::parse) else {
        return Reauthentication::default();
    };
    let demand = state
        .provider
        .pending_sign_in_demand(&id, state.now())
        .await
        .unwrap_or_default();
    Reauthentication {
        login: demand.login,
        max_age: demand.max_age,
    }
}

/// `GET /sso/oidc/callback/{connection}?code=…&state=…[&iss=…]` or `?error=…&state=…`.
pub(super) async fn callback(
    State(state): State<AppState>,
    Path(connection): Path<String>,
    from: Requester,
    jar: CookieJar,
    uri: Uri,
) -> Result<Response, PageError> {
    let Query(callback) = Query::<Callback>::try_from_uri(&uri)
        .map_err(|_| failure_page(SignInFailure::StateMismatch))?;
    let bound = jar
        .get(state.cookies.name(Jar::Upstream))
        .map(|c| c.value().to_owned());
    let jar = jar.add(state.cookies.removal(Jar::Upstream));
    let outcome = state
        .connections
        .finish(
            &connection,
            callback,
            bound.as_deref(),
            &from,
            state.login.sessions(),
            state.now(),
        )
        .await;
    match outcome {
        Ok(signed_in) => {
            let signed_in = SignedIn {
                user_id: signed_in.user_id,
                email: signed_in.email,
                session: signed_in.session,
                continues: signed_in.continues,
            };
            Ok(super::verify::start_session(&state, jar, signed_in).await)
        }
        Err(failure) => {
            tracing::warn!(reason = %failure, "sign-in through a connection refused");
            // The cookie goes either way: a failed sign-in is over.
            Ok((jar, failure_page(failure)).into_response())
        }
    }
}

/// The page for a sign-in that did not happen: what went wrong, in words for the person and
/// the administrator, and a way forward. None of these started a session.
fn failure_page(failure: SignInFailure) -> PageError {
    // Back to the sign-in page: a link by email where the address allows one (an address at
    // a domain the team has proven comes back here instead).
    let email_instead = Some((urls::LOGIN, "Back to sign-in"));
    let (status, title, hint, action) = match &failure {
        SignInFailure::UnknownConnection | SignInFailure::Removed => (
            StatusCode::NOT_FOUND,
            "This sign-in option no longer exists",
            Some(
                "Your team may have changed how its people sign in. Sign in with your email address instead.",
            ),
            email_instead,
        ),
        SignInFailure::Unreachable(_) => (
            StatusCode::BAD_GATEWAY,
            "Your identity provider did not answer",
            Some("Try again in a minute. If it keeps happening, tell your administrator."),
            email_instead,
        ),
        SignInFailure::StateMismatch | SignInFailure::Expired | SignInFailure::OtherConnection => (
            StatusCode::BAD_REQUEST,
            "This sign-in cannot be completed",
            Some("Start again from the sign-in page, in this browser."),
            Some((urls::LOGIN, "Start again")),
        ),
        SignInFailure::Refused(_) => (
            StatusCode::FORBIDDEN,
            "Your identity provider did not sign you in",
            Some(
                "If you cancelled, start again. Otherwise your administrator can see why at the identity provider.",
            ),
            Some((urls::LOGIN, "Start again")),
        ),
        SignInFailure::NoAuthTime | SignInFailure::StaleAuthentication => (
            StatusCode::FORBIDDEN,
            "Your identity provider did not sign you in again",
            Some(
                "The application asked you to sign in again. Start again from the application; if this keeps happening, your administrator can check that the identity provider asks for your credentials again and says when (auth_time).",
            ),
            Some((urls::LOGIN, "Start again")),
        ),
        SignInFailure::MissingEmail(_)
        | SignInFailure::UnverifiedEmail(_)
        | SignInFailure::OutsideDomains(_)
        | SignInFailure::NoLongerProven(_)
        | SignInFailure::HostedDomain { .. } => (
            StatusCode::FORBIDDEN,
            "Your identity provider's answer cannot sign you in",
            Some(
                "Your administrator can fix what the sentence names at the identity provider or in the connection. You can sign in with a link by email meanwhile.",
            ),
            email_instead,
        ),
        SignInFailure::WrongIssuer(_)
        | SignInFailure::UserInfoSubject
        | SignInFailure::UserInfo(_)
        | SignInFailure::NoCode
        | SignInFailure::NoIdToken
        | SignInFailure::IdToken(_) => (
            StatusCode::BAD_GATEWAY,
            "Your identity provider's answer could not be trusted",
            Some(
                "Nothing was signed in. Tell your administrator: the connection or the identity provider needs a look.",
            ),
            email_instead,
        ),
        SignInFailure::Internal => return PageError::failed("upstream sign-in failed"),
    };
    PageError {
        status,
        title,
        message: format!("The sign-in stopped: {failure}."),
        hint,
        action,
    }
}

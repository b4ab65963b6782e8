//! What page handlers take from a request, checked once here: who is asking, who is signed
//! in, and a form that passed the CSRF check.

use axum::extract::{Form, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use latchkey_teams::Actor;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::state::AppState;
use crate::web::client_address;
use crate::web::cookies::Jar;
use crate::web::csrf;
use crate::web::error::PageError;
use crate::web::framing::{self, FramePermit};
use latchkey_core::secret::SecretToken;
use latchkey_core::urls;
use latchkey_login::{Requester, SessionUser};

/// Who is asking: the client's address (behind a trusted proxy, the one it names) and the browser's own name for itself, told in
/// mail and kept in the audit log.
impl FromRequestParts<AppState> for Requester {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let ip =
            client_address::of_request(&parts.extensions, &parts.headers, &state.trusted_proxies)
                .map_or_else(|| "unknown".to_owned(), |address| address.to_string());
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("unknown browser")
            .to_owned();
        let device = CookieJar::from_headers(&parts.headers)
            .get(state.cookies.name(Jar::Device))
            .map(|cookie| cookie.value().to_owned())
            .filter(|note| note.len() <= MAX_DEVICE_NOTE);
        Ok(Requester {
            ip,
            user_agent,
            device,
        })
    }
}

/// A device note is a short JWT; anything longer is not one and is not read.
const MAX_DEVICE_NOTE: usize = 2048;

/// The person signed in on this request, if any, with their session's secret.
pub(crate) async fn current_user(
    state: &AppState,
    jar: &CookieJar,
) -> Result<Option<(SecretToken, SessionUser)>, PageError> {
    let Some(secret) = jar
        .get(state.cookies.name(Jar::Session))
        .and_then(|c| SecretToken::from_client(c.value()))
    else {
        return Ok(None);
    };
    let user = state
        .login
        .sessions()
        .current(&secret, state.now())
        .await
        .map_err(PageError::internal)?;
    Ok(user.map(|u| (secret, u)))
}

/// Ends the session whose secret the browser sent.
pub(crate) async fn revoke_session(
    state: &AppState,
    secret: &SecretToken,
) -> Result<(), PageError> {
    state
        .login
        .sessions()
        .revoke(secret, state.now())
        .await
        .map_err(PageError::internal)
}

/// A session an integration's token opened works in that issuer's team only: the person's
/// other teams are refused, whatever the page or form names.
pub(crate) fn works_in(user: &SessionUser, team: &latchkey_core::TeamId) -> Result<(), PageError> {
    if user.acts_for(team) {
        return Ok(());
    }
    Err(PageError {
        status: StatusCode::FORBIDDEN,
        title: "This sign-in is for one team",
        message: "An integration signed you in for its own team, so this session cannot work in another one.".into(),
        hint: Some("Sign out, then sign in with your email address to work in your other teams."),
        action: Some((urls::DASHBOARD, "Back to your account")),
    })
}

/// A page for signed-in people: anyone else is sent to sign in.
pub(crate) struct CurrentUser {
    pub session: SecretToken,
    pub user: SessionUser,
}

impl CurrentUser {
    /// The person as the audit log records them.
    pub fn actor(&self, from: &Requester) -> Actor {
        Actor::person(
            &self.user.user_id,
            &self.user.email,
            &from.ip,
            &from.user_agent,
        )
    }

    async fn from_jar(jar: &CookieJar, state: &AppState) -> Result<Self, Response> {
        match current_user(state, jar).await {
            Ok(Some((session, user))) => Ok(Self { session, user }),
            Ok(None) => Err(Redirect::to(urls::LOGIN).into_response()),
            Err(page) => Err(page.into_response()),
        }
    }
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let current = Self::from_jar(&CookieJar::from_headers(&parts.headers), state).await?;
        // A session opened inside an integration's frame: its pages may be framed there.
        if let Some(origins) = &current.user.frame_ancestors
            && framing::maybe_framed(&parts.headers)
            && let Some(permit) = parts.extensions.get::<FramePermit>()
        {
            permit.allow(origins);
        }
        Ok(current)
    }
}

/// A signed-in person's form. The CSRF check comes first, so a forged form is refused as one
/// whether or not the browser sent its session along.
pub(crate) struct SignedInForm<T> {
    pub user: CurrentUser,
    pub form: T,
}

impl<T: DeserializeOwned + Send> FromRequest<AppState> for SignedInForm<T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let jar = CookieJar::from_headers(request.headers());
        let CsrfForm(form) = CsrfForm::<T>::from_request(request, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let user = CurrentUser::from_jar(&jar, state).await?;
        Ok(Self { user, form })
    }
}

/// A form that passed the CSRF check (`csrf`), with its own fields in `T`.
pub(crate) struct CsrfForm<T>(pub T);

#[derive(Deserialize)]
struct WithToken<T> {
    #[serde(default)]
    csrf: String,
    #[serde(flatten)]
    fields: T,
}

impl<T: DeserializeOwned + Send> FromRequest<AppState> for CsrfForm<T> {
    type Rejection = PageError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (parts, body) = request.into_parts();
        let jar = CookieJar::from_headers(&parts.headers);
        let headers = parts.headers.clone();
        let request = Request::from_parts(parts, body);
        let Form(form) = Form::<WithToken<T>>::from_request(request, state)
            .await
            .map_err(|rejection| unreadable(&rejection))?;
        csrf::check(&jar, &headers, &form.csrf, state.cookies, &state.issuer)?;
        Ok(Self(form.fields))
    }
}

/// A form whose body could not be read as one.
fn unreadable(rejection: &axum::extract::rejection::FormRejection) -> PageError {
    tracing::info!(%rejection, "form refused");
    PageError {
        status: StatusCode::BAD_REQUEST,
        title: "This form could not be read",
        message: "What was sent does not match the form on the page.".into(),
        hint: Some("Go back, reload the page and try again."),
        action: Some((urls::DASHBOARD, "Back to your account")),
    }
}

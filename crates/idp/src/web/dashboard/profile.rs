//! `/dashboard/profile`: the person's name, as applications asking for the `profile` scope
//! see it. Once edited here, an integration's name claim no longer changes it.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use axum_extra::extract::CookieJar;
use latchkey_teams::PersonName;
use serde::{Deserialize, Serialize};

use crate::state::AppState;
use crate::web::csrf;
use crate::web::error::PageError;
use crate::web::extract::{CurrentUser, SignedInForm};
use crate::web::page::{PageResult, form_status, html};
use latchkey_core::urls;

#[derive(Deserialize)]
pub(super) struct ProfileQuery {
    done: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct NameForm {
    #[serde(default)]
    name: String,
}

#[derive(Serialize)]
struct ProfileView<'a> {
    csrf: &'a str,
    email: &'a str,
    name: &'a str,
    given_name: Option<String>,
    family_name: Option<String>,
    error: Option<&'a str>,
    saved: bool,
}

/// `GET /dashboard/profile`.
pub(super) async fn page(
    State(state): State<AppState>,
    CurrentUser { user, .. }: CurrentUser,
    jar: CookieJar,
    Query(query): Query<ProfileQuery>,
) -> PageResult {
    let (jar, csrf) = csrf::token(jar, state.cookies);
    let name = user.name.as_deref().unwrap_or_default();
    let parsed = PersonName::parse(name);
    let view = ProfileView {
        csrf: &csrf,
        email: &user.shown_email,
        name,
        given_name: parsed.as_ref().map(|p| p.given_name.clone()),
        family_name: parsed.and_then(|p| p.family_name),
        error: None,
        saved: query.done.as_deref() == Some("saved"),
    };
    Ok((jar, html(&state, StatusCode::OK, "profile.html", &view)?).into_response())
}

/// `POST /dashboard/profile`: sets the name; an unusable one shows the form again with what
/// was typed, and saves nothing.
pub(super) async fn save(
    State(state): State<AppState>,
    jar: CookieJar,
    SignedInForm { user, form }: SignedInForm<NameForm>,
) -> PageResult {
    let Some(name) = PersonName::parse(&form.name) else {
        let error = "Type your name: up to 200 characters, on one line.";
        let (jar, csrf) = csrf::token(jar, state.cookies);
        let view = ProfileView {
            csrf: &csrf,
            email: &user.user.shown_email,
            name: &form.name,
            given_name: None,
            family_name: None,
            error: Some(error),
            saved: false,
        };
        return Ok((
            jar,
            html(&state, form_status(Some(error)), "profile.html", &view)?,
        )
            .into_response());
    };
    latchkey_teams::set_name(
        &*state.db.write().await,
        user.user.user_id.as_str(),
        &name,
        state.now(),
    )
    .await
    .map_err(PageError::internal)?;
    tracing::info!(user = %user.user.user_id, "name changed");
    Ok(Redirect::to(&format!("{}?done=saved", urls::PROFILE)).into_response())
}

//! `/dashboard/profile`: the person's name, as applications asking for the `profile` scope
//! see it. Once edited here, an integration's name claim no longer changes it. A session that
//! speaks for one team only cannot change it (`SessionUser::may_change_account`): the page
//! says so and shows the name.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use axum_extra::extract::CookieJar;
use latchkey_login::AccountError;
use latchkey_teams::PersonName;
use serde::{Deserialize, Serialize};

use crate::state::AppState;
use crate::web::console::{self, Section};
use crate::web::csrf;
use crate::web::error::PageError;
use crate::web::extract::{CurrentUser, SignedInForm};
use crate::web::page::{PageResult, form_status};
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
    /// Whether this session may change the name (see the module's comment).
    editable: bool,
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
        editable: user.may_change_account(),
    };
    let page = console::page(
        &state,
        &user,
        Section::Account,
        StatusCode::OK,
        "profile.html",
        &view,
    )
    .await?;
    Ok((jar, page).into_response())
}

/// `POST /dashboard/profile`: sets the name; an unusable one shows the form again with what
/// was typed, and saves nothing.
pub(super) async fn save(
    State(state): State<AppState>,
    jar: CookieJar,
    SignedInForm { user, form }: SignedInForm<NameForm>,
) -> PageResult {
    if !user.user.may_change_account() {
        return Err(account_refused(AccountError::BoundToTeam));
    }
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
            editable: true,
        };
        let status = form_status(Some(error));
        let page = console::page(
            &state,
            &user.user,
            Section::Account,
            status,
            "profile.html",
            &view,
        )
        .await?;
        return Ok((jar, page).into_response());
    };
    state
        .login
        .sessions()
        .rename_account(&user.user, &name, state.now())
        .await
        .map_err(account_refused)?;
    tracing::info!(user = %user.user.user_id, "name changed");
    Ok(Redirect::to(&format!("{}?done=saved", urls::PROFILE)).into_response())
}

/// The page for a change this session may not make to the account, or a failure.
pub(super) fn account_refused(error: AccountError) -> PageError {
    match error {
        AccountError::BoundToTeam => PageError {
            status: StatusCode::FORBIDDEN,
            title: "This sign-in is for one team",
            message: "An integration or your team's identity provider signed you in for one team only, so this session cannot change your account for your other teams.".into(),
            hint: Some(
                "You can sign out of this session. To change your name or sign out everywhere, sign in with your email address.",
            ),
            action: Some((urls::DASHBOARD, "Back to your account")),
        },
        AccountError::Database(error) => PageError::internal(error),
    }
}

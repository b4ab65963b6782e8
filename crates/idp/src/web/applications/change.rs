//! The forms of an application's page: edit it, give it a new secret (the old one kept for
//! the grace period chosen), remove it (once the box saying so is ticked).

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect};
use axum_extra::extract::CookieJar;
use latchkey_core::{TeamId, urls};
use latchkey_login::Requester;
use latchkey_oidc::{ApplicationError, Grace};
use serde::Deserialize;

use super::form::{ApplicationForm, FormView};
use super::show::{Shown, render};
use super::{applications, refused, team_of};
use crate::state::AppState;
use crate::web::extract::SignedInForm;
use crate::web::page::PageResult;

/// `POST …/{client}/secret`.
#[derive(Deserialize)]
pub(super) struct RotateForm {
    #[serde(default)]
    team: TeamId,
    #[serde(default)]
    grace: String,
    #[serde(default)]
    preset: String,
}

/// `POST …/{client}/remove`.
#[derive(Deserialize)]
pub(super) struct RemoveForm {
    #[serde(default)]
    team: TeamId,
    /// The checkbox: present when ticked.
    #[serde(default)]
    confirm: Option<String>,
}

/// The application's page, saying what was done.
fn back_to(team: &TeamId, id: &str, preset: &str, done: &str) -> PageResult {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("team", team.as_str())
        .append_pair("preset", preset)
        .append_pair("done", done)
        .finish();
    Ok(Redirect::to(&format!("{}?{query}", urls::application(id))).into_response())
}

/// `POST /dashboard/applications/{client}`.
pub(super) async fn update(
    State(state): State<AppState>,
    from: Requester,
    jar: CookieJar,
    Path(id): Path<String>,
    SignedInForm { user, form }: SignedInForm<ApplicationForm>,
) -> PageResult {
    let team = team_of(&user.user, Some(form.team.clone()))?;
    let apps = applications(&state);
    let actor = user.actor(&from);
    match apps
        .update(&team, &id, form.settings(), &actor, state.now())
        .await
    {
        Ok(_) => back_to(&team, &id, &form.preset, "updated"),
        Err(ApplicationError::Invalid { field, message }) => {
            let application = apps.get(&team, &id, &actor).await.map_err(refused)?;
            let shown = Shown {
                preset: form.preset.clone(),
                form: Some(FormView::typed(&form, field, message)),
                ..Shown::new(application)
            };
            render(&state, jar, &user.user, &team, shown).await
        }
        Err(other) => Err(refused(other)),
    }
}

/// `POST /dashboard/applications/{client}/secret`: the new secret is shown on the page this
/// answers, once.
pub(super) async fn rotate(
    State(state): State<AppState>,
    from: Requester,
    jar: CookieJar,
    Path(id): Path<String>,
    SignedInForm { user, form }: SignedInForm<RotateForm>,
) -> PageResult {
    let team = team_of(&user.user, Some(form.team.clone()))?;
    // No choice (a form from elsewhere) keeps nothing: the safe reading of a rotation.
    let grace = Grace::parse(&form.grace).unwrap_or(Grace::None);
    let rotated = applications(&state)
        .rotate_secret(&team, &id, grace, &user.actor(&from), state.now())
        .await
        .map_err(refused)?;
    let shown = Shown {
        preset: form.preset,
        secret: rotated.secret,
        notice: Some(match grace {
            Grace::None => "rotated-now",
            _ => "rotated",
        }),
        ..Shown::new(rotated.application)
    };
    render(&state, jar, &user.user, &team, shown).await
}

/// `POST /dashboard/applications/{client}/remove`.
pub(super) async fn remove(
    State(state): State<AppState>,
    from: Requester,
    jar: CookieJar,
    Path(id): Path<String>,
    SignedInForm { user, form }: SignedInForm<RemoveForm>,
) -> PageResult {
    let team = team_of(&user.user, Some(form.team.clone()))?;
    let apps = applications(&state);
    let actor = user.actor(&from);
    if form.confirm.is_none() {
        let application = apps.get(&team, &id, &actor).await.map_err(refused)?;
        let shown = Shown {
            remove_error: Some(
                "Tick the box to confirm: removing the application cannot be undone.",
            ),
            ..Shown::new(application)
        };
        return render(&state, jar, &user.user, &team, shown).await;
    }
    apps.remove(&team, &id, &actor, state.now())
        .await
        .map_err(refused)?;
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("team", team.as_str())
        .append_pair("done", "removed")
        .finish();
    Ok(Redirect::to(&format!("{}?{query}", urls::APPLICATIONS)).into_response())
}

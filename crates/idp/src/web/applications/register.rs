//! `/dashboard/applications/new`: a vendor's preset first, then the form it fills; once
//! registered, the application's page with its secret, shown this once.

use axum::extract::{Query, State};
use axum::response::IntoResponse;
use axum_extra::extract::CookieJar;
use latchkey_core::TeamId;
use latchkey_login::Requester;
use latchkey_oidc::ApplicationError;
use latchkey_oidc::presets::{self, Preset};
use latchkey_teams::Actor;
use serde::{Deserialize, Serialize};

use super::form::{ApplicationForm, FormView};
use super::show::{Shown, render};
use super::view::{Choice, choices};
use super::{applications, refused, team_of};
use crate::state::AppState;
use crate::web::console::{self, Section};
use crate::web::csrf;
use crate::web::extract::{CurrentUser, SignedInForm};
use crate::web::page::{PageResult, form_status};

#[derive(Deserialize, Default)]
pub(super) struct NewQuery {
    team: Option<TeamId>,
    preset: Option<String>,
}

#[derive(Serialize)]
struct NewView<'a> {
    csrf: &'a str,
    team_id: &'a TeamId,
    team_name: &'a str,
    choices: Vec<Choice>,
    saml_only: [&'static str; 2],
    /// The preset chosen, with its form; none: the choice comes first.
    preset: Option<PresetView>,
    form: Option<FormView>,
}

#[derive(Serialize)]
struct PresetView {
    key: &'static str,
    vendor: &'static str,
    guide: &'static str,
    redirect_hint: &'static str,
    note: &'static str,
}

impl From<&Preset> for PresetView {
    fn from(p: &Preset) -> Self {
        Self {
            key: p.key,
            vendor: p.vendor,
            guide: p.guide,
            redirect_hint: p.redirect_hint,
            note: p.note,
        }
    }
}

/// `GET /dashboard/applications/new`.
pub(super) async fn page(
    State(state): State<AppState>,
    CurrentUser { user, .. }: CurrentUser,
    jar: CookieJar,
    Query(query): Query<NewQuery>,
) -> PageResult {
    let team = team_of(&user, query.team)?;
    let preset = query.preset.as_deref().and_then(presets::preset);
    let form = preset.map(FormView::for_preset);
    show_form(&state, jar, &user, &team, preset, form).await
}

/// `POST /dashboard/applications/new`.
pub(super) async fn submit(
    State(state): State<AppState>,
    from: Requester,
    jar: CookieJar,
    SignedInForm { user, form }: SignedInForm<ApplicationForm>,
) -> PageResult {
    let team = team_of(&user.user, Some(form.team.clone()))?;
    let registered = applications(&state)
        .register(
            &team,
            form.settings(),
            form.public(),
            &user.actor(&from),
            state.now(),
        )
        .await;
    match registered {
        Ok(created) => {
            let shown = Shown {
                preset: form.preset.clone(),
                secret: created.secret,
                notice: Some("registered"),
                ..Shown::new(created.application)
            };
            render(&state, jar, &user.user, &team, shown).await
        }
        Err(ApplicationError::Invalid { field, message }) => {
            let preset = presets::preset(&form.preset).or_else(|| presets::preset("custom"));
            let typed = FormView::typed(&form, field, message);
            show_form(&state, jar, &user.user, &team, preset, Some(typed)).await
        }
        Err(other) => Err(refused(other)),
    }
}

/// The preset choice, or the form of the preset chosen (422 when it shows a refusal).
async fn show_form(
    state: &AppState,
    jar: CookieJar,
    user: &latchkey_login::SessionUser,
    team: &TeamId,
    preset: Option<&'static Preset>,
    form: Option<FormView>,
) -> PageResult {
    // Administrators only, as every action: a member is told so before filling anything.
    let me = Actor::person(&user.user_id, &user.email, "", "");
    applications(state).list(team, &me).await.map_err(refused)?;
    let membership = state
        .teams
        .open(team, &user.user_id)
        .await
        .map_err(|e| refused(e.into()))?;
    let (jar, csrf) = csrf::token(jar, state.cookies);
    let status = form_status(form.as_ref().and_then(|f| f.error.as_deref()));
    let view = NewView {
        csrf: &csrf,
        team_id: team,
        team_name: &membership.team.name,
        choices: choices(preset.map_or("", |p| p.key)),
        saml_only: presets::SAML_ONLY,
        preset: preset.map(PresetView::from),
        form,
    };
    let page = console::page(
        state,
        user,
        Section::Applications,
        status,
        "applications_new.html",
        &view,
    )
    .await?;
    Ok((jar, page).into_response())
}

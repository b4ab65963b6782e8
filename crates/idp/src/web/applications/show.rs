//! `GET /dashboard/applications/{client}`: an application's page: the values to paste into
//! the vendor's form (its secret only right after it was made), the discovery URL, and the
//! forms that edit it, rotate its secret and remove it.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use axum_extra::extract::CookieJar;
use latchkey_core::TeamId;
use latchkey_login::SessionUser;
use latchkey_oidc::Client;
use latchkey_oidc::Grace;
use latchkey_oidc::presets::Paste;
use latchkey_teams::Actor;
use serde::{Deserialize, Serialize};

use super::form::FormView;
use super::view::{Choice, When, choices, discovery, kind, preset_or_custom, values};
use super::{applications, refused, team_of};
use crate::state::AppState;
use crate::web::console::{self, Section};
use crate::web::csrf;
use crate::web::extract::CurrentUser;
use crate::web::page::PageResult;

/// The pages' policy, with the provider's own scripts allowed.
const WITH_COPY_SCRIPT: &str = "default-src 'none'; style-src 'self'; img-src 'self'; script-src 'self'; frame-ancestors 'none'; base-uri 'none'";

#[derive(Deserialize, Default)]
pub(super) struct ShowQuery {
    team: Option<TeamId>,
    preset: Option<String>,
    done: Option<String>,
}

/// What to show with an application.
pub(super) struct Shown {
    pub application: Client,
    /// The vendor whose form the values are for.
    pub preset: String,
    /// The secret just made: shown now, never again.
    pub secret: Option<String>,
    pub notice: Option<&'static str>,
    /// The edit form as typed, when it was refused.
    pub form: Option<FormView>,
    /// Why the removal was not done.
    pub remove_error: Option<&'static str>,
}

impl Shown {
    pub fn new(application: Client) -> Self {
        Self {
            application,
            preset: String::new(),
            secret: None,
            notice: None,
            form: None,
            remove_error: None,
        }
    }
}

#[derive(Serialize)]
struct GraceChoice {
    value: &'static str,
    label: &'static str,
}

#[derive(Serialize)]
struct ApplicationView<'a> {
    csrf: &'a str,
    team_id: &'a TeamId,
    team_name: &'a str,
    id: &'a str,
    name: &'a str,
    kind: &'static str,
    public: bool,
    redirect_uris: &'a [String],
    scopes: String,
    created: When,
    previous_secret_until: Option<When>,
    discovery_url: String,
    vendor: &'static str,
    choices: Vec<Choice>,
    values: Vec<Paste>,
    secret: Option<&'a str>,
    notice: Option<&'static str>,
    form: FormView,
    graces: Vec<GraceChoice>,
    remove_error: Option<&'static str>,
}

/// `GET /dashboard/applications/{client}`.
pub(super) async fn page(
    State(state): State<AppState>,
    CurrentUser { user, .. }: CurrentUser,
    jar: CookieJar,
    Path(id): Path<String>,
    Query(query): Query<ShowQuery>,
) -> PageResult {
    let team = team_of(&user, query.team)?;
    let me = Actor::person(&user.user_id, &user.email, "", "");
    let application = applications(&state)
        .get(&team, &id, &me)
        .await
        .map_err(refused)?;
    let shown = Shown {
        preset: query.preset.unwrap_or_default(),
        notice: match query.done.as_deref() {
            Some("updated") => Some("updated"),
            _ => None,
        },
        ..Shown::new(application)
    };
    render(&state, jar, &user, &team, shown).await
}

/// The application's page (422 when it shows a refused form).
pub(super) async fn render(
    state: &AppState,
    jar: CookieJar,
    user: &SessionUser,
    team: &TeamId,
    shown: Shown,
) -> PageResult {
    let membership = state
        .teams
        .open(team, &user.user_id)
        .await
        .map_err(|e| refused(e.into()))?;
    let (jar, csrf) = csrf::token(jar, state.cookies);
    let app = &shown.application;
    let preset = preset_or_custom(Some(shown.preset.as_str()));
    let refused_form = shown.form.is_some() || shown.remove_error.is_some();
    let view = ApplicationView {
        csrf: &csrf,
        team_id: team,
        team_name: &membership.team.name,
        id: app.id.as_str(),
        name: &app.name,
        kind: kind(app),
        public: app.is_public(),
        redirect_uris: &app.redirect_uris,
        scopes: app.scopes.to_vec().join(" "),
        created: app.created_at.into(),
        previous_secret_until: app.previous_secret_until(state.now()).map(When::from),
        discovery_url: discovery(&state.issuer),
        vendor: preset.vendor,
        choices: choices(preset.key),
        values: values(preset, &state.issuer, app, shown.secret.as_deref()),
        secret: shown.secret.as_deref(),
        notice: shown.notice,
        form: shown.form.unwrap_or_else(|| FormView::of(app, preset.key)),
        graces: Grace::ALL
            .iter()
            .map(|g| GraceChoice {
                value: g.as_str(),
                label: g.label(),
            })
            .collect(),
        remove_error: shown.remove_error,
    };
    let status = if refused_form {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let mut page = console::page(
        state,
        user,
        Section::Applications,
        status,
        "application.html",
        &view,
    )
    .await?;
    // This page alone runs a script of ours: the copy buttons (`/assets/copy.js`).
    page.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(WITH_COPY_SCRIPT),
    );
    Ok((jar, page).into_response())
}

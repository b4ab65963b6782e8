//! `/apps`: a member's application launcher. The team the session works in lists what its
//! members may open from here, each with one button that signs them in: its SAML
//! applications that allow a sign-on started at Latchkey (to `/saml/init`), and its OpenID
//! applications with a login URI (to that URI, with `iss` and `login_hint`, OpenID Connect
//! Core §4). The two lists are the domain crates' (`ServiceProviders::openable_by`,
//! `Clients::openable_by`); this handler only puts them side by side.

mod view;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use axum::routing::get;
use axum_extra::extract::CookieJar;
use latchkey_core::TeamId;
use latchkey_login::{Resume, SessionUser};
use latchkey_oidc::LauncherError;
use latchkey_saml::SamlError;

use crate::state::AppState;
use crate::web::console::{self, Section};
use crate::web::error::PageError;
use crate::web::extract::current_user;
use crate::web::page::PageResult;
use latchkey_core::urls;
use view::{AppTile, AppsView};

pub(super) fn routes() -> Router<AppState> {
    Router::new().route(urls::APPS, get(page))
}

/// `GET /apps`: the tiles of the applications the member may open, or a sentence saying
/// there are none yet (and, to an administrator, where to add them).
/// Someone not signed in is sent to sign in, and comes back here once they have.
async fn page(State(state): State<AppState>, jar: CookieJar) -> PageResult {
    let Some((_, user)) = current_user(&state, &jar).await? else {
        let login = urls::with_query(urls::LOGIN, &[("request", Resume::Launcher.as_str())]);
        return Ok(Redirect::to(&login).into_response());
    };
    let membership = match &user.team_id {
        Some(team) => state.teams.open(team, &user.user_id).await.ok(),
        None => None,
    };
    let tiles = match &membership {
        Some(membership) => tiles(&state, &membership.team.id, &user).await?,
        None => Vec::new(),
    };
    let view = AppsView::new(membership.as_ref(), tiles);
    console::page(
        &state,
        &user,
        Section::Apps,
        StatusCode::OK,
        "apps.html",
        &view,
    )
    .await
}

/// The team's applications the member may open, SAML and OpenID together, by name.
async fn tiles(
    state: &AppState,
    team: &TeamId,
    user: &SessionUser,
) -> Result<Vec<AppTile>, PageError> {
    let saml = match state.saml_sps.openable_by(team, &user.user_id).await {
        Ok(listed) => listed,
        // Removed from the team since the session began: nothing to open.
        Err(SamlError::Team(_)) => Vec::new(),
        Err(error) => return Err(PageError::internal(error)),
    };
    let openid = match state
        .provider
        .clients()
        .openable_by(team, &user.user_id, Some(&user.email), &state.issuer)
        .await
    {
        Ok(listed) => listed,
        Err(LauncherError::NotMember) => Vec::new(),
        Err(error) => return Err(PageError::internal(error)),
    };
    let mut tiles: Vec<AppTile> = saml.into_iter().map(AppTile::from).collect();
    tiles.extend(openid.into_iter().map(AppTile::from));
    tiles.sort_by_key(|tile| tile.name.to_lowercase());
    Ok(tiles)
}

//! What every signed-in page shares: the navigation (`nav`) and times as people read them
//! (`moment`). A signed-in page handler renders through [`page`], which adds the navigation
//! to its view; pages without a session (sign-in, errors) use `page::html` and show none.

mod moment;
mod nav;

use axum::http::StatusCode;
use latchkey_login::SessionUser;
use serde::Serialize;

use crate::state::AppState;
use crate::web::page::{PageResult, html};

pub(crate) use moment::Moment;
pub(crate) use nav::{Nav, Section};

/// A page's own view with the navigation beside it (`nav` in every console template).
#[derive(Serialize)]
struct Console<'a, V> {
    nav: &'a Nav,
    #[serde(flatten)]
    page: &'a V,
}

/// Renders a signed-in page: `template` with `view`, and the navigation with `section` marked
/// as the current page.
pub(crate) async fn page<V: Serialize>(
    state: &AppState,
    user: &SessionUser,
    section: Section,
    status: StatusCode,
    template: &str,
    view: &V,
) -> PageResult {
    let nav = Nav::for_user(state, user, section).await;
    html(
        state,
        status,
        template,
        &Console {
            nav: &nav,
            page: view,
        },
    )
}

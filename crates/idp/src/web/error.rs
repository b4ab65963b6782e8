use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};

use crate::pages::ErrorView;
use crate::state::AppState;

/// An error shown to a person as a page: what happened and what to do next. Handlers return
/// it with `?`; `render_page_errors` turns it into the page, with the templates in hand.
#[derive(Clone, Debug)]
pub struct PageError {
    pub status: StatusCode,
    pub title: &'static str,
    pub message: String,
    pub hint: Option<&'static str>,
    /// A way forward: (link, label).
    pub action: Option<(&'static str, &'static str)>,
}

impl PageError {
    /// A failure whose details are logged, not shown: the page says only that it was ours,
    /// unless somewhere in its chain of causes the database said it cannot take requests
    /// now (out of reach, or a SQLite file locked, read-only or full): that is a 503 saying
    /// so, since the same request works once it passes.
    pub(crate) fn internal<E: std::error::Error + 'static>(error: E) -> Self {
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&error);
        while let Some(current) = cause {
            if let Some(db) = current.downcast_ref::<sea_orm::DbErr>()
                && latchkey_core::database_unavailable(db)
            {
                if latchkey_core::database_needs_operator(db) {
                    tracing::error!(error = %db, "the database cannot take requests now");
                } else {
                    tracing::warn!(error = %db, "the database cannot take requests now");
                }
                return Self::database_unavailable();
            }
            cause = current.source();
        }
        Self::failed(error)
    }

    /// A failure of ours, logged with `what` went wrong.
    pub(crate) fn failed(what: impl std::fmt::Debug) -> Self {
        tracing::error!(error = ?what, "request failed");
        PageError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            title: "Something went wrong on our side",
            message: "The request could not be completed. Nothing was changed.".into(),
            hint: Some("Please try again in a moment."),
            action: None,
        }
    }

    pub(crate) fn database_unavailable() -> Self {
        PageError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            title: "Latchkey cannot use its database right now",
            message: "Nothing was done. This usually passes within a minute.".into(),
            hint: Some("Please try again in a moment."),
            action: None,
        }
    }

    /// Renders the page; if the template itself fails, a plain sentence still gets through.
    fn render(self, state: &AppState) -> Response {
        let view = ErrorView {
            title: self.title,
            message: &self.message,
            hint: self.hint,
            action_href: self.action.map(|a| a.0),
            action_label: self.action.map(|a| a.1),
        };
        match state.pages.render("error.html", &view) {
            Ok(html) => (
                self.status,
                [(header::CACHE_CONTROL, "no-store")],
                Html(html),
            )
                .into_response(),
            Err(error) => {
                tracing::error!(%error, "rendering the error page");
                (self.status, format!("{}: {}", self.title, self.message)).into_response()
            }
        }
    }
}

/// A handler's error, carried to `render_page_errors` in the response's extensions.
impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let mut response = self.status.into_response();
        response.extensions_mut().insert(self);
        response
    }
}

/// Renders the page of any `PageError` a handler or extractor returned (a layer on the routes
/// that serve pages).
pub(super) async fn render_page_errors(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let mut response = next.run(request).await;
    match response.extensions_mut().remove::<PageError>() {
        Some(error) if error.status == StatusCode::INTERNAL_SERVER_ERROR => {
            unreachable_database(&state)
                .await
                .unwrap_or(error)
                .render(&state)
        }
        Some(error) => error.render(&state),
        None => response,
    }
}

/// A failure of ours while the database does not answer is said as such, with a 503: the
/// same request works once it is back. Asked only when something already failed, and at most
/// once a second (the answer is shared), so failing pages do not pile onto a struggling pool.
async fn unreachable_database(state: &AppState) -> Option<PageError> {
    let mut last = state.database_check.lock().await;
    let answers = match *last {
        Some((at, answered)) if at.elapsed() < std::time::Duration::from_secs(1) => answered,
        _ => {
            let answered =
                tokio::time::timeout(std::time::Duration::from_secs(1), state.db.read().ping())
                    .await
                    .is_ok_and(|pinged| pinged.is_ok());
            *last = Some((std::time::Instant::now(), answered));
            answered
        }
    };
    drop(last);
    (!answers).then(PageError::database_unavailable)
}

/// Any path the provider does not serve.
pub(super) async fn not_found(State(state): State<AppState>) -> Response {
    PageError {
        status: StatusCode::NOT_FOUND,
        title: "Page not found",
        message: "There is nothing at this address.".into(),
        hint: Some("Check the link, or start again from the application you were signing in to."),
        action: None,
    }
    .render(&state)
}

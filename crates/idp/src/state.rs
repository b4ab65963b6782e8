use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use axum::body::Bytes;
use latchkey_keys::KeyRing;
use metrics_exporter_prometheus::PrometheusHandle;
use sea_orm::DatabaseConnection;

use crate::issuer::Issuer;
use crate::pages::Pages;

/// The key ring every handler reads; a background worker swaps in a fresh one.
pub type SharedKeyRing = Arc<ArcSwap<KeyRing>>;

/// Everything a handler needs. Cloned per request, so every field is cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub(crate) issuer: Issuer,
    pub(crate) db: DatabaseConnection,
    pub(crate) keys: SharedKeyRing,
    pub(crate) jwks_max_age: Duration,
    pub(crate) discovery: Bytes,
    pub(crate) pages: Arc<Pages>,
    pub(crate) metrics: PrometheusHandle,
}

/// Why the application state could not be built.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("serializing the discovery document: {0}")]
    Discovery(#[from] serde_json::Error),
    #[error("loading the page templates: {0}")]
    Templates(#[from] tera::Error),
}

impl AppState {
    /// Builds the state once at start-up: the discovery document and templates are prepared
    /// here so requests only read them.
    pub fn new(
        issuer: Issuer,
        db: DatabaseConnection,
        keys: SharedKeyRing,
        jwks_max_age: Duration,
        metrics: PrometheusHandle,
    ) -> Result<Self, StateError> {
        let discovery = Bytes::from(crate::discovery::document(&issuer)?);
        Ok(Self {
            issuer,
            db,
            keys,
            jwks_max_age,
            discovery,
            pages: Arc::new(Pages::load()?),
            metrics,
        })
    }

    pub fn issuer(&self) -> &Issuer {
        &self.issuer
    }

    pub fn keys(&self) -> &SharedKeyRing {
        &self.keys
    }
}

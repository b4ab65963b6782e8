//! SQLite allows one writer; its other writers wait in a busy handler that sleeps (up to
//! 100 ms a turn), which made the slowest requests take half a second under load. On SQLite,
//! write transactions queue here instead. PostgreSQL needs no gate.

use std::sync::Arc;

use sea_orm::{DatabaseConnection, DbBackend};
use tokio::sync::{Mutex, MutexGuard};

/// One per process, shared by everything that writes.
#[derive(Clone, Default)]
pub struct WriteGate(Option<Arc<Mutex<()>>>);

impl WriteGate {
    pub fn for_database(db: &DatabaseConnection) -> Self {
        Self((db.get_database_backend() == DbBackend::Sqlite).then(|| Arc::new(Mutex::new(()))))
    }

    /// Waits for this process's turn to write, on SQLite; at once elsewhere.
    pub async fn turn(&self) -> Option<MutexGuard<'_, ()>> {
        match &self.0 {
            Some(gate) => Some(gate.lock().await),
            None => None,
        }
    }
}

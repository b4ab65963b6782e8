//! The provider's periodic work, each task run every period until the process stops: the
//! server schedules, the owning crate does the work (as Kanidm's interval actor does).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use latchkey_core::{Clock, Db, SharedKeyRing};
use latchkey_idp::AppState;
use latchkey_keys::KeyStore;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How often expired rows are deleted.
const SWEEP_EVERY: Duration = Duration::from_secs(600);
/// How often proven domains are looked up again (those a day old).
const RECHECK_DOMAINS_EVERY: Duration = Duration::from_secs(3600);
/// How often SAML certificates in use are checked for their end: a warning a day.
const CHECK_CERTIFICATES_EVERY: Duration = Duration::from_secs(86_400);

/// When a periodic task first runs.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum First {
    /// As the process starts: a replica that restarts more often than the period still runs
    /// it (the sweep, the domain proofs).
    Now,
    /// One period from now: what start-up did already (the key ring).
    AfterOnePeriod,
}

/// Runs `task` every `period` until `stopped` says so; a round in progress finishes first.
/// A round that fails is logged with `failed` (what failed, and that it will be tried again)
/// and tried again next period.
pub fn every<F, Fut>(
    period: Duration,
    first: First,
    mut stopped: watch::Receiver<bool>,
    failed: &'static str,
    mut task: F,
) -> JoinHandle<()>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), String>> + Send,
{
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        if first == First::AfterOnePeriod {
            ticker.tick().await;
        }
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = stopped.wait_for(|stop| *stop) => return,
            }
            if let Err(error) = task().await {
                tracing::warn!(%error, "{failed}");
            }
        }
    })
}

/// Every periodic task of a running provider.
pub struct Schedule {
    pub db: Db,
    pub clock: Clock,
    pub state: AppState,
    pub store: KeyStore,
    pub keys: SharedKeyRing,
    pub jwks_cache: Duration,
    pub link_window: chrono::TimeDelta,
}

impl Schedule {
    pub fn start(self, stopped: &watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
        let Self {
            db,
            clock,
            state,
            store,
            keys,
            jwks_cache,
            link_window,
        } = self;
        let (revocations, domains, certificates) = (state.clone(), state.clone(), state);
        // The ring is reloaded within half the JWKS cache period of a rotation made anywhere.
        let key_period = (jwks_cache / 2).max(Duration::from_millis(200));
        let key_clock = clock.clone();
        vec![
            every(
                key_period,
                First::AfterOnePeriod,
                stopped.clone(),
                "refreshing signing keys failed; keeping the current ones",
                move || refresh_keys(store.clone(), keys.clone(), key_clock.now()),
            ),
            // Other replicas' revocations; this replica's apply at once.
            every(
                latchkey_oidc::revocations::POLL_EVERY,
                First::Now,
                stopped.clone(),
                "reading revocations failed; will try again",
                move || {
                    let state = revocations.clone();
                    async move {
                        let now = state.now();
                        let refreshed = state.provider().revocations().refresh(now).await;
                        refreshed.map_err(|e| e.to_string())
                    }
                },
            ),
            // A proof whose record is gone ends.
            every(
                RECHECK_DOMAINS_EVERY,
                First::Now,
                stopped.clone(),
                "checking proven domains failed; will try again",
                move || {
                    let state = domains.clone();
                    async move {
                        let now = state.now();
                        let rechecked = state.connections().recheck_domains(now).await;
                        rechecked.map(|_| ()).map_err(|e| e.to_string())
                    }
                },
            ),
            // SAML certificates in use that end soon: a log line a day and a metric.
            every(
                CHECK_CERTIFICATES_EVERY,
                First::Now,
                stopped.clone(),
                "checking the SAML certificates' expiry failed; will try again",
                move || {
                    let state = certificates.clone();
                    async move {
                        let now = state.now();
                        let checked = state.saml_certificates().report_expiring(now).await;
                        checked.map(|_| ()).map_err(|e| e.to_string())
                    }
                },
            ),
            every(
                SWEEP_EVERY,
                First::Now,
                stopped.clone(),
                "deleting expired rows failed; will try again",
                move || sweep(db.clone(), clock.now(), link_window),
            ),
        ]
    }
}

/// Maintains the ring (scheduled rotation, retirement) and reloads it from the database.
async fn refresh_keys(
    store: KeyStore,
    keys: SharedKeyRing,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), String> {
    if let Some(ring) = store
        .refresh(&keys.load(), now)
        .await
        .map_err(|e| e.to_string())?
    {
        keys.store(Arc::new(ring));
        tracing::info!("signing keys changed; now signing with and publishing the new set");
    }
    Ok(())
}

/// Each crate deletes its own expired rows.
async fn sweep(
    db: Db,
    now: chrono::DateTime<chrono::Utc>,
    link_window: chrono::TimeDelta,
) -> Result<(), String> {
    let deleted = sweep_expired(&db, now, link_window)
        .await
        .map_err(|e| e.to_string())?;
    if deleted > 0 {
        tracing::info!(deleted, "expired rows deleted");
    }
    Ok(())
}

/// Deletes every expired row of every crate; how many went.
pub async fn sweep_expired(
    db: &Db,
    now: chrono::DateTime<chrono::Utc>,
    link_window: chrono::TimeDelta,
) -> Result<u64, sea_orm::DbErr> {
    Ok(latchkey_login::sweep_expired(db, now, link_window).await?
        + latchkey_oidc::sweep_expired(db, now).await?
        + latchkey_connections::sweep_expired(db, now).await?
        + latchkey_saml::sweep_expired(db, now).await?)
}

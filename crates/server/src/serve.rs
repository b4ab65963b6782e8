//! Running the provider: migrate, load the key ring, serve until told to stop.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use latchkey_core::{Clock, Db, SharedKeyRing};
use latchkey_idp::{AppConfig, AppState};
use latchkey_keys::KeyStore;
use latchkey_login::mail::{MailSettings, MailTransport, Outbox};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::Settings;
use crate::{database, master_key};

/// Why the provider could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Database(#[from] database::DatabaseError),
    #[error(transparent)]
    MasterKey(#[from] master_key::MasterKeyFileError),
    #[error("signing keys: {0}")]
    Keys(latchkey_keys::KeyError),
    #[error(
        "signing keys: {0}. Set keys.master_key to the master key this database's keys were sealed with"
    )]
    MasterKeyMismatch(String),
    #[error("listen: cannot listen on {addr}: {reason}")]
    Listen { addr: SocketAddr, reason: String },
    #[error("starting the web application: {0}")]
    State(#[from] latchkey_idp::web::StateError),
    #[error("{0}")]
    Mail(String),
    #[error("{0}")]
    Client(#[from] latchkey_oidc::ClientError),
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Issuer(#[from] latchkey_oidc::federation::IssuerError),
    #[error("{0}")]
    Resource(#[from] latchkey_oidc::ResourceError),
    #[error("{0}")]
    Connection(#[from] latchkey_oidc::upstream::ConnectionError),
    #[error("{0}")]
    Saml(#[from] latchkey_saml::SamlError),
    #[error("reading revocations from the database: {0}")]
    Revocations(String),
    #[error("serving: {0}")]
    Io(#[from] std::io::Error),
}

impl From<latchkey_keys::KeyError> for ServeError {
    fn from(error: latchkey_keys::KeyError) -> Self {
        match error {
            latchkey_keys::KeyError::Sealed { .. } => {
                ServeError::MasterKeyMismatch(error.to_string())
            }
            other => ServeError::Keys(other),
        }
    }
}

/// A provider that is listening. Dropping it does not stop it; call [`Running::shutdown`].
pub struct Running {
    pub addr: SocketAddr,
    pub state: AppState,
    stop: watch::Sender<bool>,
    /// `http.shutdown_delay`: how long to go on serving, not ready, once told to stop.
    shutdown_delay: Duration,
    server: JoinHandle<Result<(), std::io::Error>>,
    workers: Vec<JoinHandle<()>>,
}

impl Running {
    /// Stops accepting connections, lets in-flight requests finish, and stops the workers.
    pub async fn shutdown(self) -> Result<(), ServeError> {
        self.state.begin_draining();
        if !self.shutdown_delay.is_zero() {
            tracing::info!(
                delay_ms = self.shutdown_delay.as_millis() as u64,
                "draining: not ready, still serving until the load balancer has moved away"
            );
            tokio::time::sleep(self.shutdown_delay).await;
        }
        let _ = self.stop.send(true);
        let served = self.server.await.unwrap_or(Ok(()));
        // Workers stop at the signal between two rounds; a round in progress finishes, all of
        // them within one deadline, so the whole shutdown stays inside an orchestrator's grace.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
        for worker in self.workers {
            let _ = tokio::time::timeout_at(deadline, worker).await;
        }
        served.map_err(ServeError::from)
    }

    /// Waits until `signal` resolves, then shuts down gracefully.
    pub async fn serve_until(self, signal: impl Future<Output = ()>) -> Result<(), ServeError> {
        signal.await;
        tracing::info!("shutting down: finishing in-flight requests");
        self.shutdown().await
    }
}

/// Migrates the database, makes sure the key ring is ready, and starts serving.
pub async fn start(settings: &Settings) -> Result<Running, ServeError> {
    // Bind first: a port in use should stop start-up before anything else is done.
    let listener = TcpListener::bind(settings.listen)
        .await
        .map_err(|e| ServeError::Listen {
            addr: settings.listen,
            reason: e.to_string(),
        })?;
    start_on(listener, settings).await
}

/// Starts the provider on a socket already bound (a test binds port 0 and learns its port
/// before it names the issuer).
pub async fn start_on(listener: TcpListener, settings: &Settings) -> Result<Running, ServeError> {
    let started = Instant::now();
    let db = database::connect(&settings.database_url, settings.database_max_connections).await?;
    database::migrate(&db, &settings.database_url).await?;
    database::check_writable(&db, &settings.database_url).await?;
    let sealing_key = master_key::resolve(&settings.master_key)?;
    let store = KeyStore::new(db.read().clone(), sealing_key.clone(), settings.key_policy);
    let clock = settings.clock.clone();
    store.maintain(clock.now()).await?;
    let keys: SharedKeyRing = Arc::new(ArcSwap::from_pointee(store.load(clock.now()).await?));

    let outbox = Outbox::new(
        db.clone(),
        sealing_key.clone(),
        mail_settings(settings)?,
        clock.clone(),
    );
    let db_for_sweeper = db.clone();
    let state = AppState::new(AppConfig {
        issuer: settings.issuer.clone(),
        db,
        keys: keys.clone(),
        jwks_max_age: settings.jwks_cache.as_duration(),
        metrics: latchkey_idp::telemetry::metrics_handle(),
        outbox: outbox.clone(),
        login: settings.login.clone(),
        tokens: settings.tokens.clone(),
        master_key: sealing_key,
        clock: clock.clone(),
        allow_private_networks: settings.allow_private_networks,
        dns_server: settings.dns_server,
        upstream_timeout: settings.upstream_timeout,
        rate_limit_per_ip: settings.rate_limit_per_ip,
        trusted_proxies: settings.trusted_proxies.clone(),
        metrics_token: settings.metrics_token.clone(),
        join_link_max_ttl: settings.join_link_max_ttl,
    })?;
    // Revocations are read before the first request, then followed.
    state
        .provider()
        .revocations()
        .refresh(clock.now())
        .await
        .map_err(|e| ServeError::Revocations(e.to_string()))?;
    let addr = listener.local_addr()?;

    let (stop, stopped) = watch::channel(false);
    let mail_worker = tokio::spawn(outbox.run(stopped.clone()));
    let key_worker = tokio::spawn(refresh_keys(
        store,
        keys,
        settings.jwks_cache.as_duration(),
        clock.clone(),
        stopped.clone(),
    ));
    let sweeper = tokio::spawn(sweep_expired(
        db_for_sweeper,
        clock,
        settings.login.rate_limit_window,
        stopped.clone(),
    ));
    let revocation_worker = tokio::spawn(follow_revocations(state.clone(), stopped.clone()));
    let domain_worker = tokio::spawn(recheck_domains(state.clone(), stopped.clone()));
    let server = tokio::spawn(crate::http_server::serve(
        listener,
        latchkey_idp::web::router(state.clone()),
        settings.header_read_timeout,
        settings.shutdown_grace,
        stopped,
    ));
    tracing::info!(
        %addr,
        issuer = %settings.issuer,
        ready_after_ms = started.elapsed().as_millis() as u64,
        "latchkey is ready"
    );
    Ok(Running {
        addr,
        state,
        stop,
        shutdown_delay: settings.shutdown_delay,
        server,
        workers: vec![
            key_worker,
            mail_worker,
            sweeper,
            revocation_worker,
            domain_worker,
        ],
    })
}

/// Keeps the ring current: maintains it (scheduled rotation, retirement) and reloads it from
/// the database, so a rotation made anywhere is served here within half the JWKS cache period.
async fn refresh_keys(
    store: KeyStore,
    keys: SharedKeyRing,
    jwks_cache: Duration,
    clock: Clock,
    mut stopped: watch::Receiver<bool>,
) {
    let period = (jwks_cache / 2).max(Duration::from_millis(200));
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stopped.wait_for(|stop| *stop) => return,
        }
        match store.refresh(&keys.load(), clock.now()).await {
            Ok(Some(ring)) => {
                keys.store(Arc::new(ring));
                tracing::info!("signing keys changed; now signing with and publishing the new set");
            }
            Ok(None) => {}
            Err(error) => {
                tracing::warn!(%error, "refreshing signing keys failed; keeping the current ones")
            }
        }
    }
}

/// Reads other replicas' revocations every second (this replica's apply at once).
async fn follow_revocations(state: AppState, mut stopped: watch::Receiver<bool>) {
    let mut ticker = tokio::time::interval(latchkey_oidc::revocations::POLL_EVERY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stopped.wait_for(|stop| *stop) => return,
        }
        if let Err(error) = state.provider().revocations().refresh(state.now()).await {
            tracing::warn!(%error, "reading revocations failed; will try again");
        }
    }
}

/// Looks up the records of proven domains again, every hour for those a day old: a proof
/// whose record is gone ends.
async fn recheck_domains(state: AppState, mut stopped: watch::Receiver<bool>) {
    let mut ticker = tokio::time::interval(Duration::from_secs(3600));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stopped.wait_for(|stop| *stop) => return,
        }
        if let Err(error) = state.connections().recheck_domains(state.now()).await {
            tracing::warn!(%error, "checking proven domains failed; will try again");
        }
    }
}

/// How often expired rows are deleted.
const SWEEP_EVERY: Duration = Duration::from_secs(600);

async fn sweep_expired(
    db: Db,
    clock: Clock,
    link_window: chrono::TimeDelta,
    mut stopped: watch::Receiver<bool>,
) {
    // A per-address counter runs for the link limit's window or the day of wrong codes.
    let longest_window = link_window.max(latchkey_login::WRONG_CODES_WINDOW);
    let mut ticker = tokio::time::interval(SWEEP_EVERY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stopped.wait_for(|stop| *stop) => return,
        }
        match latchkey_idp::housekeeping::sweep(&db, clock.now(), longest_window).await {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(deleted, "expired rows deleted"),
            Err(error) => tracing::warn!(%error, "deleting expired rows failed; will try again"),
        }
    }
}

/// Resolves on SIGTERM or Ctrl-C.
///
/// The handlers are installed when this is called, not when the future is first polled: call
/// it before the listener answers, or a SIGTERM sent as soon as `/readyz` says ready (as an
/// orchestrator may) kills the process instead of stopping it gracefully.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let mut terminate =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    #[cfg(unix)]
    let mut interrupt =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()).ok();
    async move {
        #[cfg(unix)]
        {
            let term = async {
                match terminate.as_mut() {
                    Some(signal) => signal.recv().await,
                    None => std::future::pending().await,
                }
            };
            let int = async {
                match interrupt.as_mut() {
                    Some(signal) => signal.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = term => {}
                _ = int => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// The sender and the transport, from `mail.*`.
fn mail_settings(settings: &Settings) -> Result<MailSettings, ServeError> {
    let from = settings.mail.from.parse().map_err(|e| {
        ServeError::Mail(format!(
            "mail.from: {:?} is not a sender like Latchkey <no-reply@example.com> ({e})",
            settings.mail.from
        ))
    })?;
    let transport = MailTransport::new(&settings.mail.smtp_url, settings.mail.outbox_dir.clone())
        .map_err(ServeError::Mail)?;
    Ok(MailSettings { from, transport })
}

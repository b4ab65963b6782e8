//! Running the provider: migrate, load the key ring, serve until told to stop.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use latchkey_core::SharedKeyRing;
use latchkey_idp::AppState;
use latchkey_keys::KeyStore;
use latchkey_login::mail::{MailSettings, MailTransport, Outbox};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::app::{self, Ground};
use crate::config::Settings;
use crate::errors::StartError;
use crate::workers::Schedule;
use crate::{database, master_key};

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
    pub async fn shutdown(self) -> Result<(), StartError> {
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
        served.map_err(StartError::from)
    }

    /// Waits until `signal` resolves, then shuts down gracefully.
    pub async fn serve_until(self, signal: impl Future<Output = ()>) -> Result<(), StartError> {
        signal.await;
        tracing::info!("shutting down: finishing in-flight requests");
        self.shutdown().await
    }
}

/// Migrates the database, makes sure the key ring is ready, and starts serving.
pub async fn start(settings: &Settings) -> Result<Running, StartError> {
    // Bind first: a port in use should stop start-up before anything else is done.
    let listener = TcpListener::bind(settings.listen)
        .await
        .map_err(|e| StartError::Listen {
            addr: settings.listen,
            reason: e.to_string(),
        })?;
    start_on(listener, settings).await
}

/// Starts the provider on a socket already bound (a test binds port 0 and learns its port
/// before it names the issuer).
pub async fn start_on(listener: TcpListener, settings: &Settings) -> Result<Running, StartError> {
    let started = Instant::now();
    let db = database::connect(&settings.database_url, settings.database_max_connections).await?;
    database::migrate(&db, &settings.database_url).await?;
    database::check_writable(&db, &settings.database_url).await?;
    let sealing_key = master_key::resolve(&settings.master_key)?;
    let store = KeyStore::new(db.read().clone(), sealing_key.clone(), settings.key_policy);
    let clock = settings.clock.clone();
    store.maintain(clock.now()).await?;
    let keys: SharedKeyRing = Arc::new(ArcSwap::from_pointee(store.load(clock.now()).await?));

    // Pairwise keys stored in clear before they were sealed are sealed now (a migration
    // cannot: it has no master key).
    let sealed = latchkey_saml::seal_pairwise_keys(&db, &sealing_key, false)
        .await
        .map_err(StartError::SealPairwiseKeys)?;
    if sealed > 0 {
        tracing::info!(
            sealed,
            "sealed the SAML service providers' pairwise keys under the master key"
        );
    }
    let outbox = Outbox::new(
        db.clone(),
        sealing_key.clone(),
        mail_settings(settings)?,
        clock.clone(),
    );
    let ground = Ground {
        db: db.clone(),
        keys: keys.clone(),
        master_key: sealing_key,
        outbox: outbox.clone(),
        clock: clock.clone(),
    };
    let state = app::build(settings, ground)?;
    // Revocations are read before the first request, then followed.
    state
        .provider()
        .revocations()
        .refresh(clock.now())
        .await
        .map_err(|e| StartError::Revocations(e.to_string()))?;
    let addr = listener.local_addr()?;

    let (stop, stopped) = watch::channel(false);
    let mut workers = vec![tokio::spawn(outbox.run(stopped.clone()))];
    let schedule = Schedule {
        db,
        clock,
        state: state.clone(),
        store,
        keys,
        jwks_cache: settings.jwks_cache.as_duration(),
        link_window: settings.login.rate_limit_window,
    };
    workers.extend(schedule.start(&stopped));
    let server = tokio::spawn(crate::http_server::serve(
        listener,
        latchkey_idp::web::router(state.clone()),
        crate::http_server::ConnectionLimits::of(settings),
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
        workers,
    })
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
fn mail_settings(settings: &Settings) -> Result<MailSettings, StartError> {
    let from = settings.mail.from.parse().map_err(|e| {
        StartError::Mail(format!(
            "mail.from: {:?} is not a sender like Latchkey <no-reply@example.com> ({e})",
            settings.mail.from
        ))
    })?;
    let transport = MailTransport::new(&settings.mail.smtp_url, settings.mail.outbox_dir.clone())
        .map_err(StartError::Mail)?;
    Ok(MailSettings { from, transport })
}

//! The HTTP server: hyper through hyper-util, as `axum::serve` runs it, with what that leaves
//! out. Without a timer hyper silently drops its header-read timeout, so a client sending a
//! byte a minute could hold a connection for ever; nothing closes a connection that sends
//! nothing or sits idle on HTTP/2 (`idle`); and nothing caps the connections, in all or per
//! client (`per_client`). Where the port is reachable without a proxy in front, these bound
//! what slow or idle clients can hold.

mod idle;
mod per_client;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use latchkey_idp::web::TrustedProxies;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tower::ServiceExt;

use idle::Activity;
use per_client::{Admitted, PerClientCap};

/// Connections served at once; past it, new ones wait to be accepted.
pub const MAX_CONNECTIONS: usize = 10_000;
/// An HTTP/2 connection is pinged this often while a request is under way, and closed when a
/// ping is not answered within as long: a peer that vanished mid-request is let go.
const HTTP2_PING_INTERVAL: Duration = Duration::from_secs(20);
/// How long a connection closed for idleness has to say goodbye (HTTP/2's GOAWAY, which waits
/// for the peer's answer to a ping) before it is cut.
const GOODBYE: Duration = Duration::from_secs(2);

/// How long connections may take and be idle, and how many one client may hold.
#[derive(Clone, Debug)]
pub struct ConnectionLimits {
    /// `http.header_read_timeout`: for an HTTP/1 request's headers, and for the first request
    /// of any connection to arrive.
    pub header_read_timeout: Duration,
    /// `http.idle_timeout`: how long a connection may have no request under way after one.
    pub idle_timeout: Duration,
    /// `http.max_connections_per_ip`: connections one client address (an IPv6 /64) may hold.
    pub max_per_client: usize,
    /// The trusted proxies, whose connections are not capped per client.
    pub proxies: TrustedProxies,
}

impl ConnectionLimits {
    /// The limits the `http.*` settings give.
    pub fn of(settings: &crate::config::Settings) -> Self {
        Self {
            header_read_timeout: settings.header_read_timeout,
            idle_timeout: settings.idle_timeout,
            max_per_client: settings.max_connections_per_ip,
            proxies: settings.trusted_proxies.clone(),
        }
    }
}

/// Serves `router` on `listener` until `stopped`, then stops accepting and lets requests under
/// way finish, for `grace` at most (an orchestrator kills the process soon after anyway).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    grace: Duration,
    mut stopped: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let builder = Arc::new(builder(&limits));
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let per_client = PerClientCap::new(limits.max_per_client, limits.proxies.clone());
    // Each connection holds a receiver; once all have ended, the sender is closed.
    let (draining, _) = watch::channel(false);
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.map_err(std::io::Error::other)?,
            () = stopping(&mut stopped) => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, say: wait a moment rather than spin.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = stopping(&mut stopped) => break,
        };
        let Some(admitted) = per_client.admit(peer.ip()) else {
            // Closed at once, holding nothing: this client already holds its share.
            tracing::debug!(%peer, "connection refused: this client holds the most it may");
            continue;
        };
        let connection = Connection {
            stream,
            peer,
            slot,
            admitted,
        };
        tokio::spawn(connection.serve(
            builder.clone(),
            router.clone(),
            limits.clone(),
            draining.subscribe(),
        ));
    }
    drop(listener);
    let _ = draining.send(true);
    if tokio::time::timeout(grace, draining.closed())
        .await
        .is_err()
    {
        tracing::warn!(
            grace_secs = grace.as_secs(),
            "requests still under way when the shutdown grace ran out were cut"
        );
    }
    Ok(())
}

/// HTTP/1 with its header-read timeout, HTTP/2 with keep-alive pings, both on tokio's timer.
fn builder(limits: &ConnectionLimits) -> Builder<TokioExecutor> {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(HTTP2_PING_INTERVAL)
        .keep_alive_timeout(HTTP2_PING_INTERVAL);
    builder
}

/// An accepted connection, with the slot and the per-client share it holds until it ends.
struct Connection {
    stream: TcpStream,
    peer: SocketAddr,
    slot: OwnedSemaphorePermit,
    admitted: Admitted,
}

impl Connection {
    /// Serves the connection until it ends, is idle too long, or the server stops.
    async fn serve(
        self,
        builder: Arc<Builder<TokioExecutor>>,
        router: Router,
        limits: ConnectionLimits,
        mut draining: watch::Receiver<bool>,
    ) {
        let Self {
            stream,
            peer,
            slot,
            admitted,
        } = self;
        let activity = Activity::new();
        let requests = activity.clone();
        let service = router
            .map_request(move |mut request: axum::http::Request<_>| {
                request
                    .extensions_mut()
                    .insert(ConnectInfo::<SocketAddr>(peer));
                request
            })
            .map_future(move |response| {
                let under_way = requests.begin();
                async move {
                    let response = response.await;
                    drop(under_way);
                    response
                }
            });
        let connection = builder.serve_connection_with_upgrades(
            TokioIo::new(stream),
            TowerToHyperService::new(service),
        );
        let mut connection = std::pin::pin!(connection);
        let idle = activity.until_idle(limits.header_read_timeout, limits.idle_timeout);
        let bounded_goodbye = tokio::select! {
            ended = connection.as_mut() => {
                if let Err(error) = ended {
                    tracing::debug!(%error, %peer, "connection ended with an error");
                }
                drop((slot, admitted));
                return;
            }
            () = idle => true,
            () = stopping(&mut draining) => false,
        };
        connection.as_mut().graceful_shutdown();
        if bounded_goodbye {
            let _ = tokio::time::timeout(GOODBYE, connection).await;
        } else {
            // Requests under way finish, within the server's shutdown grace.
            let _ = connection.await;
        }
        drop((slot, admitted, draining));
    }
}

/// Resolves once the server is told to stop. The guard `wait_for` returns is dropped here, so
/// it is never held across an await.
async fn stopping(stopped: &mut watch::Receiver<bool>) {
    let _ = stopped.wait_for(|stop| *stop).await;
}

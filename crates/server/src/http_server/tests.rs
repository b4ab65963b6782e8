//! Slow and idle clients against the real server on a loopback port, in this process: what one
//! address may hold, and when a connection that sends nothing, or nothing more, is closed. The
//! settings are short; the bounds asserted are generous, never tight.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use latchkey_idp::web::{ForwardedHeader, TrustedProxies};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::watch;

use super::{ConnectionLimits, serve};

/// Well past every timeout the tests set: a connection still open then was not closed.
const GENEROUS: Duration = Duration::from_secs(8);
const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: test\r\n\r\n";

fn limits(header_read: u64, idle: u64, per_client: usize) -> ConnectionLimits {
    ConnectionLimits {
        header_read_timeout: Duration::from_secs(header_read),
        idle_timeout: Duration::from_secs(idle),
        max_per_client: per_client,
        proxies: TrustedProxies::default(),
    }
}

/// The server on a port of its own; it stops when the returned sender is dropped.
async fn start(limits: ConnectionLimits) -> (SocketAddr, watch::Sender<bool>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = Router::new().route("/", get(|| async { "ok" })).route(
        "/slow",
        get(|| async {
            tokio::time::sleep(Duration::from_secs(2)).await;
            "slow"
        }),
    );
    let (stop, stopped) = watch::channel(false);
    tokio::spawn(serve(
        listener,
        router,
        limits,
        Duration::from_secs(1),
        stopped,
    ));
    (addr, stop)
}

async fn connect_from(local: &str, server: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(format!("{local}:0").parse().unwrap()).unwrap();
    socket.connect(server).await.unwrap()
}

/// Whether the server closes the connection within `within`, reading (and dropping) whatever
/// it sends meanwhile.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buffer = [0u8; 4096];
    tokio::time::timeout(within, async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

/// Sends one HTTP/1.1 request and reads its answer, leaving the connection open.
async fn answered(stream: &mut TcpStream, request: &[u8], body: &str) -> bool {
    if stream.write_all(request).await.is_err() {
        return false;
    }
    let mut seen = Vec::new();
    let mut buffer = [0u8; 1024];
    let read = tokio::time::timeout(GENEROUS, async {
        while !String::from_utf8_lossy(&seen).ends_with(body) {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => seen.extend_from_slice(&buffer[..n]),
            }
        }
        true
    });
    read.await.unwrap_or(false) && String::from_utf8_lossy(&seen).starts_with("HTTP/1.1 200")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_holds_only_its_share_and_others_are_still_answered() {
    let (server, _stop) = start(limits(30, 30, 50)).await;

    let mut idle = Vec::new();
    for _ in 0..1000 {
        idle.push(connect_from("127.0.0.1", server).await);
    }
    let closed = futures_util::future::join_all(
        idle.iter_mut()
            .map(|stream| closed_within(stream, Duration::from_secs(5))),
    )
    .await;
    let held = closed.iter().filter(|closed| !**closed).count();
    assert_eq!(
        held, 50,
        "only the cap is held; the rest are closed at once"
    );

    let mut other = connect_from("127.0.0.2", server).await;
    assert!(
        answered(&mut other, REQUEST, "ok").await,
        "another address is answered"
    );

    // Once the first address lets go, it is answered again.
    drop(idle);
    let mut again = false;
    for _ in 0..50 {
        let mut stream = connect_from("127.0.0.1", server).await;
        if answered(&mut stream, REQUEST, "ok").await {
            again = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(again, "the share is given back when connections close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_trusted_proxies_are_not_capped() {
    let mut relaxed = limits(30, 30, 1);
    relaxed.proxies = TrustedProxies::parse(&["127.0.0.1"], ForwardedHeader::default()).unwrap();
    let (server, _stop) = start(relaxed).await;

    let mut proxied = Vec::new();
    for _ in 0..3 {
        proxied.push(connect_from("127.0.0.1", server).await);
    }
    for stream in &mut proxied {
        assert!(answered(stream, REQUEST, "ok").await);
    }
    // Another address gets one connection.
    let mut first = connect_from("127.0.0.2", server).await;
    assert!(answered(&mut first, REQUEST, "ok").await);
    let mut second = connect_from("127.0.0.2", server).await;
    assert!(closed_within(&mut second, GENEROUS).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_sends_nothing_is_closed_after_the_header_read_timeout() {
    let (server, _stop) = start(limits(1, 30, 50)).await;

    let mut silent = connect_from("127.0.0.1", server).await;

    assert!(closed_within(&mut silent, GENEROUS).await);
}

/// The HTTP/2 client preface and an empty SETTINGS frame (RFC 9113 §3.4).
const H2_PREFACE_AND_SETTINGS: &[u8] =
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http2_preface_then_silence_is_closed_after_the_header_read_timeout() {
    let (server, _stop) = start(limits(1, 30, 50)).await;

    let mut h2c = connect_from("127.0.0.1", server).await;
    h2c.write_all(H2_PREFACE_AND_SETTINGS).await.unwrap();

    assert!(closed_within(&mut h2c, GENEROUS).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_http2_connection_is_closed_after_the_idle_timeout() {
    let (server, _stop) = start(limits(30, 1, 50)).await;
    let mut h2c = connect_from("127.0.0.1", server).await;
    h2c.write_all(H2_PREFACE_AND_SETTINGS).await.unwrap();
    // GET http://x/ on stream 1, its headers in HPACK: :method GET, :scheme http, :path / from
    // the static table, :authority x as a literal.
    let block = [0x82, 0x86, 0x84, 0x41, 0x01, b'x'];
    let mut headers = vec![0, 0, block.len() as u8, 0x1, 0x5, 0, 0, 0, 1];
    headers.extend_from_slice(&block);
    h2c.write_all(&headers).await.unwrap();

    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    let closed = tokio::time::timeout(GENEROUS, async {
        loop {
            match h2c.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await
    .is_ok();

    assert!(
        frames(&received).contains(&(0x1, 1)),
        "the request was answered on stream 1"
    );
    assert!(closed, "closed once idle, well before header_read_timeout");
}

/// The (type, stream) of each HTTP/2 frame in `bytes`.
fn frames(mut bytes: &[u8]) -> Vec<(u8, u32)> {
    let mut found = Vec::new();
    while bytes.len() >= 9 {
        let length =
            usize::from(bytes[0]) << 16 | usize::from(bytes[1]) << 8 | usize::from(bytes[2]);
        let stream = u32::from_be_bytes([bytes[5] & 0x7f, bytes[6], bytes[7], bytes[8]]);
        found.push((bytes[3], stream));
        bytes = bytes.get(9 + length..).unwrap_or_default();
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let (server, _stop) = start(limits(30, 1, 50)).await;
    let mut keep_alive = connect_from("127.0.0.1", server).await;

    assert!(answered(&mut keep_alive, REQUEST, "ok").await);

    assert!(
        closed_within(&mut keep_alive, GENEROUS).await,
        "closed once idle, well before header_read_timeout"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_under_way_is_not_idle() {
    let (server, _stop) = start(limits(30, 1, 50)).await;
    let mut waiting = connect_from("127.0.0.1", server).await;

    // The answer takes twice the idle timeout.
    let slow = b"GET /slow HTTP/1.1\r\nHost: test\r\n\r\n";
    assert!(answered(&mut waiting, slow, "slow").await);
}

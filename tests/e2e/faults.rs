//! PostgreSQL going away under a running provider, through a TCP proxy the test controls:
//! `/readyz` says so, the token endpoint answers 503 in bounded time rather than 500 or
//! hanging, and once the database is back the same replica serves again, no restart.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::harness::{TestApp, TestDb, config, eventually, master_key};

/// A TCP proxy to PostgreSQL that can be cut (every connection dropped, new ones refused)
/// and restored.
struct Proxy {
    addr: String,
    up: watch::Sender<bool>,
}

impl Proxy {
    async fn start(target: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let (up, watching) = watch::channel(true);
        let watching = Arc::new(watching);
        tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                let mut state = (*watching).clone();
                if !*state.borrow() {
                    drop(client);
                    continue;
                }
                let target = target.clone();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(&target).await else {
                        return;
                    };
                    let (mut client, mut server) = (client, server);
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = state.wait_for(|up| !*up) => {}
                    }
                });
            }
        });
        Self { addr, up }
    }

    fn set(&self, up: bool) {
        let _ = self.up.send(up);
    }
}

async fn status(client: &reqwest::Client, url: &str) -> Option<StatusCode> {
    client.get(url).send().await.ok().map(|r| r.status())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_is_answered_with_503_and_survived_without_a_restart() {
    let Some(db) = TestDb::postgres().await else {
        eprintln!("LATCHKEY_TEST_POSTGRES_URL is not set: the outage test needs PostgreSQL");
        return;
    };
    let url = url::Url::parse(&db.url).expect("url");
    let target = format!(
        "{}:{}",
        url.host_str().expect("host"),
        url.port().unwrap_or(5432)
    );
    let proxy = Proxy::start(target.clone()).await;
    let mut proxied = url.clone();
    let (host, port) = proxy.addr.split_once(':').expect("addr");
    proxied.set_host(Some(host)).expect("host");
    proxied
        .set_port(Some(port.parse().expect("port")))
        .expect("port");
    let mut cfg = config(&db, &master_key());
    cfg.database_url = proxied.to_string();
    let app = TestApp::spawn(cfg).await;
    let client = reqwest::Client::new();
    let readyz = app.url("/readyz");
    let token = app.url("/token");
    // A client id never asked for before, so the answer needs the database.
    let ask_token = |client_id: &'static str| {
        let (client, token) = (client.clone(), token.clone());
        async move {
            let started = Instant::now();
            let answer = client
                .post(&token)
                .basic_auth(client_id, Some("wrong"))
                .form(&[("grant_type", "client_credentials")])
                .send()
                .await
                .expect("an answer");
            (answer.status(), started.elapsed())
        }
    };
    assert_eq!(status(&client, &readyz).await, Some(StatusCode::OK));
    assert_eq!(
        ask_token("nobody-1").await.0,
        StatusCode::UNAUTHORIZED,
        "the database answers who is not a client"
    );

    // The database goes away.
    proxy.set(false);
    assert!(
        eventually(Duration::from_secs(15), || async {
            status(&client, &readyz).await == Some(StatusCode::SERVICE_UNAVAILABLE)
        })
        .await,
        "/readyz says the database is gone"
    );
    let (answered, took) = ask_token("nobody-2").await;
    assert_eq!(answered, StatusCode::SERVICE_UNAVAILABLE, "503, not 500");
    assert!(
        took < Duration::from_secs(20),
        "answered in {took:?}, within the route's timeout"
    );
    let body: serde_json::Value = client
        .post(&token)
        .basic_auth("nobody-4", Some("wrong"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("an answer")
        .json()
        .await
        .expect("a JSON error");
    assert_eq!(body["error"], "temporarily_unavailable", "{body}");
    // A page says it too: asking for a sign-in link needs the database.
    let browser = crate::browser::Browser::new(&app.base_url);
    let asked = browser.request_login("ann@example.com").await;
    assert_eq!(
        asked.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        asked.body
    );
    assert!(
        asked.body.contains("cannot use its database right now"),
        "{}",
        asked.body
    );

    // Back: the same process serves again.
    proxy.set(true);
    assert!(
        eventually(Duration::from_secs(30), || async {
            status(&client, &readyz).await == Some(StatusCode::OK)
        })
        .await,
        "ready again once the database answers"
    );
    assert_eq!(ask_token("nobody-3").await.0, StatusCode::UNAUTHORIZED);
    app.stop().await;
}

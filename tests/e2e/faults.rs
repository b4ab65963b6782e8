//! PostgreSQL going away under a running provider, through a TCP proxy the test controls
//! (every connection dropped, new ones refused), under token and sign-up load: `/readyz`
//! says so, every request answers as usual or 503 in bounded time (never 500, never
//! hanging), once the database is back the same replica serves again, no restart, and no
//! sign-up that was answered is lost (its mail goes out, once, without waiting out a lease).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::harness::{TestApp, TestDb, config, eventually, master_key};
use crate::smtp::SmtpSink;

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

/// A provider on PostgreSQL through a [`Proxy`], mailing to a sink.
async fn behind_a_proxy(db: &TestDb) -> (Proxy, TestApp, SmtpSink) {
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
    let smtp = SmtpSink::start().await;
    let mut cfg = config(db, &master_key());
    cfg.database_url = proxied.to_string();
    cfg.mail.smtp_url = smtp.url();
    cfg.http.rate_limit_per_ip = 1_000_000;
    (proxy, TestApp::spawn(cfg).await, smtp)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_is_answered_with_503_and_survived_without_a_restart() {
    let Some(db) = TestDb::postgres().await else {
        eprintln!("LATCHKEY_TEST_POSTGRES_URL is not set: the outage test needs PostgreSQL");
        return;
    };
    let (proxy, app, smtp) = behind_a_proxy(&db).await;
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

    // Token and sign-up load through the outage, each request answered as it should be or
    // with 503; the addresses whose sign-up was answered are kept, to find their mail after.
    let (id, secret) =
        crate::harness::machine_client(|args| crate::harness::cli_json(&db, &app, args));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // How many 503s each kind of load (tokens, sign-ups) has met: the outage lasts until both
    // have, so that it is the load, not just the test's own requests, that meets it.
    let met: Arc<[AtomicUsize; 2]> = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
    let load: Vec<_> = (0..4)
        .map(|worker| {
            let (stop, base, met) = (stop.clone(), app.base_url.clone(), met.clone());
            let (id, secret) = (id.clone(), secret.clone());
            tokio::spawn(async move {
                let http = reqwest::Client::new();
                let (mut answered, mut unavailable, mut wrong) = (Vec::new(), 0, Vec::new());
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let started = Instant::now();
                    let (status, address) = if worker % 2 == 0 {
                        let answer = http
                            .post(format!("{base}/token"))
                            .basic_auth(&id, Some(&secret))
                            .form(&[("grant_type", "client_credentials")])
                            .send()
                            .await;
                        (answer.map(|a| a.status()).ok(), None)
                    } else {
                        let address = format!("w{worker}-{n}@example.com");
                        let page = crate::browser::Browser::new(&base).register(&address).await;
                        (Some(page.status), Some(address))
                    };
                    let took = started.elapsed();
                    match status {
                        Some(StatusCode::OK) | Some(StatusCode::SEE_OTHER)
                            if took < Duration::from_secs(20) =>
                        {
                            answered.extend(address)
                        }
                        Some(StatusCode::SERVICE_UNAVAILABLE) if took < Duration::from_secs(20) => {
                            unavailable += 1;
                            met[worker % 2].fetch_add(1, Ordering::Relaxed);
                        }
                        other => wrong.push(format!("{other:?} after {took:?}")),
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                (answered, unavailable, wrong)
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(1)).await;

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

    assert!(
        eventually(Duration::from_secs(30), || async {
            met.iter().all(|kind| kind.load(Ordering::Relaxed) > 0)
        })
        .await,
        "both token and sign-up load met the outage"
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
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    let (mut answered, mut unavailable) = (Vec::new(), 0);
    for worker in futures_util::future::join_all(load).await {
        let (addresses, refused, wrong) = worker.expect("worker");
        assert!(
            wrong.is_empty(),
            "every request answered, 2xx/3xx or 503: {wrong:?}"
        );
        answered.extend(addresses);
        unavailable += refused;
    }
    assert!(unavailable > 0, "the load met the outage");
    // No sign-up that was answered is lost: each one's mail goes out, once. A delivery round
    // the outage cut short is settled as soon as the database answers, not when its one-minute
    // lease runs out: what it sent is marked sent (never sent again), the rest goes out now.
    let deadline = Instant::now() + Duration::from_secs(30);
    for address in &answered {
        let left = deadline.saturating_duration_since(Instant::now());
        smtp.nth_mail_to(address, 1, left.max(Duration::from_millis(100)))
            .await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let twice: Vec<_> = answered
        .iter()
        .filter(|address| smtp.mails_to(address).len() != 1)
        .collect();
    assert!(twice.is_empty(), "mailed more than once: {twice:?}");
    app.stop().await;
}

/// The mail server takes a mail, then the database goes away before the outbox hears back
/// and can mark it sent. Once the database answers again the mail is marked sent by the
/// replica that sent it: it is not sent a second time when its one-minute lease runs out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mail_sent_as_the_database_went_away_is_not_sent_again() {
    let Some(db) = TestDb::postgres().await else {
        eprintln!("LATCHKEY_TEST_POSTGRES_URL is not set: the outage test needs PostgreSQL");
        return;
    };
    let (proxy, app, smtp) = behind_a_proxy(&db).await;
    smtp.answer_after(Duration::from_secs(4));
    let browser = crate::browser::Browser::new(&app.base_url);
    let asked = browser.register("late@example.com").await;
    assert_eq!(asked.status, StatusCode::SEE_OTHER, "{}", asked.body);
    smtp.nth_mail_to("late@example.com", 1, Duration::from_secs(10))
        .await;
    // The sink has the mail; the outbox still waits for its answer.
    proxy.set(false);
    tokio::time::sleep(Duration::from_secs(6)).await;
    smtp.answer_after(Duration::ZERO);
    proxy.set(true);
    let client = reqwest::Client::new();
    let readyz = app.url("/readyz");
    assert!(
        eventually(Duration::from_secs(30), || async {
            status(&client, &readyz).await == Some(StatusCode::OK)
        })
        .await,
        "ready again once the database answers"
    );
    // Marked sent by the replica that sent it as soon as the database answers, without
    // waiting out the lease.
    use latchkey_login::entities::mail_outbox;
    use sea_orm::EntityTrait;
    let conn = sea_orm::Database::connect(&db.url).await.expect("connect");
    let outbox = || async {
        mail_outbox::Entity::find()
            .all(&conn)
            .await
            .expect("outbox")
    };
    let marked = |outbox: &[mail_outbox::Model]| {
        outbox
            .iter()
            .all(|m| m.sent_at.is_some() && m.sealed_message.is_none())
    };
    assert!(
        eventually(Duration::from_secs(30), || async {
            marked(&outbox().await)
        })
        .await,
        "marked sent, and its body erased: {:?}",
        outbox().await
    );
    // Past the lease the mail was taken under, on the provider's clock; then a delivery round
    // on the moved clock runs to its end: the one that sends the next mail asked for. Had the
    // mail been left to its lease, that round would have taken it too, and sent it again.
    app.clock.advance(chrono::TimeDelta::seconds(62));
    let asked = browser.register("next@example.com").await;
    assert_eq!(asked.status, StatusCode::SEE_OTHER, "{}", asked.body);
    smtp.nth_mail_to("next@example.com", 1, Duration::from_secs(10))
        .await;
    crate::harness::outbox_settled(&db).await;
    assert_eq!(
        smtp.mails_to("late@example.com").len(),
        1,
        "the mail went out once"
    );
    let outbox = outbox().await;
    assert!(
        marked(&outbox),
        "marked sent, and its body erased: {outbox:?}"
    );
    app.stop().await;
}

//! Health, readiness, metrics and graceful shutdown, as an operator or orchestrator sees them.

use std::process::{Command, Stdio};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use reqwest::StatusCode;

use crate::harness::{
    TestApp, TestDb, config, eventually, free_port, latchkey, master_key, stderr, stdout,
};
use crate::on_both_databases;

async fn health_readiness_and_metrics_answer(db: TestDb) {
    let app = TestApp::spawn(config(&db, &master_key())).await;
    let health = app.get("/healthz").await;
    assert_eq!(health.status(), StatusCode::OK);
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), StatusCode::OK);
    app.get("/.well-known/jwks.json").await;
    app.get("/no-such-page").await;

    let metrics = app.get("/metrics").await;
    assert_eq!(metrics.status(), StatusCode::OK);
    assert!(
        metrics.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = metrics.text().await.unwrap();
    assert!(
        text.contains(
            r#"http_requests_total{route="/.well-known/jwks.json",method="GET",status="200"}"#
        ),
        "{text}"
    );
    assert!(
        text.contains(r#"http_request_duration_seconds_bucket{route="/readyz""#),
        "{text}"
    );
    assert!(
        text.contains(r#"route="unmatched",method="GET",status="404""#),
        "unknown paths share one series: {text}"
    );
    app.stop().await;
}
on_both_databases!(health_readiness_and_metrics_answer);

#[tokio::test]
async fn readiness_fails_when_the_database_goes_away() {
    let Some(db) = TestDb::postgres().await else {
        eprintln!("LATCHKEY_TEST_POSTGRES_URL is not set: not run");
        return;
    };
    let app = TestApp::spawn(config(&db, &master_key())).await;
    assert_eq!(app.get("/readyz").await.status(), StatusCode::OK);
    let admin = sea_orm::Database::connect(std::env::var("LATCHKEY_TEST_POSTGRES_URL").unwrap())
        .await
        .unwrap();
    let name = url::Url::parse(&db.url)
        .unwrap()
        .path()
        .trim_start_matches('/')
        .to_owned();
    sea_orm::ConnectionTrait::execute_unprepared(
        &admin,
        &format!("DROP DATABASE {name} WITH (FORCE)"),
    )
    .await
    .unwrap();
    let unready = eventually(Duration::from_secs(10), || async {
        app.get("/readyz").await.status() == StatusCode::SERVICE_UNAVAILABLE
    })
    .await;
    assert!(unready, "/readyz reports the lost database");
    assert_eq!(
        app.get("/healthz").await.status(),
        StatusCode::OK,
        "the process itself is still up"
    );
}

#[tokio::test]
async fn the_binary_serves_and_stops_cleanly_on_sigterm() {
    let db = TestDb::sqlite();
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_latchkey"))
        .current_dir(db.dir.path())
        .arg("serve")
        .env("LATCHKEY_DATABASE_URL", &db.url)
        .env("LATCHKEY_LISTEN", format!("127.0.0.1:{port}"))
        .env("LATCHKEY_ISSUER", format!("http://127.0.0.1:{port}"))
        .env("LATCHKEY_LOG__FORMAT", "json")
        .env("LATCHKEY_HTTP__SHUTDOWN_GRACE", "3s")
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn latchkey serve");
    let client = reqwest::Client::new();
    let up = eventually(Duration::from_secs(20), || async {
        client
            .get(format!("http://127.0.0.1:{port}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
    })
    .await;
    // Two requests under way when SIGTERM comes: one whose body arrives after it (it is
    // answered), and one whose client never sends it (cut when the grace runs out).
    let body = "grant_type=client_credentials";
    let head = format!(
        "POST /token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nExpect: 100-continue\r\n\r\n",
        body.len()
    );
    let mut under_way = None;
    let mut stalled = None;
    let mut sigterm_at = None;
    // The container health check: `latchkey probe` with the same settings.
    let probe = || {
        Command::new(env!("CARGO_BIN_EXE_latchkey"))
            .current_dir(db.dir.path())
            .arg("probe")
            .env("LATCHKEY_DATABASE_URL", &db.url)
            .env("LATCHKEY_LISTEN", format!("0.0.0.0:{port}"))
            .output()
            .expect("probe")
    };
    if up {
        let ready = probe();
        assert!(
            ready.status.success(),
            "{}",
            String::from_utf8_lossy(&ready.stderr)
        );
        let mut first = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect");
        first.write_all(head.as_bytes()).await.expect("head");
        let mut second = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect");
        second.write_all(head.as_bytes()).await.expect("head");
        // "100 Continue": the handler is reading each body, so both requests are under way.
        for stream in [&mut first, &mut second] {
            assert!(continue_seen(stream).await, "the request is under way");
        }
        let killed = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("kill");
        assert!(killed.success());
        sigterm_at = Some(std::time::Instant::now());
        assert!(
            eventually(Duration::from_secs(5), || async {
                tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .is_err()
            })
            .await,
            "no new connection is accepted once stopping"
        );
        first.write_all(body.as_bytes()).await.expect("body");
        let mut answer = String::new();
        let _ =
            tokio::time::timeout(Duration::from_secs(5), first.read_to_string(&mut answer)).await;
        under_way = Some(answer);
        stalled = Some(second);
    } else {
        let _ = child.kill();
    }
    // Wait for the exit (at most 10 s after SIGTERM), then read what it printed.
    let (exited, output) = tokio::task::spawn_blocking(move || {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::time::Instant::now() < deadline && matches!(child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(50));
        }
        let exited = matches!(child.try_wait(), Ok(Some(_)))
            .then(|| sigterm_at.map(|at| at.elapsed()).unwrap_or_default());
        if exited.is_none() {
            let _ = child.kill();
        }
        (exited, child.wait_with_output().expect("output"))
    })
    .await
    .unwrap();
    assert!(
        up,
        "latchkey serve became ready: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let exit_after = exited.expect("latchkey serve stopped within 10 s of SIGTERM");
    let gone = probe();
    assert!(!gone.status.success(), "a stopped provider is not ready");
    assert!(
        String::from_utf8_lossy(&gone.stderr).contains("not ready"),
        "{}",
        String::from_utf8_lossy(&gone.stderr)
    );
    let answer = under_way.unwrap_or_default();
    assert!(
        answer.starts_with("HTTP/1.1 401") && answer.contains("invalid_client"),
        "the request under way was answered: {answer:?}"
    );
    assert!(
        exit_after >= Duration::from_millis(2900) && exit_after < Duration::from_secs(10),
        "the stalled request was waited for until the grace (3 s) ran out, then the process \
         stopped: it exited {exit_after:?} after SIGTERM"
    );
    let mut rest = Vec::new();
    let cut = match stalled {
        Some(mut stalled) => stalled
            .read_to_end(&mut rest)
            .await
            .map_or(true, |n| n == 0),
        None => false,
    };
    assert!(
        cut,
        "the stalled connection was closed: {:?}",
        String::from_utf8_lossy(&rest)
    );
    assert!(
        db.dir.path().join("var/master.key").exists(),
        "a master key was generated on first start"
    );
    assert!(output.status.success(), "exit status {:?}", output.status);
    assert!(output.stdout.is_empty(), "serve prints nothing on stdout");
    let logs = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<serde_json::Value> = logs
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("every log line is JSON: {l}")))
        .collect();
    assert!(
        lines.iter().any(|l| l["message"] == "latchkey is ready"),
        "{logs}"
    );
    assert!(
        lines.iter().any(|l| l["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("shutting down"))),
        "{logs}"
    );
    assert!(lines.iter().any(
        |l| l["level"] == "WARN" && l["message"].as_str().unwrap_or("").contains("MASTER KEY")
    ));
}

#[test]
fn one_shot_commands_answer_without_migration_logs_or_colour() {
    let db = TestDb::sqlite();
    let key = master_key();
    let env = [
        ("LATCHKEY_DATABASE_URL", db.url.as_str()),
        ("LATCHKEY_KEYS__MASTER_KEY", key.as_str()),
    ];
    // Its output goes to a pipe here, as it does to a file or a log collector.
    let created = latchkey(
        db.dir.path(),
        &env,
        &[
            "client",
            "create",
            "--name",
            "Helpdesk",
            "--redirect-uri",
            "https://helpdesk.example/cb",
        ],
    );
    assert!(created.status.success(), "{}", stderr(&created));
    assert!(
        stdout(&created).contains("client_id"),
        "{}",
        stdout(&created)
    );
    let logs = stderr(&created);
    assert!(
        !logs.to_lowercase().contains("migration"),
        "no migrator progress: {logs}"
    );
    assert!(!logs.contains('\u{1b}'), "no colour codes: {logs:?}");

    // `migrate` is about migrations: it says what it applied, still without colour.
    let fresh = TestDb::sqlite();
    let migrated = latchkey(
        fresh.dir.path(),
        &[
            ("LATCHKEY_DATABASE_URL", fresh.url.as_str()),
            ("LATCHKEY_KEYS__MASTER_KEY", key.as_str()),
        ],
        &["migrate"],
    );
    assert!(migrated.status.success(), "{}", stderr(&migrated));
    let logs = stderr(&migrated);
    assert!(logs.to_lowercase().contains("migration"), "{logs}");
    assert!(!logs.contains('\u{1b}'), "no colour codes: {logs:?}");
}

/// A client that trickles its headers is cut off, so slow clients cannot hold connections
/// open, and so is one that sends nothing or only the HTTP/2 preface; one that sends its
/// request in time is served on the same server.
#[tokio::test]
async fn a_connection_that_never_finishes_its_headers_is_closed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let db = TestDb::sqlite();
    let mut cfg = config(&db, &master_key());
    cfg.http.header_read_timeout = latchkey_server::duration::Ttl::parse("1s").unwrap();
    let app = TestApp::spawn(cfg).await;
    let mut slow = tokio::net::TcpStream::connect(app.addr)
        .await
        .expect("connect");
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), slow.read_to_end(&mut rest)).await;
    assert!(
        closed.is_ok(),
        "the server closed the connection within its header timeout"
    );
    for (what, sent) in [
        ("nothing", &b""[..]),
        (
            "the HTTP/2 preface and SETTINGS",
            &b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00"[..],
        ),
    ] {
        let mut silent = tokio::net::TcpStream::connect(app.addr)
            .await
            .expect("connect");
        silent.write_all(sent).await.expect("write");
        let mut rest = Vec::new();
        let closed =
            tokio::time::timeout(Duration::from_secs(5), silent.read_to_end(&mut rest)).await;
        assert!(closed.is_ok(), "a connection that sent {what} was closed");
    }
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    app.stop().await;
}

/// Reads a response head from `stream` and says whether it is `100 Continue`.
async fn continue_seen(stream: &mut tokio::net::TcpStream) -> bool {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    let read = tokio::time::timeout(Duration::from_secs(5), async {
        while !head.ends_with(b"\r\n\r\n") {
            if stream.read_exact(&mut byte).await.is_err() {
                return;
            }
            head.push(byte[0]);
        }
    })
    .await;
    read.is_ok() && head.starts_with(b"HTTP/1.1 100")
}

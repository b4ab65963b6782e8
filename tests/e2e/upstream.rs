//! Helpers for signing in through a team's own identity provider: node-oidc-provider as that
//! provider (`upstream-op/op.mjs`), dnsmasq as the DNS that proves a domain, and the CLI with
//! the keys and DNS server a connection needs.

use std::io::{BufRead, BufReader};
use std::net::UdpSocket;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::browser::{Browser, Page};
use crate::harness::{TestApp, TestDb, free_port, latchkey, stderr, stdout, write_file};

pub(crate) const CLIENT_ID: &str = "latchkey";
const CLIENT_SECRET: &str = "upstream-secret-0123456789abcdef0123";

/// node-oidc-provider, running for one test with the accounts it is given.
pub(crate) struct UpstreamOp {
    child: Child,
    pub(crate) issuer: String,
    http: reqwest::Client,
}

impl UpstreamOp {
    /// Starts the provider with `accounts` (account key → claims), with Latchkey's callback
    /// registered for the client `latchkey`.
    pub(crate) async fn start(app: &TestApp, accounts: Value) -> Self {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/e2e/upstream-op");
        assert!(
            dir.join("node_modules/oidc-provider").exists(),
            "node-oidc-provider is not installed: run ./test.sh, which runs npm ci in {}",
            dir.display()
        );
        let port = free_port();
        let mut child = Command::new("node")
            .arg("op.mjs")
            .arg(port.to_string())
            .arg(CLIENT_ID)
            .arg(CLIENT_SECRET)
            .arg(app.running.state.issuer().endpoint("/sso/oidc/callback"))
            .current_dir(&dir)
            .env("ACCOUNTS", accounts.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("node runs (Node.js is on every machine of this kind)");
        let stdout = child.stdout.take().expect("stdout");
        let (tell, ready) = tokio::sync::oneshot::channel();
        // Reads on after "ready": a closed pipe would kill the provider at its next line.
        std::thread::spawn(move || {
            let mut tell = Some(tell);
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.starts_with("ready")
                    && let Some(tell) = tell.take()
                {
                    let _ = tell.send(());
                }
            }
        });
        tokio::time::timeout(Duration::from_secs(30), ready)
            .await
            .expect("the provider starts within 30 s")
            .expect("the provider did not start");
        Self {
            child,
            issuer: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
        }
    }

    /// Tells the provider how to behave next (`login-as?account=…`, `deny`, `slow?ms=…`,
    /// `tamper?mode=audience|key`).
    pub(crate) async fn control(&self, what: &str) {
        let response = self
            .http
            .get(format!("{}/_control/{what}", self.issuer))
            .send()
            .await
            .expect("control");
        assert_eq!(response.status(), StatusCode::OK);
    }

    /// Stops the provider, as an outage does.
    pub(crate) fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for UpstreamOp {
    fn drop(&mut self) {
        self.stop();
    }
}

/// dnsmasq answering the TXT records a test publishes.
pub(crate) struct Dns {
    child: Child,
    pub(crate) addr: String,
}

impl Dns {
    pub(crate) fn start(records: &[(&str, &str)]) -> Self {
        let port = free_port();
        let mut command = Command::new("dnsmasq");
        command.args([
            "--keep-in-foreground",
            "--no-resolv",
            "--no-hosts",
            "--conf-file=/dev/null",
            "--listen-address=127.0.0.1",
            "--bind-interfaces",
            "--user=root",
            "--pid-file=",
            // Authoritative for the tests' domains: a name without a record is NXDOMAIN,
            // as public DNS answers, not REFUSED.
            "--local=/example/",
        ]);
        command.arg(format!("--port={port}"));
        for (name, text) in records {
            command.arg(format!("--txt-record={name},{text}"));
        }
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("dnsmasq runs (test.sh installs dnsmasq-base)");
        let addr = format!("127.0.0.1:{port}");
        // Ready once it answers a query.
        let socket = UdpSocket::bind("127.0.0.1:0").expect("udp");
        socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
        let query =
            b"\x00\x01\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x00\x00\x10\x00\x01";
        let mut answer = [0u8; 512];
        let answered = (0..50)
            .any(|_| socket.send_to(query, &addr).is_ok() && socket.recv_from(&mut answer).is_ok());
        assert!(answered, "dnsmasq did not answer on {addr}");
        Self { child, addr }
    }
}

impl Drop for Dns {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The CLI's environment for connections: the database, issuer, this test's master key (the
/// client secret is sealed under it) and its DNS server.
pub(crate) fn connection_cli(
    db: &TestDb,
    app: &TestApp,
    master_key: &str,
    dns: Option<&Dns>,
    args: &[&str],
) -> std::process::Output {
    let mut env = crate::oidc::cli_env(db, app);
    env.push(("LATCHKEY_KEYS__MASTER_KEY", master_key));
    if let Some(dns) = dns {
        env.push(("LATCHKEY_FEDERATION__DNS_SERVER", dns.addr.as_str()));
    }
    latchkey(db.dir.path(), &env, args)
}

/// `connection add` for `team` at `op`, with `extra` flags; its `--json` answer.
pub(crate) fn add_connection(
    db: &TestDb,
    app: &TestApp,
    master_key: &str,
    op: &UpstreamOp,
    team: &str,
    extra: &[&str],
) -> Value {
    let secret = write_file(db.dir.path(), "okta-secret", CLIENT_SECRET);
    let mut args = vec![
        "connection",
        "add",
        "--json",
        "--team",
        team,
        "--name",
        "Acme Okta",
        "--issuer",
        &op.issuer,
        "--client-id",
        CLIENT_ID,
        "--client-secret-file",
        secret.to_str().expect("path"),
    ];
    args.extend_from_slice(extra);
    let output = connection_cli(db, app, master_key, None, &args);
    assert!(
        output.status.success(),
        "connection add: {}",
        stderr(&output)
    );
    serde_json::from_str(&stdout(&output)).expect("one JSON value")
}

/// Follows the identity provider's redirects (its login and consent, which it answers
/// itself) from `url` until it sends the browser back to Latchkey; returns that URL.
pub(crate) async fn through_provider(browser: &Browser, op: &UpstreamOp, url: &str) -> String {
    let mut url = url.to_owned();
    for _ in 0..12 {
        let page = browser.get(&url).await;
        assert!(
            page.status.is_redirection(),
            "{} at {url}: {}",
            page.status,
            page.body
        );
        let location = page.location().expect("location");
        let next = url::Url::parse(&url)
            .expect("url")
            .join(location)
            .expect("joined")
            .to_string();
        if !next.starts_with(&op.issuer) {
            return next;
        }
        url = next;
    }
    panic!("the provider kept redirecting");
}

/// From a `/sso/oidc/start` link to the page the callback answers.
pub(crate) async fn sign_in_upstream(browser: &Browser, op: &UpstreamOp, start: &str) -> Page {
    let sent = browser.get(start).await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.body);
    let to_provider = sent.location().expect("to the provider").to_owned();
    assert!(
        to_provider.starts_with(&op.issuer),
        "sent to the provider: {to_provider}"
    );
    let back = through_provider(browser, op, &to_provider).await;
    assert!(back.contains("/sso/oidc/callback?"), "{back}");
    browser.get(&back).await
}

/// The `/sso/oidc/start` link on a page.
pub(crate) fn start_link(page: &Page) -> String {
    // Attribute values come HTML-escaped, `/` included.
    let body = page.body.replace("&#x2F;", "/");
    let start = body
        .find("/sso/oidc/start?")
        .unwrap_or_else(|| panic!("no sign-in button: {}", page.body));
    body[start..]
        .split('"')
        .next()
        .unwrap_or_default()
        .replace("&amp;", "&")
}

/// The start link the "Continue to …" form of the home-realm page submits.
pub(crate) fn continue_link(page: &Page) -> String {
    assert!(
        page.body.contains("action=\"/sso/oidc/start\""),
        "not the home-realm page: {}",
        page.body
    );
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.append_pair("connection", &page.field("connection"));
    query.append_pair("login_hint", &page.field("login_hint"));
    if page.body.contains("name=\"request\"") {
        query.append_pair("request", &page.field("request"));
    }
    format!("/sso/oidc/start?{}", query.finish())
}

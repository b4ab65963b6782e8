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
    /// Starts the provider with `accounts` (account key → claims) and the client `latchkey`;
    /// `add_connection` registers each connection's redirect URI with it.
    pub(crate) async fn start(accounts: Value) -> Self {
        Self::start_with(accounts, false).await
    }

    /// Starts the provider giving thin ID tokens, as Okta's code flow does: `sub`,
    /// `auth_time` and the like, the person's claims at UserInfo only.
    pub(crate) async fn start_thin(accounts: Value) -> Self {
        Self::start_with(accounts, true).await
    }

    async fn start_with(accounts: Value, thin: bool) -> Self {
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
            .current_dir(&dir)
            .env("ACCOUNTS", accounts.to_string())
            .env("THIN_ID_TOKENS", if thin { "1" } else { "0" })
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
    /// `tamper?mode=audience|key|no-auth-time`, `auth-time?ago=SECONDS`, `userinfo-sub?sub=…`,
    /// `interactive?on=1`).
    pub(crate) async fn control(&self, what: &str) {
        let response = self
            .http
            .get(format!("{}/_control/{what}", self.issuer))
            .send()
            .await
            .expect("control");
        assert_eq!(response.status(), StatusCode::OK);
    }

    /// The provider's answer to `/_control/{what}`, as JSON.
    async fn report(&self, what: &str) -> Value {
        self.http
            .get(format!("{}/_control/{what}", self.issuer))
            .send()
            .await
            .expect("control")
            .json()
            .await
            .expect("JSON")
    }

    /// The authorization requests the provider received, oldest first: each one's `prompt`,
    /// `max_age`, `hd` and `login_hint` (null where absent).
    pub(crate) async fn authorizations(&self) -> Vec<Value> {
        self.report("authorizations")
            .await
            .as_array()
            .expect("a list")
            .clone()
    }

    /// How many times the provider asked someone for their credential (its login prompt).
    pub(crate) async fn logins(&self) -> usize {
        self.report("logins")
            .await
            .as_array()
            .expect("a list")
            .len()
    }

    /// How many token requests the provider has answered.
    pub(crate) async fn token_calls(&self) -> u64 {
        self.http
            .get(format!("{}/_control/token-calls", self.issuer))
            .send()
            .await
            .expect("control")
            .text()
            .await
            .expect("count")
            .parse()
            .expect("a number")
    }

    /// Registers a redirect URI for the client, as an administrator does at the provider once
    /// Latchkey printed it.
    pub(crate) async fn register_redirect(&self, uri: &str) {
        let encoded: String = url::form_urlencoded::byte_serialize(uri.as_bytes()).collect();
        self.control(&format!("redirect?uri={encoded}")).await;
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
    pub(crate) port: u16,
}

impl Dns {
    pub(crate) fn start(records: &[(&str, &str)]) -> Self {
        Self::start_on(free_port(), records)
    }

    /// On `port`: a test restarts its DNS there with other records.
    pub(crate) fn start_on(port: u16, records: &[(&str, &str)]) -> Self {
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
        Self { child, addr, port }
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
pub(crate) async fn add_connection(
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
    let added: Value = serde_json::from_str(&stdout(&output)).expect("one JSON value");
    // The redirect URI under the provider's own issuer (the CLI here names it by address).
    let redirect = latchkey_connections::redirect_uri(
        app.running.state.issuer(),
        added["connection_id"].as_str().expect("connection_id"),
    );
    op.register_redirect(&redirect).await;
    added
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

/// Starts a sign-in with the form fields of a start button (the CSRF token taken from a page
/// of this browser, as the form carries it) and returns where it sends the browser.
pub(crate) async fn start(browser: &Browser, fields: &[(&str, &str)]) -> Page {
    let csrf = browser.get("/login").await.field("csrf");
    let mut all = fields.to_vec();
    all.push(("csrf", &csrf));
    browser.post("/sso/oidc/start", &all).await
}

/// Starts a sign-in and follows the provider until it sends the browser back: the callback URL.
pub(crate) async fn to_callback(
    browser: &Browser,
    op: &UpstreamOp,
    fields: &[(&str, &str)],
) -> String {
    let sent = start(browser, fields).await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.body);
    let to_provider = sent.location().expect("to the provider").to_owned();
    assert!(
        to_provider.starts_with(&op.issuer),
        "sent to the provider: {to_provider}"
    );
    let back = through_provider(browser, op, &to_provider).await;
    assert!(back.contains("/sso/oidc/callback/"), "{back}");
    back
}

/// From a start button's fields to the page the callback answers.
pub(crate) async fn sign_in_upstream(
    browser: &Browser,
    op: &UpstreamOp,
    fields: &[(&str, &str)],
) -> Page {
    let back = to_callback(browser, op, fields).await;
    browser.get(&back).await
}

/// The fields of a page's form that starts a sign-in with a provider: the home-realm page's
/// "Continue to …", or the first "Sign in with …" button of a team's page.
pub(crate) fn start_fields(page: &Page) -> Vec<(String, String)> {
    let start = page
        .body
        .find("action=\"/sso/oidc/start\"")
        .unwrap_or_else(|| panic!("no form that starts a sign-in: {}", page.body));
    let rest = &page.body[start..];
    let form = Page {
        status: page.status,
        headers: page.headers.clone(),
        body: rest[..rest.find("</form>").expect("end of form")].to_owned(),
    };
    ["connection", "login_hint", "request"]
        .into_iter()
        .filter(|name| form.body.contains(&format!("name=\"{name}\"")))
        .map(|name| (name.to_owned(), form.field(name)))
        .collect()
}

/// Borrows owned fields as the form helpers take them.
pub(crate) fn borrowed(fields: &[(String, String)]) -> Vec<(&str, &str)> {
    fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

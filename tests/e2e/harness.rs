//! The test harness: databases, running providers and the binary, with typed helpers.

use latchkey_core::Clock;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

use latchkey_keys::{KeyRing, MasterKey};
use latchkey_server::config::Config;
use latchkey_server::serve::{self, Running};
use sea_orm::{ConnectionTrait, Database};

/// Runs an async test body once on SQLite and once on PostgreSQL.
/// `on_both_databases!(name)` expects `async fn name(db: TestDb)` beside it.
#[macro_export]
macro_rules! on_both_databases {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::harness::TestDb::sqlite()).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                match $crate::harness::TestDb::postgres().await {
                    Some(db) => super::$name(db).await,
                    None => eprintln!(
                        "LATCHKEY_TEST_POSTGRES_URL is not set: PostgreSQL variant not run"
                    ),
                }
            }
        }
    };
}

/// A database of its own for one test.
pub struct TestDb {
    pub url: String,
    /// Holds the SQLite file's folder, and is the working directory of binaries run on it.
    pub dir: tempfile::TempDir,
    /// For PostgreSQL: the server's admin URL, to drop the database when the test ends.
    admin_url: Option<String>,
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(admin_url) = self.admin_url.take() else {
            return;
        };
        let Some(name) = url::Url::parse(&self.url)
            .ok()
            .map(|u| u.path().trim_start_matches('/').to_owned())
        else {
            return;
        };
        // Drop runs inside the test's runtime, which cannot block on itself: use a thread of its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let admin = Database::connect(&admin_url).await.ok()?;
                admin
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await
                    .ok()
            })
        });
        let _ = dropped.join();
    }
}

impl TestDb {
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}/latchkey.db?mode=rwc", dir.path().display());
        Self {
            url,
            dir,
            admin_url: None,
        }
    }

    /// A fresh PostgreSQL database, or None when the tests are not given a server.
    pub async fn postgres() -> Option<Self> {
        let admin_url = std::env::var("LATCHKEY_TEST_POSTGRES_URL")
            .ok()
            .filter(|url| !url.is_empty())?;
        let admin = Database::connect(&admin_url).await.unwrap_or_else(|e| {
            panic!("LATCHKEY_TEST_POSTGRES_URL={admin_url} is set but unreachable: {e}")
        });
        let name = format!("latchkey_test_{}", uuid::Uuid::new_v4().simple());
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create test database");
        admin.close().await.ok();
        let mut url = url::Url::parse(&admin_url).expect("LATCHKEY_TEST_POSTGRES_URL is a URL");
        url.set_path(&name);
        Some(Self {
            url: url.to_string(),
            dir: tempfile::tempdir().expect("tempdir"),
            admin_url: Some(admin_url),
        })
    }
}

/// A fresh master key, in the base64 form configuration takes.
pub fn master_key() -> String {
    MasterKey::generate().expect("master key").1
}

/// A free port on the loopback interface, for a server that starts later or in another
/// process (the `latchkey` binary, an SMTP sink that comes up after the provider).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// Where a provider listens until it is spawned: on a port the system picks, whose address
/// then becomes the issuer too.
pub const ANY_PORT: &str = "127.0.0.1:0";
/// An issuer on `localhost` at the port the provider binds.
pub const LOCALHOST_ANY_PORT: &str = "http://localhost:0";

/// Settings for a provider on `db`, on a port picked when it starts, with a test's adjustments.
pub fn config(db: &TestDb, master_key: &str) -> Config {
    let mut config = Config {
        issuer: format!("http://{ANY_PORT}"),
        listen: ANY_PORT.to_owned(),
        database_url: db.url.clone(),
        ..Config::default()
    };
    config.keys.master_key = master_key.to_owned();
    config.log.level = "warn".into();
    // The tests publish keys on 127.0.0.1 over http.
    config.federation.allow_private_networks = true;
    config
}

/// A provider running in this process.
pub struct TestApp {
    pub base_url: String,
    pub addr: SocketAddr,
    pub running: Running,
    pub http: reqwest::Client,
    /// The provider's clock: a test moves it forward rather than sleeping.
    pub clock: Clock,
    /// Its master key (base64), which the CLI run beside it is given too: what one seals
    /// (SAML certificates, pairwise keys), the other opens.
    pub master_key: String,
}

impl TestApp {
    pub async fn spawn(mut config: Config) -> Self {
        // Bound here and handed over, so no other process can take the port in between.
        let listener = tokio::net::TcpListener::bind(config.listen.as_str())
            .await
            .expect("bind");
        let bound = listener.local_addr().expect("addr");
        if config.issuer == format!("http://{ANY_PORT}") {
            config.issuer = format!("http://{bound}");
        }
        // Browsers keep `Secure` cookies over http from `localhost` (framed sign-on needs them).
        if config.issuer == LOCALHOST_ANY_PORT {
            config.issuer = format!("http://localhost:{}", bound.port());
        }
        config.listen = bound.to_string();
        let master_key = config.keys.master_key.clone();
        let mut settings = config.check().expect("test configuration is valid");
        settings.clock = Clock::adjustable();
        let clock = settings.clock.clone();
        let running = serve::start_on(listener, &settings)
            .await
            .expect("provider starts");
        let addr = running.addr;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        Self {
            base_url: format!("http://{addr}"),
            addr,
            running,
            http,
            clock,
            master_key,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http.get(self.url(path)).send().await.expect("request")
    }

    /// The JWKS as served, parsed.
    pub async fn jwks(&self) -> serde_json::Value {
        self.get("/.well-known/jwks.json")
            .await
            .json()
            .await
            .expect("jwks json")
    }

    /// The kids in the served JWKS, sorted.
    pub async fn published_kids(&self) -> Vec<String> {
        let mut kids: Vec<String> = self.jwks().await["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .map(|k| k["kid"].as_str().expect("kid").to_owned())
            .collect();
        kids.sort();
        kids
    }

    /// The key ring this provider signs with right now.
    pub fn ring(&self) -> std::sync::Arc<KeyRing> {
        self.running.state.keys().load_full()
    }

    pub async fn stop(self) {
        self.running.shutdown().await.expect("graceful shutdown");
    }
}

/// The `latchkey` binary, run in `dir` with these environment variables.
pub fn latchkey(dir: &std::path::Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_latchkey"));
    command.current_dir(dir).args(args).env_remove("RUST_LOG");
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("run latchkey")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Polls `check` every 100 ms until it holds or `within` has passed.
pub async fn eventually<F, Fut>(within: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Polls `check` every 100 ms until it gives a value, and returns that value; panics naming
/// `what` if `within` passes first.
pub async fn until_some<T, F, Fut>(within: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(seen) = check().await {
            return seen;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not seen within {within:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the outbox on `db` has nothing left to send: every mail in it sent (or
/// dropped). Mail is written to the outbox with the change it announces, before the request
/// is answered, so by then the mail server has every mail the answered requests will ever
/// send, and a test can count them without waiting "a while" for stragglers.
pub async fn outbox_settled(db: &TestDb) {
    use latchkey_login::entities::mail_outbox;
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    let conn = Database::connect(&db.url).await.expect("connect");
    let waiting = || async {
        mail_outbox::Entity::find()
            .filter(mail_outbox::Column::SentAt.is_null())
            .filter(mail_outbox::Column::DroppedAt.is_null())
            .count(&conn)
            .await
            .expect("read the outbox")
    };
    let settled = eventually(Duration::from_secs(15), || async { waiting().await == 0 }).await;
    assert!(
        settled,
        "{} mails still waiting in the outbox after 15 s",
        waiting().await
    );
    conn.close().await.ok();
}

/// A folder for configuration files a test writes.
pub fn write_file(dir: &std::path::Path, name: &str, contents: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).expect("write file");
    path
}

/// Runs the real CLI against this provider's database with `--json`, and returns its answer,
/// or panics with its stderr.
pub fn cli_json(db: &TestDb, app: &TestApp, args: &[&str]) -> serde_json::Value {
    let mut all = args.to_vec();
    all.push("--json");
    let output = latchkey(db.dir.path(), &crate::oidc::cli_env(db, app), &all);
    assert!(output.status.success(), "{args:?}: {}", stderr(&output));
    serde_json::from_str(&stdout(&output)).expect("one JSON value on stdout")
}

/// A team, and a `client_credentials` client of it with the scope `api`, made through `cli`
/// (the real CLI, answering `--json`): the client's id and secret.
pub fn machine_client(cli: impl Fn(&[&str]) -> serde_json::Value) -> (String, String) {
    let team = cli(&[
        "team",
        "create",
        "--name",
        "Ops",
        "--admin",
        "ops@example.com",
    ]);
    let client = cli(&[
        "client",
        "create",
        "--name",
        "Machine",
        "--team",
        team["team_id"].as_str().expect("team_id"),
        "--grant-type",
        "client_credentials",
        "--scope",
        "api",
    ]);
    let field = |name: &str| client[name].as_str().expect(name).to_owned();
    (field("client_id"), field("client_secret"))
}

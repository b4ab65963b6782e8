//! SQLite's file going wrong under the provider: locked by another process, on a read-only
//! disk, on a full disk. Each gives a clear error at start or a 503 page with a log line
//! naming the cause, never a panic, and the file stays whole; once the cause passes, the
//! same process serves again.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use reqwest::StatusCode;

use crate::browser::Browser;
use crate::harness::{TestDb, eventually, free_port, master_key};
use crate::process::{Served, run_to_exit, serve_command};

/// What the page says when the database cannot take the request now.
const UNAVAILABLE: &str = "cannot use its database right now";

fn env<'a>(db: &'a TestDb, key: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("LATCHKEY_DATABASE_URL", db.url.as_str()),
        ("LATCHKEY_KEYS__MASTER_KEY", key),
        ("LATCHKEY_HTTP__RATE_LIMIT_PER_IP", "1000000"),
    ]
}

/// Asks for a sign-in link as a person would; the page's status and body.
async fn ask_for_link(base_url: &str, email: &str) -> (StatusCode, String) {
    let page = Browser::new(base_url).request_login(email).await;
    (page.status, page.body)
}

/// `PRAGMA integrity_check` on the file, from another process (Python's sqlite3).
fn integrity(file: &Path) -> String {
    let output = Command::new("python3")
        .args([
            "-c",
            "import sqlite3, sys; \
             c = sqlite3.connect(sys.argv[1], timeout=10); \
             print(c.execute('PRAGMA integrity_check').fetchone()[0])",
        ])
        .arg(file)
        .output()
        .expect("python3");
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
        + &String::from_utf8_lossy(&output.stderr)
}

/// No log line of a panic.
fn assert_no_panic(logs: &str) {
    assert!(!logs.contains("panicked"), "{logs}");
}

/// Another process holding the write lock on the file (`BEGIN EXCLUSIVE`) until dropped.
pub(crate) struct Lock(std::process::Child);

impl Lock {
    pub(crate) fn take(file: &Path) -> Self {
        let mut child = Command::new("python3")
            .args([
                "-c",
                "import sqlite3, sys; \
                 c = sqlite3.connect(sys.argv[1], isolation_level=None); \
                 c.execute('BEGIN EXCLUSIVE'); \
                 print('locked', flush=True); \
                 sys.stdin.read()",
            ])
            .arg(file)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3");
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().expect("stdout"))
            .read_line(&mut line)
            .expect("read");
        assert_eq!(line.trim(), "locked");
        Self(child)
    }

    pub(crate) fn release(mut self) {
        drop(self.0.stdin.take());
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_sqlite_file_is_answered_with_503_then_served_again() {
    let db = TestDb::sqlite();
    let key = master_key();
    let file = db.dir.path().join("latchkey.db");
    let mut served = Served::start(db.dir.path(), &env(&db, &key))
        .await
        .expect("latchkey serve starts");
    let (status, _) = ask_for_link(&served.base_url, "before@example.com").await;
    assert_eq!(status, StatusCode::SEE_OTHER);

    let lock = Lock::take(&file);
    let (status, body) = ask_for_link(&served.base_url, "locked@example.com").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{}", served.logs());
    assert!(body.contains(UNAVAILABLE), "{body}");
    // The line is written as the page is; the logs reach this test through a pipe, so it may
    // arrive a moment after the answer.
    let names_the_lock = |logs: String| {
        logs.lines().any(|l| {
            l.contains("WARN")
                && l.contains("the database cannot take requests now")
                && l.contains("database is locked")
        })
    };
    let logged = eventually(Duration::from_secs(5), || {
        let logs = served.logs();
        async move { names_the_lock(logs) }
    })
    .await;
    assert!(logged, "a log line names the lock: {}", served.logs());
    // Reads go on beside the lock (WAL): the pages that only read still answer.
    let page = Browser::new(&served.base_url).get("/login").await;
    assert_eq!(page.status, StatusCode::OK);

    // A second provider started on the locked file says why it cannot start.
    let port = free_port();
    let started = run_to_exit(
        serve_command(db.dir.path(), port, &env(&db, &key), None),
        Duration::from_secs(30),
    )
    .await;
    lock.release();
    let (status, stderr) = started.expect("stopped within 30 s");
    assert!(!status.success());
    assert!(stderr.contains("cannot be written"), "{stderr}");
    assert!(stderr.contains("database is locked"), "{stderr}");
    assert!(
        stderr.contains("another process holds the file's lock"),
        "the error says what to do: {stderr}"
    );
    assert_no_panic(&stderr);

    let (status, body) = ask_for_link(&served.base_url, "after@example.com").await;
    assert_eq!(
        status,
        StatusCode::SEE_OTHER,
        "served again, no restart: {body}"
    );
    served.signal("TERM");
    let exit = served.wait_exit(Duration::from_secs(10)).await;
    assert!(exit.is_some_and(|s| s.success()), "{exit:?}");
    assert_no_panic(&served.logs());
    assert_eq!(integrity(&file), "ok");
}

/// Whether this process may make mount namespaces (root, as in CI): the read-only and full
/// disks are made there.
fn can_mount() -> bool {
    Command::new("unshare")
        .args(["--mount", "true"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `latchkey serve` on `url` in a mount namespace of its own, made ready by `script` (shell
/// commands run as root before the binary starts).
fn serve_in_namespace(
    db: &TestDb,
    port: u16,
    url: &str,
    key: &str,
    script: &str,
) -> std::process::Command {
    let script = format!("{script} && exec \"$0\" \"$@\"");
    let wrapper = [
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        &script,
    ];
    serve_command(
        db.dir.path(),
        port,
        &[
            ("LATCHKEY_DATABASE_URL", url),
            ("LATCHKEY_KEYS__MASTER_KEY", key),
            ("LATCHKEY_HTTP__RATE_LIMIT_PER_IP", "1000000"),
        ],
        Some(&wrapper),
    )
}

/// A database file made by `latchkey migrate` in `dir`.
fn migrated(dir: &Path, key: &str) -> String {
    let url = format!("sqlite://{}/latchkey.db?mode=rwc", dir.display());
    let output = crate::harness::latchkey(
        dir,
        &[
            ("LATCHKEY_DATABASE_URL", &url),
            ("LATCHKEY_KEYS__MASTER_KEY", key),
        ],
        &["migrate"],
    );
    assert!(
        output.status.success(),
        "{}",
        crate::harness::stderr(&output)
    );
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_file_on_a_read_only_disk_is_named_at_start() {
    if !can_mount() {
        eprintln!("not allowed to make a mount namespace: the read-only disk is not tested");
        return;
    }
    let db = TestDb::sqlite();
    let key = master_key();
    let data = db.dir.path().join("data");
    std::fs::create_dir(&data).expect("mkdir");
    let url = migrated(&data, &key);
    let before = std::fs::read(data.join("latchkey.db")).expect("read");
    // The folder bound read-only onto itself, in a mount namespace of the provider's own.
    let script = format!(
        "mount --bind '{0}' '{0}' && mount -o remount,bind,ro '{0}'",
        data.display()
    );
    let started = run_to_exit(
        serve_in_namespace(&db, free_port(), &url, &key, &script),
        Duration::from_secs(30),
    )
    .await;
    let (status, stderr) = started.expect("stopped within 30 s");
    assert!(!status.success());
    assert!(
        stderr.contains(&data.display().to_string()),
        "names the file: {stderr}"
    );
    assert!(stderr.contains("read-only"), "says why: {stderr}");
    assert_no_panic(&stderr);
    assert_eq!(
        std::fs::read(data.join("latchkey.db")).expect("read"),
        before,
        "the file is as it was"
    );
    assert_eq!(integrity(&data.join("latchkey.db")), "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_is_answered_with_503_then_served_again_once_there_is_room() {
    if !can_mount() {
        eprintln!("not allowed to make a mount namespace: the full disk is not tested");
        return;
    }
    let db = TestDb::sqlite();
    let key = master_key();
    let made = db.dir.path().join("made");
    std::fs::create_dir(&made).expect("mkdir");
    migrated(&made, &key);
    // The provider's folder is a small tmpfs of its own, seeded with the migrated file.
    let data = db.dir.path().join("data");
    std::fs::create_dir(&data).expect("mkdir");
    let script = format!(
        "mount -t tmpfs -o size=8m tmpfs '{0}' && cp '{1}/latchkey.db' '{0}/'",
        data.display(),
        made.display()
    );
    let url = format!("sqlite://{}/latchkey.db", data.display());
    let port = free_port();
    let command = serve_in_namespace(&db, port, &url, &key, &script);
    let mut served = Served::start_command(command, port)
        .await
        .expect("latchkey serve starts on its tmpfs");
    // The tmpfs as the provider sees it, from outside its namespace.
    let inside = Path::new("/proc")
        .join(served.pid().to_string())
        .join("root")
        .join(data.strip_prefix("/").expect("absolute"));
    let (status, _) = ask_for_link(&served.base_url, "before@example.com").await;
    assert_eq!(status, StatusCode::SEE_OTHER);

    // Fill the disk.
    let filler = inside.join("filler");
    let mut file = std::fs::File::create(&filler).expect("filler");
    let block = vec![0_u8; 64 * 1024];
    while file.write_all(&block).is_ok() {}
    let _ = file.write_all(&block[..512]);
    drop(file);

    // Each sign-in writes a few pages: once the write-ahead log must grow, it cannot.
    let mut refused = None;
    for n in 0..2_000 {
        let (status, body) = ask_for_link(&served.base_url, &format!("full{n}@example.com")).await;
        match status {
            StatusCode::SEE_OTHER => continue,
            StatusCode::SERVICE_UNAVAILABLE => {
                refused = Some(body);
                break;
            }
            other => panic!("a full disk answered {other}: {}", served.logs()),
        }
    }
    let body = refused.expect("a full disk is felt within 2,000 sign-ins");
    assert!(body.contains(UNAVAILABLE), "{body}");
    let logs = served.logs();
    assert!(
        logs.lines().any(|l| l.contains("ERROR")
            && l.contains("the database cannot take requests now")
            && l.contains("full")),
        "a log line says the disk is full: {logs}"
    );

    std::fs::remove_file(&filler).expect("free the disk");
    let client = reqwest::Client::new();
    let served_again = eventually(Duration::from_secs(10), || {
        let base = served.base_url.clone();
        async move { ask_for_link(&base, "after@example.com").await.0 == StatusCode::SEE_OTHER }
    })
    .await;
    assert!(served_again, "served again once there is room, no restart");
    let ready = client
        .get(served.url("/readyz"))
        .send()
        .await
        .expect("readyz");
    assert_eq!(ready.status(), StatusCode::OK);
    assert_eq!(integrity(&inside.join("latchkey.db")), "ok");
    served.signal("TERM");
    let exit = served.wait_exit(Duration::from_secs(10)).await;
    assert!(exit.is_some_and(|s| s.success()), "{exit:?}");
    assert_no_panic(&served.logs());
}

//! `latchkey serve` as a process of its own, for what only a process shows: its start-up
//! errors, its logs, a signal, `kill -9`, and a file system of its own (a read-only or full
//! disk, in a mount namespace).

use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::harness::{eventually, free_port};

/// A running (or exited) `latchkey serve`, its stderr gathered as it goes.
pub struct Served {
    child: Child,
    pub base_url: String,
    logs: Arc<Mutex<String>>,
}

/// The command for `latchkey serve` in `dir` on `port`, JSON logs, with `env` on top.
/// `wrapper` runs it inside another program (`unshare … sh -c '…' sh BINARY serve`): the
/// binary's path and `serve` are passed as its last arguments.
pub fn serve_command(
    dir: &Path,
    port: u16,
    env: &[(&str, &str)],
    wrapper: Option<&[&str]>,
) -> Command {
    let binary = env!("CARGO_BIN_EXE_latchkey");
    let mut command = match wrapper {
        Some([program, args @ ..]) => {
            let mut command = Command::new(program);
            command.args(args).args([binary, "serve"]);
            command
        }
        _ => {
            let mut command = Command::new(binary);
            command.arg("serve");
            command
        }
    };
    command
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .env("LATCHKEY_LISTEN", format!("127.0.0.1:{port}"))
        .env("LATCHKEY_ISSUER", format!("http://127.0.0.1:{port}"))
        .env("LATCHKEY_LOG__FORMAT", "json")
        .env("LATCHKEY_LOG__LEVEL", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (key, value) in env {
        command.env(key, value);
    }
    command
}

impl Served {
    /// Starts `latchkey serve` on a free port and waits until it is ready, or until it
    /// exits (then `Err` with what it printed).
    pub async fn start(dir: &Path, env: &[(&str, &str)]) -> Result<Self, String> {
        let port = free_port();
        Self::start_command(serve_command(dir, port, env, None), port).await
    }

    /// Starts `command` (from [`serve_command`] on `port`) and waits as [`Served::start`].
    pub async fn start_command(mut command: Command, port: u16) -> Result<Self, String> {
        let mut child = command.spawn().expect("spawn latchkey serve");
        let logs = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().expect("stderr piped");
        let gathered = logs.clone();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let mut logs = gathered.lock().expect("logs");
                logs.push_str(&line);
                logs.push('\n');
            }
        });
        let mut served = Self {
            child,
            base_url: format!("http://127.0.0.1:{port}"),
            logs,
        };
        let client = reqwest::Client::new();
        let ready_url = served.url("/readyz");
        let mut exited = false;
        let ready = eventually(Duration::from_secs(30), || {
            exited = exited || matches!(served.child.try_wait(), Ok(Some(_)));
            let check = (!exited).then(|| client.get(&ready_url).send());
            async move {
                match check {
                    Some(request) => request.await.is_ok_and(|r| r.status().is_success()),
                    None => true,
                }
            }
        })
        .await;
        if ready && !exited {
            return Ok(served);
        }
        let _ = served.child.kill();
        let _ = served.wait_exit(Duration::from_secs(5)).await;
        Err(served.logs())
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything it has logged so far.
    pub fn logs(&self) -> String {
        self.logs.lock().expect("logs").clone()
    }

    /// Sends `signal` (`TERM`, `KILL`).
    pub fn signal(&self, signal: &str) {
        let sent = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(sent.success(), "kill -{signal}");
    }

    /// Waits up to `within` for the process to exit.
    pub async fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                // The reader thread may still hold the last lines: give it a moment.
                tokio::time::sleep(Duration::from_millis(100)).await;
                return Some(status);
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `command` (from [`serve_command`]) until it exits, at most `within`, and returns its
/// exit status and stderr (read as it goes, so a long one never blocks it).
pub async fn run_to_exit(mut command: Command, within: Duration) -> Option<(ExitStatus, String)> {
    let mut child = command.spawn().expect("spawn latchkey");
    let stderr = child.stderr.take().expect("stderr piped");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut std::io::BufReader::new(stderr), &mut text);
        text
    });
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some((status, reader.join().unwrap_or_default()));
        }
        if tokio::time::Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

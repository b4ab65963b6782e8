//! Two replicas on PostgreSQL behind a real load balancer (Caddy, as `deploy/compose.yaml`
//! runs it, checking `/readyz`): one is stopped with SIGTERM under load, and no request
//! fails at the balancer. The replica drains first (`http.shutdown_delay`: not ready, every
//! response closing its connection), so the balancer has moved away before its listener
//! closes.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::future::join_all;
use reqwest::StatusCode;

use crate::harness::{
    TestDb, eventually, free_port, latchkey, machine_client, master_key, stderr, stdout,
};
use crate::process::Served;

/// Caddy in front of `upstreams`, on `port`, until dropped.
struct Caddy(Child);

impl Caddy {
    fn start(dir: &std::path::Path, port: u16, upstreams: &[&Served]) -> Self {
        let upstreams: Vec<String> = upstreams
            .iter()
            .map(|s| s.base_url.trim_start_matches("http://").to_owned())
            .collect();
        // As deploy/Caddyfile, with checks of /readyz every 200 ms rather than every second
        // (the replica drains for 2 s rather than 3).
        let caddyfile = format!(
            "{{\n\tadmin off\n\tauto_https off\n}}\n\
             http://127.0.0.1:{port} {{\n\
             \treverse_proxy {upstreams} {{\n\
             \t\tlb_policy least_conn\n\
             \t\tlb_try_duration 5s\n\
             \t\tlb_try_interval 50ms\n\
             \t\thealth_uri /readyz\n\
             \t\thealth_interval 200ms\n\
             \t\thealth_timeout 5s\n\
             \t}}\n}}\n",
            upstreams = upstreams.join(" ")
        );
        let file = dir.join("Caddyfile");
        std::fs::write(&file, caddyfile).expect("write Caddyfile");
        let child = Command::new("caddy")
            .args(["run", "--adapter", "caddyfile", "--config"])
            .arg(&file)
            .env("HOME", dir)
            .env("XDG_DATA_HOME", dir.join("data"))
            .env("XDG_CONFIG_HOME", dir.join("config"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("caddy.log")).expect("log file"))
            .spawn()
            .expect("caddy is installed (test.sh installs it)");
        Self(child)
    }
}

impl Drop for Caddy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// How many requests of the load `served` has answered, from its own metrics (not Caddy's
/// checks of `/readyz`, nor these reads of `/metrics`).
async fn answered(served: &Served) -> u64 {
    let text = reqwest::get(served.url("/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    text.lines()
        .filter(|l| l.starts_with("http_requests_total{"))
        .filter(|l| !l.contains("/readyz") && !l.contains("/metrics"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replica_stopped_under_load_fails_no_request_at_the_load_balancer() {
    let Some(db) = TestDb::postgres().await else {
        eprintln!("LATCHKEY_TEST_POSTGRES_URL is not set: the load balancer test needs PostgreSQL");
        return;
    };
    let key = master_key();
    let lb_port = free_port();
    let issuer = format!("http://127.0.0.1:{lb_port}");
    let env = [
        ("LATCHKEY_DATABASE_URL", db.url.as_str()),
        ("LATCHKEY_KEYS__MASTER_KEY", key.as_str()),
        ("LATCHKEY_ISSUER", issuer.as_str()),
        ("LATCHKEY_HTTP__SHUTDOWN_DELAY", "2s"),
        ("LATCHKEY_HTTP__SHUTDOWN_GRACE", "5s"),
    ];
    let first = Served::start(db.dir.path(), &env).await.expect("replica 1");
    let mut second = Served::start(db.dir.path(), &env).await.expect("replica 2");
    let (client_id, secret) = machine_client(|args| {
        let mut all = args.to_vec();
        all.push("--json");
        let output = latchkey(db.dir.path(), &env, &all);
        assert!(output.status.success(), "{args:?}: {}", stderr(&output));
        serde_json::from_str(&stdout(&output)).expect("JSON")
    });

    let caddy_dir = tempfile::tempdir().expect("tempdir");
    let _caddy = Caddy::start(caddy_dir.path(), lb_port, &[&first, &second]);
    let http = reqwest::Client::new();
    assert!(
        eventually(Duration::from_secs(20), || {
            let request = http.get(format!("{issuer}/readyz")).send();
            async move { request.await.is_ok_and(|r| r.status().is_success()) }
        })
        .await,
        "Caddy answers through the replicas: {}",
        std::fs::read_to_string(caddy_dir.path().join("caddy.log")).unwrap_or_default()
    );

    // Load through the balancer: tokens, discovery and the login page, until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let workers = (0..6).map(|worker| {
        let (http, issuer, stop) = (http.clone(), issuer.clone(), stop.clone());
        let (client_id, secret) = (client_id.clone(), secret.clone());
        tokio::spawn(async move {
            let (mut ok, mut failed) = (0_u64, Vec::new());
            let mut n = worker;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let response = match n % 3 {
                    0 => {
                        http.post(format!("{issuer}/token"))
                            .basic_auth(&client_id, Some(&secret))
                            .form(&[("grant_type", "client_credentials")])
                            .send()
                            .await
                    }
                    1 => {
                        http.get(format!("{issuer}/.well-known/openid-configuration"))
                            .send()
                            .await
                    }
                    _ => http.get(format!("{issuer}/login")).send().await,
                };
                match response {
                    Ok(r) if r.status() == StatusCode::OK => ok += 1,
                    Ok(r) => failed.push(format!(
                        "{} {}",
                        r.status(),
                        r.text().await.unwrap_or_default()
                    )),
                    Err(error) => failed.push(error.to_string()),
                }
                // Paced a little, so that the replica left is never too busy to answer
                // Caddy's checks on a loaded two-core machine.
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            (ok, failed)
        })
    });
    let workers: Vec<_> = workers.collect();

    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = answered(&second).await;
    assert!(before > 0, "both replicas take load before the stop");
    let stopped_at = std::time::Instant::now();
    second.signal("TERM");
    let exit = second.wait_exit(Duration::from_secs(15)).await;
    let took = stopped_at.elapsed();
    // Load goes on a while after, on the replica left.
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::Relaxed);
    let results = join_all(workers).await;

    let mut ok = 0;
    let mut failed = Vec::new();
    for result in results {
        let (done, errors) = result.expect("worker");
        ok += done;
        failed.extend(errors);
    }
    assert!(
        failed.is_empty(),
        "{} of {} requests failed: {:?}\nCaddy: {}",
        failed.len(),
        ok as usize + failed.len(),
        &failed[..failed.len().min(5)],
        std::fs::read_to_string(caddy_dir.path().join("caddy.log")).unwrap_or_default()
    );
    assert!(ok > 100, "load ran: {ok} requests");
    assert!(
        exit.is_some_and(|s| s.success()),
        "stopped cleanly: {exit:?}"
    );
    assert!(
        took >= Duration::from_secs(2),
        "it drained for http.shutdown_delay before closing: exited after {took:?}"
    );
    let logs = second.logs();
    assert!(logs.contains("draining"), "{logs}");
    assert!(!logs.contains("panicked"), "{logs}");
    assert!(answered(&first).await > 0);
}

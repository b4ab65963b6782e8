//! Replicas on PostgreSQL losing what they depend on: the mail server down for a minute
//! under sign-up load, and a replica killed with `kill -9` while it redeems secrets and
//! holds a mail it was sending.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use reqwest::StatusCode;
use tokio::net::TcpListener;

use crate::browser::Browser;
use crate::cluster::post_form;
use crate::harness::{TestApp, TestDb, config};
use crate::oidc::{REDIRECT_URI, allow, authorize_scopes, callback, provider, sign_in, web_client};
use crate::process::Served;
use crate::smtp::SmtpSink;

/// How long the mail server is down, on the replicas' clocks: a minute, as the issue asks;
/// another with LATCHKEY_TEST_SMTP_OUTAGE_SECS when trying the test by hand.
fn outage() -> Duration {
    let secs = std::env::var("LATCHKEY_TEST_SMTP_OUTAGE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    Duration::from_secs(secs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mail_waits_out_a_mail_server_outage_and_goes_out_once() {
    let Some(db) = TestDb::postgres().await else {
        eprintln!("LATCHKEY_TEST_POSTGRES_URL is not set: the outage test needs PostgreSQL");
        return;
    };
    let smtp = SmtpSink::down().await;
    let key = crate::harness::master_key();
    let mut replicas = Vec::new();
    for _ in 0..2 {
        let mut cfg = config(&db, &key);
        cfg.mail.smtp_url = smtp.url();
        cfg.http.rate_limit_per_ip = 1_000_000;
        if let Some(first) = replicas.first() {
            let first: &TestApp = first;
            cfg.issuer = first.base_url.clone();
        }
        replicas.push(TestApp::spawn(cfg).await);
    }
    let bases: Vec<String> = replicas.iter().map(|r| r.base_url.clone()).collect();

    // Sign-ups on both replicas, through the outage and ten seconds past it.
    let outage = outage();
    let started = Instant::now();
    let asked = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..4)
        .map(|worker| {
            let (base, asked, stop) = (bases[worker % 2].clone(), asked.clone(), stop.clone());
            tokio::spawn(async move {
                let (mut slowest, mut wrong) = (Duration::ZERO, Vec::new());
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let at = Instant::now();
                    let page = Browser::new(&base)
                        .register(&format!("w{worker}-{n}@example.com"))
                        .await;
                    slowest = slowest.max(at.elapsed());
                    if page.location() == Some("/login/sent") {
                        asked.fetch_add(1, Ordering::Relaxed);
                    } else {
                        wrong.push(format!("{} {}", page.status, page.body));
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                (slowest, wrong)
            })
        })
        .collect();
    // The outage runs on the replicas' clocks, which the outbox schedules its retries by:
    // they move five seconds for each real second, so the mail waiting through it is
    // retried, and backed off (2, 4, 8, 16 then 32 s), as through a minute of real time,
    // with the outbox's worker and the sign-ups running in real time meanwhile.
    const FASTER: u32 = 5;
    let step = Duration::from_millis(200);
    let mut passed = Duration::ZERO;
    while passed < outage {
        tokio::time::sleep(step).await;
        for replica in &replicas {
            replica
                .clock
                .advance(chrono::TimeDelta::from_std(step * FASTER).expect("a step"));
        }
        passed += step * FASTER;
    }
    assert_eq!(smtp.mails().len(), 0, "nothing got through while down");
    assert!(smtp.refused() > 0, "the replicas tried while it was down");
    smtp.bring_up();
    let back_at = Instant::now();
    tokio::time::sleep(Duration::from_secs(10)).await;
    stop.store(true, Ordering::Relaxed);
    for worker in join_all(workers).await {
        let (slowest, wrong) = worker.expect("worker");
        assert!(
            wrong.is_empty(),
            "every sign-up was answered normally: {wrong:?}"
        );
        // Far below the mail server's 10-second timeout, with room for a loaded machine.
        assert!(
            slowest < Duration::from_secs(8),
            "no sign-up waited on the mail server: the slowest took {slowest:?}"
        );
    }
    let asked = asked.load(Ordering::Relaxed);
    assert!(asked > 100, "{asked} sign-ups over {:?}", started.elapsed());

    // Every mail arrives once the server is back (within 30 s: the backlog is retried as
    // soon as a send succeeds), and none twice.
    let delivered = crate::harness::eventually(Duration::from_secs(30), || {
        let count = smtp.mails().len();
        async move { count >= asked }
    })
    .await;
    let took = back_at.elapsed();
    if delivered {
        // Nothing left to send: a mail sent twice has arrived twice by now.
        crate::harness::outbox_settled(&db).await;
    }
    let mails = smtp.mails();
    let mut per_address: HashMap<String, usize> = HashMap::new();
    for mail in &mails {
        *per_address.entry(mail.to.clone()).or_default() += 1;
    }
    if !delivered {
        use sea_orm::{ConnectionTrait, Database, Statement};
        let conn = Database::connect(&db.url).await.expect("connect");
        let rows = conn
            .query_all_raw(Statement::from_string(
                conn.get_database_backend(),
                "SELECT recipient, attempts, next_attempt_at, claimed_until, last_error, created_at \
                 FROM mail_outbox WHERE sent_at IS NULL",
            ))
            .await
            .expect("query");
        let waiting: Vec<String> = rows.iter().map(|r| format!("{r:?}")).collect();
        panic!(
            "{} of {asked} mails delivered 30 s after the server came back; waiting: {waiting:#?}",
            mails.len()
        );
    }
    assert_eq!(per_address.len(), asked, "one mail to each address asked");
    assert!(
        per_address.values().all(|&n| n == 1),
        "no mail twice: {:?}",
        per_address
            .iter()
            .filter(|(_, n)| **n > 1)
            .collect::<Vec<_>>()
    );
    eprintln!(
        "{asked} sign-ups, mail server down {outage:?}; all delivered within {took:?} of its return"
    );
}

/// A mail server that takes connections and never answers, as a relay hanging mid-session.
async fn hanging_mail_server() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("smtp://{}", listener.local_addr().expect("addr"));
    let accepted = Arc::new(AtomicUsize::new(0));
    let counting = accepted.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            counting.fetch_add(1, Ordering::SeqCst);
            held.push(socket);
        }
    });
    (url, accepted)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replica_killed_mid_load_leaves_no_secret_usable_twice_and_no_mail_stuck() {
    let Some(db) = TestDb::postgres().await else {
        eprintln!("LATCHKEY_TEST_POSTGRES_URL is not set: the kill -9 test needs PostgreSQL");
        return;
    };
    // The replica that lives, in this process, with a mail server that works.
    let mut key = String::new();
    let p = provider(&db, |cfg| {
        key = cfg.keys.master_key.clone();
        cfg.http.rate_limit_per_ip = 1_000_000;
    })
    .await;
    // Secrets to redeem on the doomed replica: authorization codes, refresh tokens and
    // magic links, made on the replica that lives before the other starts (so that no
    // mail of theirs is claimed by it).
    let (client_id, secret) = web_client(&db, &p.app, "Helpdesk");
    let auth = (client_id.as_str(), secret.as_str());
    let rp = p.rp(&client_id, Some(&secret));
    let browser = Browser::new(&p.app.base_url);
    let first = authorize_scopes(&rp, &["email", "offline_access"], &[]);
    let consent = sign_in(&p, &browser, &first.url, "kim@example.com").await;
    allow(&browser, &consent).await;
    let mut codes = Vec::new();
    let mut refresh_tokens = Vec::new();
    for n in 0..16 {
        let request = authorize_scopes(&rp, &["email", "offline_access"], &[]);
        let code = callback(&browser.get(&request.url).await)["code"].clone();
        let exchange = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", request.verifier.secret()),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
        if n % 2 == 0 {
            codes.push(exchange.to_vec());
        } else {
            let (status, tokens) = post_form(
                &p.app.url("/token"),
                Some(auth),
                &exchange
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect::<Vec<_>>(),
            )
            .await;
            assert_eq!(status, StatusCode::OK, "{tokens}");
            let refresh = tokens["refresh_token"].as_str().expect("refresh token");
            refresh_tokens.push(
                [("grant_type", "refresh_token"), ("refresh_token", refresh)]
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .to_vec(),
            );
        }
    }
    let mut links = Vec::new();
    for n in 0..8 {
        let address = format!("link{n}@example.com");
        Browser::new(&p.app.base_url).register(&address).await;
        let link = url::Url::parse(&p.smtp.mail_to(&address).await.link()).expect("link");
        links.push(format!(
            "{}?{}",
            link.path(),
            link.query().unwrap_or_default()
        ));
    }
    // The replica that is killed: a process, whose mail server hangs.
    let (hanging_url, hanging) = hanging_mail_server().await;
    let env = [
        ("LATCHKEY_DATABASE_URL", db.url.as_str()),
        ("LATCHKEY_KEYS__MASTER_KEY", key.as_str()),
        ("LATCHKEY_ISSUER", p.app.base_url.as_str()),
        ("LATCHKEY_MAIL__SMTP_URL", hanging_url.as_str()),
        ("LATCHKEY_HTTP__RATE_LIMIT_PER_IP", "1000000"),
    ];
    let mut doomed = Served::start(db.dir.path(), &env)
        .await
        .expect("the second replica starts");

    // A sign-up on the doomed replica whose mail it claims (its worker is woken at once;
    // the other replica's polls each second, and may take one first: then try another).
    let mut held = None;
    for n in 0..20 {
        let address = format!("held{n}@example.com");
        let page = Browser::new(&doomed.base_url).register(&address).await;
        assert_eq!(page.location(), Some("/login/sent"), "{}", page.body);
        let claimed = crate::harness::eventually(Duration::from_secs(2), || {
            let (hanging, smtp) = (hanging.load(Ordering::SeqCst), p.smtp.mails_to(&address));
            async move { hanging > 0 || !smtp.is_empty() }
        })
        .await;
        assert!(claimed, "someone took the mail to {address}");
        if hanging.load(Ordering::SeqCst) > 0 {
            held = Some((address, Instant::now()));
            break;
        }
    }
    let (held_address, claimed_at) = held.expect("the doomed replica claimed a mail");

    // Each link's confirm page, opened on the doomed replica beforehand: pressing it is the
    // redemption.
    let mut pressers = Vec::new();
    for link in &links {
        let presser = Browser::new(&doomed.base_url);
        let confirm = presser.get(link).await;
        assert_eq!(confirm.status, StatusCode::OK, "{}", confirm.body);
        pressers.push((presser, confirm.field("token"), confirm.field("csrf")));
    }

    // Everything at once on the doomed replica, and kill -9 while it is under way.
    let token_url = doomed.url("/token");
    let grants = codes
        .iter()
        .chain(refresh_tokens.iter())
        .cloned()
        .collect::<Vec<_>>();
    let redeeming = join_all(grants.iter().map(|form| {
        let url = token_url.clone();
        async move {
            let form: Vec<(&str, &str)> =
                form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let client = reqwest::Client::new();
            client
                .post(&url)
                .basic_auth(auth.0, Some(auth.1))
                .form(&form)
                .send()
                .await
                .ok()
                .map(|r| r.status())
        }
    }));
    let pressing = join_all(pressers.iter().map(|(presser, token, csrf)| {
        let client = presser.client.clone();
        let url = doomed.url("/login/verify");
        async move {
            client
                .post(url)
                .form(&[("token", token.as_str()), ("csrf", csrf.as_str())])
                .send()
                .await
                .ok()
                .map(|r| r.status())
        }
    }));
    let killing = async {
        tokio::time::sleep(Duration::from_millis(30)).await;
        doomed.signal("KILL");
    };
    let (redeemed, pressed, ()) = tokio::join!(redeeming, pressing, killing);
    assert!(
        doomed.wait_exit(Duration::from_secs(5)).await.is_some(),
        "killed"
    );

    // On the replica that lives, each secret is tried twice more: at most one redemption of
    // each ever succeeds, and the last try always fails.
    for (form, on_doomed) in grants.iter().zip(&redeemed) {
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let mut successes = usize::from(*on_doomed == Some(StatusCode::OK));
        for _ in 0..2 {
            let (status, body) = post_form(&p.app.url("/token"), Some(auth), &form).await;
            match status {
                StatusCode::OK => successes += 1,
                StatusCode::BAD_REQUEST => assert_eq!(body["error"], "invalid_grant", "{body}"),
                other => panic!("{other}: {body}"),
            }
        }
        assert!(successes <= 1, "{} redeemed {successes} times", form[0].1);
    }
    for ((_, token, _), on_doomed) in pressers.iter().zip(&pressed) {
        let mut successes = usize::from(*on_doomed == Some(StatusCode::SEE_OTHER));
        for _ in 0..2 {
            let presser = Browser::new(&p.app.base_url);
            let confirm = presser.get(&format!("/login/verify?token={token}")).await;
            if confirm.status != StatusCode::OK {
                continue;
            }
            let page = presser
                .post(
                    "/login/verify",
                    &[("token", token), ("csrf", &confirm.field("csrf"))],
                )
                .await;
            if page.location() == Some("/dashboard") {
                successes += 1;
            }
        }
        assert!(successes <= 1, "a magic link signed in {successes} times");
    }
    let answered = redeemed
        .iter()
        .chain(&pressed)
        .filter(|s| s.is_some())
        .count();
    eprintln!(
        "kill -9 with {} redemptions under way: {answered} answered before it died",
        redeemed.len() + pressed.len()
    );

    // The mail it held goes out from the replica that lives once the lease (60 s) runs
    // out: not before, since the dead replica might still have been sending it, and once.
    let mail = p
        .smtp
        .nth_mail_to(&held_address, 1, Duration::from_secs(90))
        .await;
    let waited = claimed_at.elapsed();
    assert!(mail.link().contains("/login/verify"));
    assert!(
        waited >= Duration::from_secs(55),
        "sent only once the lease ran out: {waited:?} after the claim"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(p.smtp.mails_to(&held_address).len(), 1, "once");
}

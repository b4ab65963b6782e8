//! Passwordless sign-up and sign-in, driven as a person would: a browser, the mail that real
//! SMTP delivered, and the link or code in it.

use std::time::Duration;

use chrono::{TimeDelta, Utc};
use latchkey_keys::SigningAlgorithm;
use latchkey_server::duration::Ttl;
use reqwest::StatusCode;
use sea_orm::{EntityTrait, PaginatorTrait};

use crate::browser::Browser;
use crate::harness::{TestApp, TestDb, cli_json, config, master_key, outbox_settled};
use crate::on_both_databases;
use crate::smtp::SmtpSink;

async fn app_with_mail(
    db: &TestDb,
    adjust: impl FnOnce(&mut latchkey_server::config::Config),
) -> (TestApp, SmtpSink) {
    let smtp = SmtpSink::start().await;
    let mut cfg = config(db, &master_key());
    cfg.mail.smtp_url = smtp.url();
    adjust(&mut cfg);
    (TestApp::spawn(cfg).await, smtp)
}

async fn a_person_signs_up_signs_out_and_signs_in_again(db: TestDb) {
    let (app, smtp) = app_with_mail(&db, |_| {}).await;
    let browser = Browser::new(&app.base_url);

    let asked = browser.register("Ann@Example.com").await;
    assert_eq!(asked.status, StatusCode::SEE_OTHER);
    assert_eq!(asked.location(), Some("/login/sent"));
    let mail = smtp.mail_to("ann@example.com").await;
    assert!(
        mail.subject.contains("Finish creating your account"),
        "{}",
        mail.subject
    );
    assert!(
        mail.link()
            .starts_with(&format!("{}/login/verify?token=", app.base_url)),
        "the link leads into the issuer"
    );
    assert!(
        mail.html.contains(&format!("token={}", mail.token())),
        "the HTML part has the link: {}",
        mail.html
    );
    assert!(
        mail.text.contains("127.0.0.1") && mail.text.contains("an unknown browser"),
        "the mail says who asked: {}",
        mail.text
    );
    assert!(
        !mail.text.contains("LatchkeyTest"),
        "but never repeats the User-Agent as sent: {}",
        mail.text
    );

    let confirm = browser.get(&mail.link()).await;
    assert_eq!(confirm.status, StatusCode::OK);
    assert!(
        confirm.body.contains("ann@example.com"),
        "the confirm page names the address"
    );
    assert_eq!(confirm.headers["cache-control"], "no-store");
    assert_eq!(confirm.headers["referrer-policy"], "same-origin");

    let signed_in = browser.follow_link(&mail.link()).await;
    assert_eq!(
        signed_in.location(),
        Some("/dashboard"),
        "{}",
        signed_in.body
    );
    let session_cookie = signed_in
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("latchkey-session="))
        .expect("a session cookie");
    assert!(
        session_cookie.contains("HttpOnly") && session_cookie.contains("SameSite=Lax"),
        "{session_cookie}"
    );
    assert_eq!(
        browser.signed_in_as().await.as_deref(),
        Some("ann@example.com")
    );

    let dashboard = browser.get("/dashboard").await;
    let out = browser
        .post("/logout", &[("csrf", &dashboard.field("csrf"))])
        .await;
    assert_eq!(out.location(), Some("/login"));
    assert_eq!(browser.signed_in_as().await, None, "signed out");

    browser.request_login("ann@example.com").await;
    let again = smtp
        .nth_mail_to("ann@example.com", 2, Duration::from_secs(10))
        .await;
    assert!(again.subject.starts_with("Sign in to"), "{}", again.subject);
    assert_eq!(
        browser.follow_link(&again.link()).await.location(),
        Some("/dashboard")
    );
    assert_eq!(
        browser.signed_in_as().await.as_deref(),
        Some("ann@example.com")
    );
    app.stop().await;
}
on_both_databases!(a_person_signs_up_signs_out_and_signs_in_again);

async fn a_magic_link_signs_in_once(db: TestDb) {
    let (app, smtp) = app_with_mail(&db, |_| {}).await;
    let browser = Browser::new(&app.base_url);
    browser.register("bo@example.com").await;
    let mail = smtp.mail_to("bo@example.com").await;
    assert_eq!(
        browser.follow_link(&mail.link()).await.location(),
        Some("/dashboard")
    );

    let thief = Browser::new(&app.base_url);
    let reused = thief.follow_link(&mail.link()).await;
    assert_eq!(reused.status, StatusCode::GONE);
    assert!(
        reused.body.contains("already been used") && reused.body.contains("Send me a new link"),
        "{}",
        reused.body
    );
    assert_eq!(thief.signed_in_as().await, None);
    // The code of a used link is used up too: link and code are one credential.
    let code = browser.type_code(&mail.code()).await;
    assert_ne!(code.location(), Some("/dashboard"));
    app.stop().await;
}
on_both_databases!(a_magic_link_signs_in_once);

/// Two providers on one database, sharing a master key and a mail server.
async fn two_replicas(db: &TestDb) -> (TestApp, TestApp, SmtpSink) {
    let smtp = SmtpSink::start().await;
    let key = master_key();
    let mut first = config(db, &key);
    first.mail.smtp_url = smtp.url();
    let mut second = config(db, &key);
    second.mail.smtp_url = smtp.url();
    let first = TestApp::spawn(first).await;
    // Replicas are one provider: one issuer, whichever replica a request reaches.
    second.issuer = first.base_url.clone();
    (first, TestApp::spawn(second).await, smtp)
}

async fn twenty_concurrent_confirmations_across_two_replicas_sign_in_exactly_once(db: TestDb) {
    let (app, other, smtp) = two_replicas(&db).await;
    let asker = Browser::new(&app.base_url);
    asker.register("cy@example.com").await;
    let mail = smtp.mail_to("cy@example.com").await;
    let token = mail.token();

    let mut browsers = Vec::new();
    for i in 0..20 {
        // Half the browsers reach the other replica, as behind a load balancer.
        let base = if i % 2 == 0 {
            &app.base_url
        } else {
            &other.base_url
        };
        let browser = Browser::new(base);
        let confirm = browser.get(&format!("/login/verify?token={token}")).await;
        assert_eq!(confirm.status, StatusCode::OK);
        browsers.push((browser, confirm.field("token"), confirm.field("csrf")));
    }
    let attempts: Vec<_> = browsers
        .into_iter()
        .map(|(browser, token, csrf)| {
            tokio::spawn(async move {
                browser
                    .post("/login/verify", &[("token", &token), ("csrf", &csrf)])
                    .await
            })
        })
        .collect();
    let mut results = Vec::new();
    for attempt in attempts {
        results.push(attempt.await.expect("confirmation task"));
    }
    let signed_in = results
        .iter()
        .filter(|page| page.location() == Some("/dashboard"))
        .count();
    let refused = results
        .iter()
        .filter(|page| page.status == StatusCode::GONE)
        .count();
    assert_eq!(signed_in, 1, "exactly one confirmation signs in");
    assert_eq!(refused, 19, "every other one is told the link was used");
    app.stop().await;
    other.stop().await;
}
on_both_databases!(twenty_concurrent_confirmations_across_two_replicas_sign_in_exactly_once);

async fn replicas_share_the_outbox_and_send_each_mail_once(db: TestDb) {
    let (app, other, smtp) = two_replicas(&db).await;
    // More mail than one delivery round claims (64), asked for all at once on both
    // replicas: on SQLite the links are written in batches, and both replicas' workers
    // claim from the same outbox.
    const PEOPLE: usize = 150;
    let requests: Vec<_> = (0..PEOPLE)
        .map(|i| {
            let base = if i % 2 == 0 {
                app.base_url.clone()
            } else {
                other.base_url.clone()
            };
            tokio::spawn(async move {
                let answer = Browser::new(&base)
                    .register(&format!("r{i}@example.com"))
                    .await;
                answer.location().map(str::to_owned)
            })
        })
        .collect();
    for request in requests {
        assert_eq!(request.await.unwrap().as_deref(), Some("/login/sent"));
    }
    let all_sent = crate::harness::eventually(Duration::from_secs(30), || async {
        smtp.mails().len() >= PEOPLE
    })
    .await;
    assert!(all_sent, "{} of {PEOPLE} mails arrived", smtp.mails().len());
    outbox_settled(&db).await;
    for i in 0..PEOPLE {
        assert_eq!(
            smtp.mails_to(&format!("r{i}@example.com")).len(),
            1,
            "r{i} got exactly one mail"
        );
    }
    assert_eq!(smtp.mails().len(), PEOPLE, "and nobody else got any");

    // Sent mail is kept until a day after its link expired, then swept.
    let conn = latchkey_server::database::connect(&db.url, None)
        .await
        .expect("connect")
        .read()
        .clone();
    let outbox = || async {
        latchkey_login::entities::mail_outbox::Entity::find()
            .count(&conn)
            .await
            .expect("count the outbox")
    };
    let limits = || async {
        latchkey_login::entities::address_limit::Entity::find()
            .count(&conn)
            .await
            .expect("count the per-address counters")
    };
    assert_eq!(outbox().await, PEOPLE as u64);
    assert_eq!(limits().await, PEOPLE as u64, "a counter per address");
    let writer = latchkey_core::Db::new(conn.clone());
    let sweep = |at| latchkey_server::workers::sweep_expired(&writer, at, TimeDelta::days(1));
    sweep(Utc::now() + TimeDelta::hours(1))
        .await
        .expect("sweep");
    assert_eq!(outbox().await, PEOPLE as u64, "kept for a day");
    assert_eq!(limits().await, PEOPLE as u64, "counting still");
    sweep(Utc::now() + TimeDelta::days(2)).await.expect("sweep");
    assert_eq!(outbox().await, 0, "then swept");
    assert_eq!(limits().await, 0, "counters whose window is over are swept");
    app.stop().await;
    other.stop().await;
}
on_both_databases!(replicas_share_the_outbox_and_send_each_mail_once);

#[tokio::test]
async fn a_mail_whose_link_expired_while_smtp_was_down_is_dropped_not_sent() {
    let db = TestDb::sqlite();
    let smtp = SmtpSink::down().await;
    let mut cfg = config(&db, &master_key());
    cfg.mail.smtp_url = smtp.url();
    cfg.login.magic_link_ttl = Ttl::parse("1s").unwrap();
    let app = TestApp::spawn(cfg).await;
    Browser::new(&app.base_url)
        .register("stale@example.com")
        .await;
    // The first attempt meets the server down (under load it may come late).
    let attempted =
        crate::harness::eventually(Duration::from_secs(10), || async { smtp.refused() > 0 }).await;
    assert!(attempted, "the outbox tried while the server was down");
    app.clock.advance(TimeDelta::milliseconds(1200));
    smtp.bring_up();
    let dropped = crate::harness::eventually(Duration::from_secs(12), || async {
        app.get("/metrics")
            .await
            .text()
            .await
            .unwrap()
            .contains("mail_dropped_total")
    })
    .await;
    if !dropped {
        use latchkey_login::entities::mail_outbox;
        use sea_orm::EntityTrait;
        let conn = sea_orm::Database::connect(&db.url).await.expect("db");
        let rows = mail_outbox::Entity::find().all(&conn).await.expect("rows");
        panic!(
            "the expired mail is counted as dropped; outbox: {rows:?}; now {:?}; sent {:?}",
            app.clock.now(),
            smtp.mails()
        );
    }
    assert!(
        smtp.mails_to("stale@example.com").is_empty(),
        "a dead link is never mailed"
    );
    app.stop().await;
}

#[tokio::test]
async fn over_https_cookies_are_secure_host_only() {
    let db = TestDb::sqlite();
    let (app, _smtp) =
        app_with_mail(&db, |cfg| cfg.issuer = "https://id.example.test".into()).await;
    let page = Browser::new(&app.base_url).get("/login").await;
    let csrf = page
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("__Host-latchkey-csrf="))
        .expect("__Host- cookie");
    for attribute in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(csrf.contains(attribute), "{attribute} in {csrf}");
    }
    assert!(!csrf.contains("Domain"), "host-only: {csrf}");
    app.stop().await;
}

#[tokio::test]
async fn a_session_ends_when_idle_and_every_sign_in_gets_a_new_one() {
    let db = TestDb::sqlite();
    let (app, smtp) = app_with_mail(&db, |cfg| {
        cfg.login.session_idle_ttl = Ttl::parse("2s").unwrap()
    })
    .await;
    let browser = Browser::new(&app.base_url);
    browser.register("pia@example.com").await;
    let first = browser
        .follow_link(&smtp.mail_to("pia@example.com").await.link())
        .await;
    let first_cookie = first
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("latchkey-session="))
        .unwrap();

    browser.request_login("pia@example.com").await;
    let second = browser
        .follow_link(
            &smtp
                .nth_mail_to("pia@example.com", 2, Duration::from_secs(10))
                .await
                .link(),
        )
        .await;
    let second_cookie = second
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("latchkey-session="))
        .unwrap();
    assert_ne!(
        first_cookie, second_cookie,
        "a sign-in always issues a new session id"
    );
    let replay = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let old_value = first_cookie.split(';').next().unwrap().to_owned();
    let with_old = replay
        .get(app.url("/dashboard"))
        .header("cookie", old_value)
        .send()
        .await
        .unwrap();
    assert_eq!(
        with_old.status(),
        StatusCode::SEE_OTHER,
        "the session replaced at sign-in no longer works"
    );

    assert!(browser.signed_in_as().await.is_some());
    app.clock.advance(TimeDelta::milliseconds(2100));
    assert_eq!(
        browser.signed_in_as().await,
        None,
        "an idle session has ended"
    );
    app.stop().await;
}

#[tokio::test]
async fn login_hint_prefills_the_address() {
    let db = TestDb::sqlite();
    let (app, _smtp) = app_with_mail(&db, |_| {}).await;
    let page = Browser::new(&app.base_url)
        .get("/login?login_hint=quinn%40example.com")
        .await;
    assert!(
        page.body.contains("value=\"quinn@example.com\""),
        "{}",
        page.body
    );
    let hostile = Browser::new(&app.base_url)
        .get("/login?login_hint=%22%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E")
        .await;
    assert!(!hostile.body.contains("<script>"), "the hint is escaped");
    app.stop().await;
}

#[tokio::test]
async fn a_mail_scanner_fetching_the_link_uses_nothing_up() {
    let db = TestDb::sqlite();
    let (app, smtp) = app_with_mail(&db, |_| {}).await;
    let browser = Browser::new(&app.base_url);
    browser.register("di@example.com").await;
    let mail = smtp.mail_to("di@example.com").await;

    let scanner = reqwest::Client::new();
    for _ in 0..3 {
        assert_eq!(
            scanner.get(mail.link()).send().await.unwrap().status(),
            StatusCode::OK
        );
        assert_eq!(
            scanner.head(mail.link()).send().await.unwrap().status(),
            StatusCode::OK
        );
    }
    let confirm = browser.get(&mail.link()).await;
    assert!(
        !confirm.body.contains("<script"),
        "the confirm page runs no script that could submit it"
    );
    assert_eq!(
        browser.follow_link(&mail.link()).await.location(),
        Some("/dashboard"),
        "the person still signs in"
    );
    app.stop().await;
}

#[tokio::test]
async fn an_expired_link_says_so_and_offers_a_new_one() {
    let db = TestDb::sqlite();
    let (app, smtp) = app_with_mail(&db, |cfg| {
        cfg.login.magic_link_ttl = Ttl::parse("2s").unwrap()
    })
    .await;
    let browser = Browser::new(&app.base_url);
    browser.register("ed@example.com").await;
    let mail = smtp.mail_to("ed@example.com").await;
    let confirm = browser.get(&mail.link()).await;
    assert_eq!(confirm.status, StatusCode::OK);
    app.clock.advance(TimeDelta::milliseconds(2100));
    let expired = browser.get(&mail.link()).await;
    assert_eq!(expired.status, StatusCode::GONE);
    assert!(
        expired.body.contains("This link has expired") && expired.body.contains("href=\"/login\""),
        "{}",
        expired.body
    );
    let pressed = browser
        .post(
            "/login/verify",
            &[
                ("token", &confirm.field("token")),
                ("csrf", &confirm.field("csrf")),
            ],
        )
        .await;
    assert_eq!(
        pressed.status,
        StatusCode::GONE,
        "a confirm page left open past expiry does not sign in"
    );
    assert_eq!(browser.signed_in_as().await, None);
    app.stop().await;
}

#[tokio::test]
async fn a_tampered_truncated_or_foreign_token_is_refused() {
    let db = TestDb::sqlite();
    let (app, smtp) = app_with_mail(&db, |_| {}).await;
    let browser = Browser::new(&app.base_url);
    browser.register("fa@example.com").await;
    let mail = smtp.mail_to("fa@example.com").await;
    let token = mail.token();

    let parts: Vec<&str> = token.split('.').collect();
    let mut payload = parts[1].to_owned();
    let flipped = if payload.ends_with('A') { 'B' } else { 'A' };
    payload.pop();
    payload.push(flipped);
    let tampered = format!("{}.{payload}.{}", parts[0], parts[2]);
    let truncated = &token[..token.len() - 10];
    let now = Utc::now();
    let access_token = app
        .ring()
        .sign(
            SigningAlgorithm::Es256,
            "at+jwt",
            &serde_json::json!({"iss": app.base_url, "aud": format!("{}/login/verify", app.base_url), "sub": "fa@example.com",
                "purpose": "login", "jti": "x", "iat": now.timestamp(), "exp": (now + TimeDelta::minutes(5)).timestamp()}),
            now,
        )
        .unwrap();
    for bad in [
        tampered.as_str(),
        truncated,
        access_token.as_str(),
        "",
        "not-a-token",
    ] {
        let page = browser.get(&format!("/login/verify?token={bad}")).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(
            page.body.contains("This link is not valid"),
            "{}",
            page.body
        );
        let pressed = browser
            .post("/login/verify", &[("token", bad), ("csrf", "x")])
            .await;
        assert!(pressed.status.is_client_error());
    }
    assert_eq!(
        browser.follow_link(&mail.link()).await.location(),
        Some("/dashboard"),
        "the real link still works"
    );
    app.stop().await;
}

async fn the_code_signs_in_the_browser_that_asked(db: TestDb) {
    let (app, smtp) = app_with_mail(&db, |_| {}).await;
    let laptop = Browser::new(&app.base_url);
    laptop.register("gu@example.com").await;
    let mail = smtp.mail_to("gu@example.com").await;

    // Another browser cannot use the code: it is bound to the browser that asked.
    let other = Browser::new(&app.base_url);
    let elsewhere = other.type_code(&mail.code()).await;
    assert_eq!(elsewhere.status, StatusCode::BAD_REQUEST);

    let typed = laptop.type_code(&mail.code()).await;
    assert_eq!(typed.location(), Some("/dashboard"), "{}", typed.body);
    assert_eq!(
        laptop.signed_in_as().await.as_deref(),
        Some("gu@example.com")
    );
    let phone = Browser::new(&app.base_url);
    assert_eq!(
        phone.follow_link(&mail.link()).await.status,
        StatusCode::GONE,
        "the code used the link up"
    );
    app.stop().await;
}
on_both_databases!(the_code_signs_in_the_browser_that_asked);

async fn five_wrong_codes_void_the_link_and_the_code(db: TestDb) {
    let (app, smtp) = app_with_mail(&db, |_| {}).await;
    let browser = Browser::new(&app.base_url);
    browser.register("ha@example.com").await;
    let mail = smtp.mail_to("ha@example.com").await;
    let wrong = wrong_code(&mail.code());
    for left in (1..=4).rev() {
        let page = browser.type_code(&wrong).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST);
        assert!(
            page.body.contains(&format!(
                "{left} {} left",
                if left == 1 { "try" } else { "tries" }
            )),
            "{}",
            page.body
        );
    }
    let fifth = browser.type_code(&wrong).await;
    assert_eq!(fifth.status, StatusCode::GONE);
    assert!(fifth.body.contains("no longer works"), "{}", fifth.body);
    assert_ne!(
        browser.type_code(&mail.code()).await.location(),
        Some("/dashboard"),
        "the right code no longer works"
    );
    assert_eq!(
        browser.follow_link(&mail.link()).await.status,
        StatusCode::GONE,
        "nor does the link"
    );
    app.stop().await;
}
on_both_databases!(five_wrong_codes_void_the_link_and_the_code);

/// A code of the right shape that is not `code`.
fn wrong_code(code: &str) -> String {
    if code == "00000000" {
        "11111111"
    } else {
        "00000000"
    }
    .to_owned()
}

async fn ten_wrong_codes_for_an_address_turn_its_codes_off_but_not_its_links(db: TestDb) {
    let (app, smtp) = app_with_mail(&db, |_| {}).await;
    let browser = Browser::new(&app.base_url);
    let within = Duration::from_secs(10);
    // Five wrong codes void the first link; asking again gives a fresh link and code.
    browser.register("kit@example.com").await;
    let first = smtp.nth_mail_to("kit@example.com", 1, within).await;
    assert!(
        first.text.contains("Never give this code to anyone"),
        "{}",
        first.text
    );
    assert_eq!(first.code().len(), 8, "codes are eight digits");
    for _ in 0..5 {
        browser.type_code(&wrong_code(&first.code())).await;
    }
    browser.register("kit@example.com").await;
    let second = smtp.nth_mail_to("kit@example.com", 2, within).await;
    for _ in 0..4 {
        let page = browser.type_code(&wrong_code(&second.code())).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST);
    }
    // The tenth wrong code for the address turns its codes off, whatever link they are for.
    let tenth = browser.type_code(&wrong_code(&second.code())).await;
    assert_eq!(tenth.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(tenth.body.contains("Codes are off"), "{}", tenth.body);

    // The next mail has no code and says why; typing one does nothing; its link still works.
    browser.register("kit@example.com").await;
    let third = smtp.nth_mail_to("kit@example.com", 3, within).await;
    assert!(
        third.text.contains("this mail has no code"),
        "{}",
        third.text
    );
    assert!(!third.text.contains("type this code"), "{}", third.text);
    let guessed = browser.type_code("12345678").await;
    assert_eq!(guessed.status, StatusCode::TOO_MANY_REQUESTS);
    browser.follow_link(&third.link()).await;
    assert_eq!(
        browser.signed_in_as().await.as_deref(),
        Some("kit@example.com")
    );
    app.stop().await;
}
on_both_databases!(ten_wrong_codes_for_an_address_turn_its_codes_off_but_not_its_links);

/// A page with its per-browser secrets (CSRF values) blanked, to compare two answers.
fn stripped(body: &str) -> String {
    let mut out = String::new();
    for (i, part) in body.split("name=\"csrf\" value=\"").enumerate() {
        if i > 0 {
            out.push_str("name=\"csrf\" value=\"");
            out.push_str(part.split_once('"').map(|(_, rest)| rest).unwrap_or(part));
        } else {
            out.push_str(part);
        }
    }
    out
}

async fn login_and_register_answer_the_same_for_known_and_unknown_addresses(db: TestDb) {
    let (app, smtp) = app_with_mail(&db, |_| {}).await;
    let owner = Browser::new(&app.base_url);
    owner.register("known@example.com").await;
    owner
        .follow_link(&smtp.mail_to("known@example.com").await.link())
        .await;

    for (action, page) in [("/login", "/login"), ("/register", "/register")] {
        let (known_browser, unknown_browser) =
            (Browser::new(&app.base_url), Browser::new(&app.base_url));
        let known = known_browser
            .submit(page, action, &[("email", "known@example.com")])
            .await;
        let unknown = unknown_browser
            .submit(
                page,
                action,
                &[("email", &format!("nobody{}@example.com", action.len()))],
            )
            .await;
        assert_eq!(known.status, unknown.status, "{action}");
        assert_eq!(known.location(), unknown.location(), "{action}");
        assert_eq!(stripped(&known.body), stripped(&unknown.body), "{action}");
        let known_sent = Browser::new(&app.base_url)
            .get(known.location().unwrap())
            .await;
        let unknown_sent = Browser::new(&app.base_url)
            .get(unknown.location().unwrap())
            .await;
        assert_eq!(stripped(&known_sent.body), stripped(&unknown_sent.body));
        // A wrong code typed in the asking browser is answered alike too.
        let (known_code, unknown_code) = (
            known_browser.type_code("00000001").await,
            unknown_browser.type_code("00000001").await,
        );
        assert_eq!(known_code.status, unknown_code.status, "{action}");
        assert_eq!(
            stripped(&known_code.body),
            stripped(&unknown_code.body),
            "{action}"
        );
    }
    // The known address got sign-in links (registering it again signs in); the unknown one
    // asking to sign in got a note, not a link.
    let known_mails = smtp
        .nth_mail_to("known@example.com", 3, Duration::from_secs(10))
        .await;
    assert!(
        known_mails.subject.starts_with("Sign in to"),
        "{}",
        known_mails.subject
    );
    let note = smtp.mail_to("nobody6@example.com").await;
    assert!(
        note.text.contains("no account for this address") && !note.text.contains("token="),
        "{}",
        note.text
    );
    assert!(
        !note.text.contains("LatchkeyTest") && !note.html.contains("LatchkeyTest"),
        "a note anyone can have sent carries nothing of the asker's: {}",
        note.text
    );
    app.stop().await;
}
on_both_databases!(login_and_register_answer_the_same_for_known_and_unknown_addresses);

async fn links_per_address_are_limited_without_telling_the_asker(db: TestDb) {
    let (app, smtp) = app_with_mail(&db, |cfg| {
        cfg.login.rate_limit_per_address = 2;
        cfg.login.rate_limit_window = Ttl::parse("3s").unwrap();
    })
    .await;
    let browser = Browser::new(&app.base_url);
    let mut answers = Vec::new();
    for _ in 0..3 {
        answers.push(browser.register("ivy@example.com").await);
    }
    assert!(
        answers
            .iter()
            .all(|a| a.status == StatusCode::SEE_OTHER && a.location() == Some("/login/sent"))
    );
    smtp.nth_mail_to("ivy@example.com", 2, Duration::from_secs(10))
        .await;
    outbox_settled(&db).await;
    assert_eq!(
        smtp.mails_to("ivy@example.com").len(),
        2,
        "the third request sent nothing"
    );
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("login_rate_limited_total{scope=\"address\"}"),
        "{metrics}"
    );
    // Another address is not affected.
    browser.register("jo@example.com").await;
    smtp.mail_to("jo@example.com").await;
    // When the window has passed, the address may be sent links again: two more, not three.
    app.clock.advance(TimeDelta::milliseconds(3_100));
    for _ in 0..3 {
        browser.register("ivy@example.com").await;
    }
    smtp.nth_mail_to("ivy@example.com", 4, Duration::from_secs(10))
        .await;
    outbox_settled(&db).await;
    assert_eq!(
        smtp.mails_to("ivy@example.com").len(),
        4,
        "a new window allows the limit again, no more"
    );
    // A +tag reaches the same inbox, so it cannot multiply the limit.
    browser.register("ivy+more@example.com").await;
    outbox_settled(&db).await;
    assert!(
        smtp.mails_to("ivy+more@example.com").is_empty(),
        "ivy+more@ is ivy@'s mailbox, already at its limit"
    );
    app.stop().await;
}
on_both_databases!(links_per_address_are_limited_without_telling_the_asker);

async fn concurrent_requests_cannot_slip_under_the_per_address_limit(db: TestDb) {
    let (app, smtp) = app_with_mail(&db, |cfg| {
        cfg.login.rate_limit_per_address = 2;
        cfg.http.rate_limit_per_ip = 1000;
    })
    .await;
    // Ten requests for each of three addresses, and one for each of twenty others, all at
    // once: on SQLite they are written in shared batches, where a second request for an
    // address must not ride on the first one's count.
    let addresses: Vec<String> = (0..3)
        .flat_map(|i| std::iter::repeat_n(format!("flood{i}@example.com"), 10))
        .chain((0..20).map(|i| format!("once{i}@example.com")))
        .collect();
    let requests: Vec<_> = addresses
        .iter()
        .map(|address| {
            let browser = Browser::new(&app.base_url);
            let address = address.clone();
            tokio::spawn(async move { browser.register(&address).await })
        })
        .collect();
    for request in requests {
        assert_eq!(request.await.unwrap().location(), Some("/login/sent"));
    }
    for i in 0..3 {
        smtp.nth_mail_to(&format!("flood{i}@example.com"), 2, Duration::from_secs(10))
            .await;
    }
    for i in 0..20 {
        smtp.mail_to(&format!("once{i}@example.com")).await;
    }
    outbox_settled(&db).await;
    for i in 0..3 {
        assert_eq!(
            smtp.mails_to(&format!("flood{i}@example.com")).len(),
            2,
            "ten concurrent requests for flood{i}, two mails"
        );
    }
    assert_eq!(
        smtp.mails().len(),
        3 * 2 + 20,
        "one mail for each other address"
    );
    app.stop().await;
}
on_both_databases!(concurrent_requests_cannot_slip_under_the_per_address_limit);

async fn a_request_whose_client_gives_up_is_still_carried_out_whole(db: TestDb) {
    use latchkey_login::entities::address_limit;
    use sea_orm::{ActiveValue::Set, TransactionTrait};

    let (app, smtp) = app_with_mail(&db, |_| {}).await;
    let browser = Browser::new(&app.base_url);
    browser.register("first@example.com").await;
    smtp.mail_to("first@example.com").await;

    // Hold the row the request must count its link in, so that its write waits until the
    // client has long given up.
    let conn = latchkey_server::database::connect(&db.url, None)
        .await
        .expect("connect")
        .read()
        .clone();
    let blocker = conn.begin().await.expect("begin");
    let email = "patient@example.com";
    address_limit::Entity::insert(address_limit::ActiveModel {
        email_hash: Set(latchkey_core::secret::sha256_hex(email.as_bytes())),
        window_started_at: Set(Utc::now()),
        count: Set(0),
    })
    .exec_without_returning(&blocker)
    .await
    .expect("hold the limit row");
    let form = browser.get("/register").await;
    let csrf = form.field("csrf");
    post_and_give_up(&app, "/register", &csrf, &[("email", email)]).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    blocker.commit().await.expect("let go of the row");

    // The write goes on without the client that asked for it: the link is stored and
    // mailed.
    let mail = smtp.mail_to(email).await;
    browser.follow_link(&mail.link()).await;
    assert_eq!(browser.signed_in_as().await.as_deref(), Some(email));
    assert_no_connection_is_left_in_a_transaction(&conn).await;
    app.stop().await;
}
on_both_databases!(a_request_whose_client_gives_up_is_still_carried_out_whole);

async fn a_confirmation_whose_client_gives_up_is_still_carried_out_whole(db: TestDb) {
    use latchkey_login::entities::user;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, TransactionTrait};

    let (app, smtp) = app_with_mail(&db, |_| {}).await;
    let browser = Browser::new(&app.base_url);
    let email = "hesitant@example.com";
    browser.register(email).await;
    let link = smtp.mail_to(email).await.link();
    let confirm = browser.get(&link).await;
    let (token, csrf) = (confirm.field("token"), confirm.field("csrf"));

    // Create the same account, uncommitted, so that the confirmation waits inside its
    // transaction until the client has long given up: on PostgreSQL between spending the
    // link and creating the account, on SQLite (one writer at a time) at its first write.
    let conn = latchkey_server::database::connect(&db.url, None)
        .await
        .expect("connect")
        .read()
        .clone();
    let blocker = conn.begin().await.expect("begin");
    latchkey_teams::ensure_user(&blocker, email, Utc::now())
        .await
        .expect("hold the address");
    post_and_give_up(&app, "/login/verify", &csrf, &[("token", token.as_str())]).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    blocker.rollback().await.expect("let go of the address");

    // Dropped with its client, the handler would have rolled back: no account, and a link
    // still good. It runs to completion instead: the account exists and the link is spent.
    let mut account = None;
    for _ in 0..100 {
        account = user::Entity::find()
            .filter(user::Column::Email.eq(email))
            .one(&conn)
            .await
            .expect("read users");
        if account.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(account.is_some(), "the confirmation created the account");
    let again = Browser::new(&app.base_url).follow_link(&link).await;
    assert_eq!(again.status, StatusCode::GONE, "{}", again.body);
    assert!(again.body.contains("already been used"), "{}", again.body);
    assert_no_connection_is_left_in_a_transaction(&conn).await;
    app.stop().await;
}
on_both_databases!(a_confirmation_whose_client_gives_up_is_still_carried_out_whole);

/// Posts a form (with its CSRF token) from a client that stops waiting after 300 ms.
async fn post_and_give_up(app: &TestApp, path: &str, csrf: &str, fields: &[(&str, &str)]) {
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .expect("client");
    let mut form = fields.to_vec();
    form.push(("csrf", csrf));
    let gave_up = impatient
        .post(app.url(path))
        .header("Cookie", format!("latchkey-csrf={csrf}"))
        .form(&form)
        .send()
        .await;
    assert!(
        gave_up.is_err_and(|e| e.is_timeout()),
        "the client stopped waiting"
    );
}

/// On PostgreSQL, no pooled connection sits inside a transaction that nothing will end
/// (sqlx#4393: a handler dropped during `BEGIN` leaves one).
async fn assert_no_connection_is_left_in_a_transaction(conn: &sea_orm::DatabaseConnection) {
    use sea_orm::ConnectionTrait;
    if conn.get_database_backend() != sea_orm::DbBackend::Postgres {
        return;
    }
    let stuck = conn
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT count(*) AS stuck FROM pg_stat_activity \
             WHERE datname = current_database() AND state LIKE 'idle in transaction%'",
        ))
        .await
        .expect("read pg_stat_activity")
        .and_then(|row| row.try_get::<i64>("", "stuck").ok());
    assert_eq!(stuck, Some(0), "no connection is left inside a transaction");
}

#[tokio::test]
async fn requests_per_ip_past_the_limit_get_429_with_retry_after() {
    let db = TestDb::sqlite();
    let (app, _smtp) = app_with_mail(&db, |cfg| cfg.http.rate_limit_per_ip = 3).await;
    let browser = Browser::new(&app.base_url);
    for i in 0..3 {
        let page = browser.request_login(&format!("k{i}@example.com")).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER);
    }
    let limited = browser.request_login("k9@example.com").await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        limited.headers.get("retry-after").is_some(),
        "{:?}",
        limited.headers
    );
    assert_eq!(
        browser.get("/login").await.status,
        StatusCode::OK,
        "pages that send nothing are not limited"
    );
    app.stop().await;
}

/// Strangers who spend an address's budget of links cannot keep its owner from signing in
/// (L9): a browser that signed in to the account before asks from a budget of its own.
async fn a_browser_that_signed_in_before_is_not_locked_out_by_strangers(db: TestDb) {
    let (app, smtp) = app_with_mail(&db, |cfg| cfg.login.rate_limit_per_address = 2).await;
    let ann = Browser::new(&app.base_url);
    ann.register("ann@example.com").await;
    let mail = smtp.mail_to("ann@example.com").await;
    let done = ann.follow_link(&mail.link()).await;
    assert_eq!(done.location(), Some("/dashboard"));
    let device = done
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("latchkey-device="))
        .expect("the browser is remembered");
    assert!(
        device.contains("HttpOnly") && device.contains("Max-Age=2592000"),
        "{device}"
    );

    // A stranger spends what is left of the shared budget, and asks again.
    let stranger = Browser::new(&app.base_url);
    for _ in 0..3 {
        let asked = stranger.request_login("ann@example.com").await;
        assert_eq!(asked.location(), Some("/login/sent"));
    }
    smtp.nth_mail_to("ann@example.com", 2, Duration::from_secs(10))
        .await;
    // Ann's own browser still gets a link, and it works.
    assert_eq!(
        ann.request_login("ann@example.com").await.location(),
        Some("/login/sent")
    );
    let mail = smtp
        .nth_mail_to("ann@example.com", 3, Duration::from_secs(10))
        .await;
    assert_eq!(
        ann.follow_link(&mail.link()).await.location(),
        Some("/dashboard")
    );
    // A browser remembered for another account has no such budget for Ann's.
    let bo = Browser::new(&app.base_url);
    bo.register("bo@example.com").await;
    let bo_mail = smtp.mail_to("bo@example.com").await;
    assert_eq!(
        bo.follow_link(&bo_mail.link()).await.location(),
        Some("/dashboard")
    );
    assert_eq!(
        bo.request_login("ann@example.com").await.location(),
        Some("/login/sent"),
        "the answer is the same"
    );
    outbox_settled(&db).await;
    assert_eq!(
        smtp.mails_to("ann@example.com").len(),
        3,
        "nothing more was sent"
    );
    app.stop().await;
}
on_both_databases!(a_browser_that_signed_in_before_is_not_locked_out_by_strangers);

/// A browser behind the test's "proxy": every request names its client in `header`.
fn behind_proxy(app: &TestApp, header: &'static str, value: &str) -> Browser {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(header, value.parse().expect("header value"));
    Browser::with_headers(&app.base_url, headers)
}

/// Behind a TLS-terminating proxy every connection comes from the proxy. The per-IP limit, the
/// mail's "requested from" and the audit log follow the client the proxy names, and only when
/// the proxy is trusted: otherwise the headers are anyone's words and are ignored (M5).
async fn behind_a_trusted_proxy_the_client_it_names_is_limited_mailed_and_audited(db: TestDb) {
    let (app, smtp) = app_with_mail(&db, |cfg| {
        cfg.http.rate_limit_per_ip = 2;
        cfg.http.trusted_proxies = vec!["127.0.0.0/8".into()];
    })
    .await;
    let team = cli_json(
        &db,
        &app,
        &[
            "team",
            "create",
            "--name",
            "Proxied",
            "--admin",
            "ada@example.com",
        ],
    )["team_id"]
        .as_str()
        .expect("team_id")
        .to_owned();

    // The hop before the client's is the client's own claim, and is not believed.
    let ada = behind_proxy(&app, "x-forwarded-for", "198.51.100.1, 203.0.113.7");
    assert_eq!(
        ada.request_login("ada@example.com").await.status,
        StatusCode::SEE_OTHER
    );
    let mail = smtp.mail_to("ada@example.com").await;
    assert!(mail.text.contains("from 203.0.113.7 "), "{}", mail.text);
    assert!(!mail.text.contains("from 127.0.0.1") && !mail.text.contains("198.51.100.1"));
    assert_eq!(
        ada.follow_link(&mail.link()).await.location(),
        Some("/dashboard")
    );
    let signed_in = cli_json(
        &db,
        &app,
        &["audit", "--team", &team, "--action", "member.signed_in"],
    );
    assert_eq!(signed_in[0]["ip"], "203.0.113.7", "{signed_in}");

    // Ada's budget of two is spent (the request and the link's confirmation): 429.
    let limited = ada.request_login("ada@example.com").await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    // Someone else behind the same proxy is not held back by her.
    let bo = behind_proxy(&app, "x-forwarded-for", "203.0.113.8");
    assert_eq!(
        bo.request_login("bo@example.com").await.status,
        StatusCode::SEE_OTHER
    );
    // The proxy writes X-Forwarded-For and passes Forwarded through as the client sent it:
    // a client naming another address there is still Ada, and still limited.
    let mut spoofing = reqwest::header::HeaderMap::new();
    spoofing.insert("x-forwarded-for", "203.0.113.7".parse().expect("header"));
    spoofing.insert("forwarded", "for=198.51.100.77".parse().expect("header"));
    let spoofer = Browser::with_headers(&app.base_url, spoofing);
    let refused = spoofer.request_login("ada@example.com").await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);

    // IPv6 counts by /64: one host's addresses share a budget, the next network does not.
    let v6 = |address: &str| behind_proxy(&app, "x-forwarded-for", address);
    for address in ["2001:db8:1:2::1", "2001:db8:1:2::2"] {
        assert_eq!(
            v6(address).request_login("v@example.com").await.status,
            StatusCode::SEE_OTHER
        );
    }
    let same_64 = v6("2001:db8:1:2:ffff::9")
        .request_login("v@example.com")
        .await;
    assert_eq!(same_64.status, StatusCode::TOO_MANY_REQUESTS);
    let next_64 = v6("2001:db8:1:3::1").request_login("v@example.com").await;
    assert_eq!(next_64.status, StatusCode::SEE_OTHER);
    app.stop().await;

    // Without trusted proxies the headers change nothing: every request is the peer's.
    let db = TestDb::sqlite();
    let (app, smtp) = app_with_mail(&db, |cfg| cfg.http.rate_limit_per_ip = 1).await;
    cli_json(
        &db,
        &app,
        &[
            "team",
            "create",
            "--name",
            "Direct",
            "--admin",
            "ada@example.com",
        ],
    );
    let first = behind_proxy(&app, "x-forwarded-for", "203.0.113.9");
    assert_eq!(
        first.request_login("ada@example.com").await.status,
        StatusCode::SEE_OTHER
    );
    let mail = smtp.mail_to("ada@example.com").await;
    assert!(mail.text.contains("from 127.0.0.1 "), "{}", mail.text);
    let other = behind_proxy(&app, "x-forwarded-for", "203.0.113.10");
    assert_eq!(
        other.request_login("bo@example.com").await.status,
        StatusCode::TOO_MANY_REQUESTS,
        "a spoofed header does not buy a new budget"
    );
    app.stop().await;
}
on_both_databases!(behind_a_trusted_proxy_the_client_it_names_is_limited_mailed_and_audited);

#[tokio::test]
async fn mail_queued_while_smtp_is_down_is_delivered_when_it_is_back() {
    let db = TestDb::sqlite();
    let smtp = SmtpSink::down().await;
    let mut cfg = config(&db, &master_key());
    cfg.mail.smtp_url = smtp.url();
    let app = TestApp::spawn(cfg).await;
    let browser = Browser::new(&app.base_url);
    let asked = browser.register("lu@example.com").await;
    assert_eq!(
        asked.location(),
        Some("/login/sent"),
        "asking succeeds while mail is down"
    );
    assert!(
        crate::harness::eventually(Duration::from_secs(10), || async { smtp.refused() > 0 }).await,
        "the outbox tried while mail was down"
    );
    assert!(smtp.mails().is_empty(), "nothing was taken while down");

    smtp.bring_up();
    let mail = smtp
        .nth_mail_to("lu@example.com", 1, Duration::from_secs(15))
        .await;
    assert_eq!(
        browser.follow_link(&mail.link()).await.location(),
        Some("/dashboard")
    );
    app.stop().await;
}

#[tokio::test]
async fn forms_without_the_csrf_token_or_from_another_origin_are_refused() {
    let db = TestDb::sqlite();
    let (app, smtp) = app_with_mail(&db, |_| {}).await;
    let browser = Browser::new(&app.base_url);
    let page = browser.get("/login").await;
    let csrf = page.field("csrf");

    let missing = browser.post("/login", &[("email", "mo@example.com")]).await;
    assert_eq!(missing.status, StatusCode::FORBIDDEN);
    let wrong = browser
        .post("/login", &[("email", "mo@example.com"), ("csrf", "AAAA")])
        .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    let foreign = browser
        .client
        .post(format!("{}/login", app.base_url))
        .header("origin", "https://evil.example")
        .form(&[("email", "mo@example.com"), ("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), StatusCode::FORBIDDEN);
    outbox_settled(&db).await;
    assert!(
        smtp.mails_to("mo@example.com").is_empty(),
        "a refused form sends nothing"
    );

    let same_origin = browser
        .client
        .post(format!("{}/login", app.base_url))
        .header("origin", app.base_url.as_str())
        .form(&[("email", "mo@example.com"), ("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(same_origin.status(), StatusCode::SEE_OTHER);
    app.stop().await;
}

async fn signing_out_everywhere_ends_every_session(db: TestDb) {
    let (app, smtp) = app_with_mail(&db, |_| {}).await;
    let laptop = Browser::new(&app.base_url);
    laptop.register("ny@example.com").await;
    laptop
        .follow_link(&smtp.mail_to("ny@example.com").await.link())
        .await;
    let phone = Browser::new(&app.base_url);
    phone.request_login("ny@example.com").await;
    phone
        .follow_link(
            &smtp
                .nth_mail_to("ny@example.com", 2, Duration::from_secs(10))
                .await
                .link(),
        )
        .await;
    assert!(laptop.signed_in_as().await.is_some() && phone.signed_in_as().await.is_some());

    let dashboard = phone.get("/dashboard").await;
    let out = phone
        .post("/logout/everywhere", &[("csrf", &dashboard.field("csrf"))])
        .await;
    assert_eq!(out.location(), Some("/login"));
    assert_eq!(phone.signed_in_as().await, None);
    assert_eq!(
        laptop.signed_in_as().await,
        None,
        "the other device is signed out too"
    );
    app.stop().await;
}
on_both_databases!(signing_out_everywhere_ends_every_session);

#[tokio::test]
async fn nothing_secret_is_stored_in_clear() {
    use latchkey_login::entities::{login_link, mail_outbox, session};
    use sea_orm::EntityTrait;
    let db = TestDb::sqlite();
    let (app, smtp) = app_with_mail(&db, |_| {}).await;
    let browser = Browser::new(&app.base_url);
    browser.register("ov@example.com").await;
    let mail = smtp.mail_to("ov@example.com").await;
    let pending = browser.get(&mail.link()).await.field("token");
    browser.follow_link(&mail.link()).await;

    let conn = sea_orm::Database::connect(&db.url).await.unwrap();
    let links = login_link::Entity::find().all(&conn).await.unwrap();
    let sessions = session::Entity::find().all(&conn).await.unwrap();
    let outbox = mail_outbox::Entity::find().all(&conn).await.unwrap();
    let dump = format!("{links:?}{sessions:?}{outbox:?}");
    let jti = {
        use base64::Engine;
        let payload = pending.split('.').nth(1).unwrap();
        let claims: serde_json::Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .unwrap(),
        )
        .unwrap();
        claims["jti"].as_str().unwrap().to_owned()
    };
    assert!(
        !dump.contains(&pending) && !dump.contains(&jti),
        "the link is stored only as a hash"
    );
    // An eight-digit code can occur by chance inside hex, so check its stored form instead: the
    // row keeps a SHA-256 (64 hex digits) bound to the link, and no column holds the code.
    let expected_hash =
        latchkey_core::secret::sha256_hex(format!("{}:{}", links[0].id, mail.code()).as_bytes());
    assert_eq!(
        links[0].code_hash, expected_hash,
        "the code is stored only as its hash"
    );
    assert!(
        outbox
            .iter()
            .all(|m| m.sent_at.is_some() && m.sealed_message.is_none()),
        "sent mail is erased"
    );
    app.stop().await;
}

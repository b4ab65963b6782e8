//! Browser sign-on that belongs to one team: another team that copies a team's issuer and
//! public key neither takes over nor breaks its sign-on (each team has a URL of its own), a
//! sign-on sent from another site does not end the session of whoever is signed in, a session
//! an integration opened cannot change the person's account for all their teams, and a token
//! refused after it verified cannot be used later.

use chrono::Utc;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::browser::{Browser, Page};
use crate::browser_sign_on::{HELPDESK, PemKey, create_team, trust_helpdesk};
use crate::harness::{TestApp, TestDb, cli_json, write_file};
use crate::oidc::provider;
use crate::on_both_databases;

/// `team` trusts the helpdesk with `key`'s public half: what `issuer add --json` says.
fn trust_with(db: &TestDb, app: &TestApp, team: &str, key: &PemKey) -> Value {
    let public = write_file(db.dir.path(), &format!("{team}.pem"), &key.public_pem);
    cli_json(
        db,
        app,
        &[
            "issuer",
            "add",
            "--team",
            team,
            "--issuer",
            HELPDESK,
            "--email-claim",
            "sub",
            "--public-key-file",
            public.to_str().expect("path"),
        ],
    )
}

/// A token of the helpdesk's naming `email`, made out to Latchkey.
fn token(app: &TestApp, key: &PemKey, email: &str, jti: &str) -> String {
    let now = Utc::now().timestamp();
    key.sign(&json!({
        "iss": HELPDESK, "sub": email, "aud": app.base_url,
        "iat": now, "exp": now + 60, "jti": jti,
    }))
}

fn sign_ins(db: &TestDb, app: &TestApp, team: &str) -> usize {
    cli_json(
        db,
        app,
        &["audit", "--team", team, "--action", "member.signed_in"],
    )
    .as_array()
    .map_or(0, Vec::len)
}

/// A fresh browser posts the token to `path`; the team its dashboard then works in.
async fn team_signed_in_at(app: &TestApp, path: &str, token: &str) -> String {
    let browser = Browser::new(&app.base_url);
    let page = browser.post(path, &[("token", token)]).await;
    assert_eq!(page.location(), Some("/dashboard"), "{path}: {}", page.body);
    let dashboard = browser.get("/dashboard").await.body;
    let start = dashboard
        .find("working in the team <strong>")
        .expect("a team")
        + "working in the team <strong>".len();
    dashboard[start..]
        .split('<')
        .next()
        .unwrap_or_default()
        .to_owned()
}

on_both_databases!(a_team_that_copies_another_teams_issuer_and_key_breaks_nothing);
async fn a_team_that_copies_another_teams_issuer_and_key_breaks_nothing(db: TestDb) {
    let p = provider(&db, |_| {}).await;
    let app = &p.app;
    let customer = create_team(&db, app, "admin@customer.example");
    let key = PemKey::generate();
    let added = trust_with(&db, app, &customer, &key);
    let customer_url = format!("/sso/jwt/teams/{customer}");
    assert_eq!(
        added["sign_on_url"],
        json!(format!("{}{customer_url}", app.base_url)),
        "{added}"
    );
    // Eve's team trusts the same issuer with the customer's public key.
    let eve = cli_json(
        &db,
        app,
        &[
            "team",
            "create",
            "--name",
            "Eve Corp",
            "--admin",
            "eve@eve.example",
        ],
    )["team_id"]
        .as_str()
        .expect("team_id")
        .to_owned();
    trust_with(&db, app, &eve, &key);

    // The customer's agents still sign in to the customer, at the shared URL and at its own.
    let shared = team_signed_in_at(
        app,
        "/sso/jwt",
        &token(app, &key, "pat@customer.example", "1"),
    )
    .await;
    let own = team_signed_in_at(
        app,
        &customer_url,
        &token(app, &key, "pat@customer.example", "2"),
    )
    .await;
    assert_eq!((shared.as_str(), own.as_str()), ("Customer", "Customer"));
    // At Eve's URL the token verifies with the key Eve copied: that signs the agent in to
    // Eve's team, which chose to trust it, and reaches nothing of the customer's.
    let at_eve = team_signed_in_at(
        app,
        &format!("/sso/jwt/teams/{eve}"),
        &token(app, &key, "pat@customer.example", "3"),
    )
    .await;
    assert_eq!(at_eve, "Eve Corp");
    assert_eq!(sign_ins(&db, app, &customer), 2);
    assert_eq!(sign_ins(&db, app, &eve), 1);

    // A refusal names no other team.
    let stranger = PemKey::generate();
    let page = Browser::new(&app.base_url)
        .post(
            "/sso/jwt",
            &[("token", &token(app, &stranger, "pat@customer.example", "4"))],
        )
        .await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED, "{}", page.body);
    assert!(
        page.body.contains("the signature does not verify"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("more than one team"), "{}", page.body);
    assert!(!page.body.contains("Eve"), "{}", page.body);
}

/// A request as a browser sends it when another site's page navigates it here.
async fn from_another_site(browser: &Browser, path: &str, form: Option<&[(&str, &str)]>) -> Page {
    let request = match form {
        Some(fields) => browser
            .client
            .post(format!("{}{path}", browser.base))
            .form(fields),
        None => browser.client.get(format!("{}{path}", browser.base)),
    };
    let response = request
        .header("sec-fetch-site", "cross-site")
        .header("sec-fetch-dest", "document")
        .header("origin", "https://evil.example")
        .send()
        .await
        .expect("request");
    Page {
        status: response.status(),
        headers: response.headers().clone(),
        body: response.text().await.expect("body"),
    }
}

on_both_databases!(a_sign_on_from_another_site_does_not_end_the_session_of_whoever_is_signed_in);
async fn a_sign_on_from_another_site_does_not_end_the_session_of_whoever_is_signed_in(db: TestDb) {
    let p = provider(&db, |_| {}).await;
    let app = &p.app;
    let carol = crate::teams::register(&p, "carol@carol.example").await;
    // Eve's team trusts Eve's helpdesk, which names Carol.
    let eve = create_team(&db, app, "eve@eve.example");
    let key = trust_helpdesk(&db, app, &eve, &["--email-claim", "sub"]);
    let url = format!("/sso/jwt/teams/{eve}");
    let first = token(app, &key, "carol@carol.example", "1");
    let query = format!("{url}?token={first}");

    // A link from another site asks Carol; her session lives on, and nothing was set.
    let asked = from_another_site(&carol, &query, None).await;
    assert_eq!(asked.status, StatusCode::OK, "{}", asked.body);
    assert!(asked.body.contains("Switch accounts?"), "{}", asked.body);
    assert!(asked.body.contains("carol@carol.example"), "{}", asked.body);
    assert!(asked.set_cookies().iter().all(|c| !c.contains("session")));
    assert_eq!(
        carol.signed_in_as().await.as_deref(),
        Some("carol@carol.example")
    );
    // A form from another site, even one that claims the answer, cannot answer for her.
    let posted = from_another_site(&carol, &url, Some(&[("token", first.as_str())])).await;
    assert!(posted.body.contains("Switch accounts?"), "{}", posted.body);
    let forced = from_another_site(
        &carol,
        &url,
        Some(&[
            ("token", first.as_str()),
            ("decision", "continue"),
            ("csrf", ""),
        ]),
    )
    .await;
    assert_eq!(forced.status, StatusCode::FORBIDDEN, "{}", forced.body);
    assert_eq!(
        carol.signed_in_as().await.as_deref(),
        Some("carol@carol.example")
    );

    // She stays: the token is spent, and her session goes on.
    let stayed = carol
        .post(
            &url,
            &[
                ("token", first.as_str()),
                ("csrf", asked.field("csrf").as_str()),
                ("decision", "cancel"),
            ],
        )
        .await;
    assert_eq!(stayed.location(), Some("/dashboard"), "{}", stayed.body);
    assert_eq!(
        carol.signed_in_as().await.as_deref(),
        Some("carol@carol.example")
    );
    let reused = Browser::new(&app.base_url)
        .post(&url, &[("token", first.as_str())])
        .await;
    assert_eq!(reused.status, StatusCode::UNAUTHORIZED, "{}", reused.body);
    assert!(reused.body.contains("used before"), "{}", reused.body);

    // Asked again, she continues: the integration's session replaces hers.
    let second = token(app, &key, "carol@carol.example", "2");
    let asked = carol.post(&url, &[("token", second.as_str())]).await;
    assert!(asked.body.contains("Switch accounts?"), "{}", asked.body);
    let continued = carol
        .post(
            &url,
            &[
                ("token", second.as_str()),
                ("csrf", asked.field("csrf").as_str()),
                ("decision", "continue"),
            ],
        )
        .await;
    assert_eq!(
        continued.location(),
        Some("/dashboard"),
        "{}",
        continued.body
    );
    let dashboard = carol.get("/dashboard").await;
    assert!(
        dashboard.body.contains("through the integration"),
        "{}",
        dashboard.body
    );
}

on_both_databases!(a_session_an_integration_opened_cannot_change_the_persons_own_account);
async fn a_session_an_integration_opened_cannot_change_the_persons_own_account(db: TestDb) {
    let p = provider(&db, |_| {}).await;
    let app = &p.app;
    // Bob has his own account, made when he joined the customer's team as a plain member.
    let customer = create_team(&db, app, "admin@customer.example");
    let invitation = cli_json(
        &db,
        app,
        &[
            "join-link",
            "create",
            "--team",
            &customer,
            "--created-by",
            "admin@customer.example",
        ],
    );
    let url = invitation["url"].as_str().expect("url");
    let (own, joined) = crate::teams::join(
        &p,
        &url[url.find("/join/").expect("join path")..],
        "bob@bob.example",
    )
    .await;
    assert_eq!(joined.location(), Some("/dashboard"), "{}", joined.body);
    let key = trust_helpdesk(&db, app, &customer, &["--email-claim", "sub"]);
    let helpdesk = Browser::new(&app.base_url);
    let page = helpdesk
        .post(
            &format!("/sso/jwt/teams/{customer}"),
            &[("token", &token(app, &key, "bob@bob.example", "1"))],
        )
        .await;
    assert_eq!(page.location(), Some("/dashboard"), "{}", page.body);

    // The page says why, and the forms are refused.
    let profile = helpdesk.get("/dashboard/profile").await;
    assert!(
        profile.body.contains("cannot change your name"),
        "{}",
        profile.body
    );
    let dashboard = helpdesk.get("/dashboard").await;
    assert!(
        !dashboard.body.contains("/logout/everywhere"),
        "{}",
        dashboard.body
    );
    let csrf = dashboard.field("csrf");
    let renamed = helpdesk
        .post(
            "/dashboard/profile",
            &[("name", "IT Security Desk"), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(renamed.status, StatusCode::FORBIDDEN, "{}", renamed.body);
    assert!(
        renamed.body.contains("This sign-in is for one team"),
        "{}",
        renamed.body
    );
    let everywhere = helpdesk
        .post("/logout/everywhere", &[("csrf", &csrf)])
        .await;
    assert_eq!(
        everywhere.status,
        StatusCode::FORBIDDEN,
        "{}",
        everywhere.body
    );

    // Bob's own session is still his, with his name unchanged; the helpdesk's signs out.
    assert_eq!(own.signed_in_as().await.as_deref(), Some("bob@bob.example"));
    let out = helpdesk.post("/logout", &[("csrf", &csrf)]).await;
    assert_eq!(out.location(), Some("/login"), "{}", out.body);
    assert_eq!(own.signed_in_as().await.as_deref(), Some("bob@bob.example"));
}

on_both_databases!(a_token_refused_after_it_verified_cannot_be_used_later);
async fn a_token_refused_after_it_verified_cannot_be_used_later(db: TestDb) {
    let p = provider(&db, |_| {}).await;
    let app = &p.app;
    let customer = create_team(&db, app, "admin@customer.example");
    // No --frame-origin: its tokens may not sign in inside a frame.
    let key = trust_helpdesk(&db, app, &customer, &["--email-claim", "sub"]);
    let url = format!("/sso/jwt/teams/{customer}");
    let seen = token(app, &key, "pat@customer.example", "1");

    let mut framed = reqwest::header::HeaderMap::new();
    framed.insert("sec-fetch-dest", "iframe".parse().expect("header"));
    let in_frame = Browser::with_headers(&app.base_url, framed)
        .get(&format!("{url}?token={seen}"))
        .await;
    assert_eq!(
        in_frame.status,
        StatusCode::UNAUTHORIZED,
        "{}",
        in_frame.body
    );
    assert!(
        in_frame.body.contains("inside a frame"),
        "{}",
        in_frame.body
    );

    // The copy a proxy logged is spent.
    let later = Browser::new(&app.base_url)
        .post(&url, &[("token", seen.as_str())])
        .await;
    assert_eq!(later.status, StatusCode::UNAUTHORIZED, "{}", later.body);
    assert!(later.body.contains("used before"), "{}", later.body);
}

/// A SQLite file another process holds locked: the sign-on says the database cannot take
/// it now (503, as every page does), and the token is not spent: it works once the lock goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_database_answers_503_and_leaves_the_token_unspent() {
    let db = TestDb::sqlite();
    let p = provider(&db, |_| {}).await;
    let app = &p.app;
    let customer = create_team(&db, app, "admin@customer.example");
    let key = trust_helpdesk(&db, app, &customer, &["--email-claim", "sub"]);
    let url = format!("/sso/jwt/teams/{customer}");
    let held = token(app, &key, "pat@customer.example", "1");

    let lock = crate::sqlite_faults::Lock::take(&db.dir.path().join("latchkey.db"));
    let page = Browser::new(&app.base_url)
        .post(&url, &[("token", held.as_str())])
        .await;
    lock.release();
    assert_eq!(
        page.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        page.body
    );
    assert!(
        page.body.contains("cannot use its database right now"),
        "{}",
        page.body
    );

    let again = Browser::new(&app.base_url)
        .post(&url, &[("token", held.as_str())])
        .await;
    assert_eq!(again.location(), Some("/dashboard"), "{}", again.body);
}

//! Three replicas on one PostgreSQL, as behind a load balancer: every secret that works once
//! (a magic link, an authorization code, a refresh token, a join link's last use) is spent
//! once when twenty browsers and clients race for it across the replicas; each mail goes out
//! once; a revocation made on one replica holds on the others.

use std::time::Duration;

use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::Value;

use crate::browser::Browser;
use crate::browser_sign_on::create_team;
use crate::harness::{TestApp, TestDb, cli_json, config, eventually};
use crate::oidc::{REDIRECT_URI, allow, authorize_scopes, callback, provider, sign_in, web_client};

/// How many tries race for each secret.
const RACERS: usize = 20;

/// Three replicas: the first (with its SMTP sink and discovery), and two more on the same
/// database, master key, issuer and mail server.
async fn cluster(db: &TestDb) -> (crate::oidc::Provider, Vec<TestApp>) {
    let mut key = String::new();
    let lenient = |cfg: &mut latchkey_server::config::Config| {
        cfg.login.rate_limit_per_address = 100;
        cfg.http.rate_limit_per_ip = 100_000;
    };
    let first = provider(db, |cfg| {
        key = cfg.keys.master_key.clone();
        lenient(cfg);
    })
    .await;
    let mut others = Vec::new();
    for _ in 0..2 {
        let mut cfg = config(db, &key);
        cfg.issuer = first.app.base_url.clone();
        cfg.mail.smtp_url = first.smtp.url();
        lenient(&mut cfg);
        others.push(TestApp::spawn(cfg).await);
    }
    (first, others)
}

/// The base URL of replica `n` of the three.
fn replica<'a>(first: &'a TestApp, others: &'a [TestApp], n: usize) -> &'a str {
    match n % 3 {
        0 => &first.base_url,
        k => &others[k - 1].base_url,
    }
}

pub(crate) async fn post_form(
    url: &str,
    auth: Option<(&str, &str)>,
    form: &[(&str, &str)],
) -> (StatusCode, Value) {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let mut request = client.post(url).form(form);
    if let Some((user, password)) = auth {
        request = request.basic_auth(user, Some(password));
    }
    let response = request.send().await.expect("request");
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_replicas_spend_each_secret_once() {
    let Some(db) = TestDb::postgres().await else {
        eprintln!("LATCHKEY_TEST_POSTGRES_URL is not set: the three-replica test needs PostgreSQL");
        return;
    };
    let (p, others) = cluster(&db).await;
    let at = |n: usize| replica(&p.app, &others, n).to_owned();

    // A magic link: twenty browsers open its confirm page on the three replicas, then all
    // press the button at once. One is signed in; the others are told it was used.
    let asker = Browser::new(&at(1));
    asker.register("ann@example.com").await;
    let mail = p.smtp.mail_to("ann@example.com").await;
    let link = url::Url::parse(&mail.link()).expect("link");
    let path = format!("{}?{}", link.path(), link.query().unwrap_or_default());
    let mut pressing = Vec::new();
    for n in 0..RACERS {
        let browser = Browser::new(&at(n));
        let confirm = browser.get(&path).await;
        assert_eq!(confirm.status, StatusCode::OK, "{}", confirm.body);
        let (token, csrf) = (confirm.field("token"), confirm.field("csrf"));
        pressing.push(async move {
            browser
                .post("/login/verify", &[("token", &token), ("csrf", &csrf)])
                .await
        });
    }
    let pressed = join_all(pressing).await;
    let signed_in = pressed
        .iter()
        .filter(|page| page.location() == Some("/dashboard"))
        .count();
    let used = pressed
        .iter()
        .filter(|page| page.status == StatusCode::GONE)
        .count();
    assert_eq!((signed_in, used), (1, RACERS - 1), "one link, one sign-in");

    // An authorization code raced across the replicas: at most one exchange, and a replay
    // seen during the race revokes what the code gave (RFC 6749 §4.1.2), so a stolen code
    // raced against its client leaves neither with tokens.
    let (client_id, secret) = web_client(&db, &p.app, "Helpdesk");
    let auth = (client_id.as_str(), secret.as_str());
    let rp = p.rp(&client_id, Some(&secret));
    let browser = Browser::new(&p.app.base_url);
    let request = authorize_scopes(&rp, &["email", "offline_access"], &[]);
    let consent = sign_in(&p, &browser, &request.url, "bo@example.com").await;
    let code = callback(&allow(&browser, &consent).await)["code"].clone();
    let exchange = |code: String, verifier: String| {
        let urls: Vec<String> = (0..RACERS).map(|n| format!("{}/token", at(n))).collect();
        join_all(urls.into_iter().map(move |url| {
            let (code, verifier) = (code.clone(), verifier.clone());
            async move {
                post_form(
                    &url,
                    Some(auth),
                    &[
                        ("grant_type", "authorization_code"),
                        ("code", &code),
                        ("redirect_uri", REDIRECT_URI),
                        ("code_verifier", &verifier),
                    ],
                )
                .await
            }
        }))
    };
    let answers = exchange(code, request.verifier.secret().clone()).await;
    let won: Vec<&Value> = answers
        .iter()
        .filter(|(status, _)| *status == StatusCode::OK)
        .map(|(_, body)| body)
        .collect();
    assert!(
        won.len() <= 1,
        "one code, one exchange at most: {answers:?}"
    );
    assert!(
        answers
            .iter()
            .filter(|(status, _)| *status != StatusCode::OK)
            .all(|(status, body)| *status == StatusCode::BAD_REQUEST
                && body["error"] == "invalid_grant"),
        "{answers:?}"
    );
    for tokens in won {
        let token = tokens["access_token"].as_str().expect("access token");
        let (_, body) = post_form(
            &format!("{}/introspect", at(2)),
            Some(auth),
            &[("token", token)],
        )
        .await;
        assert_eq!(body["active"], false, "the raced code's tokens are revoked");
    }

    // Tokens from a code exchanged once, by its client alone, at replica `n`.
    let tokens_at = |n: usize| {
        let (rp, browser, url) = (&rp, &browser, format!("{}/token", at(n)));
        async move {
            let request = authorize_scopes(rp, &["email", "offline_access"], &[]);
            let page = browser.get(&request.url).await;
            let code = callback(&page)["code"].clone();
            let (status, tokens) = post_form(
                &url,
                Some(auth),
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", REDIRECT_URI),
                    ("code_verifier", request.verifier.secret()),
                ],
            )
            .await;
            assert_eq!(status, StatusCode::OK, "{tokens}");
            tokens
        }
    };
    let tokens = tokens_at(1).await;

    // A revocation on one replica holds on the others within a second or two.
    let access = tokens["access_token"]
        .as_str()
        .expect("access token")
        .to_owned();
    let (status, _) = post_form(
        &format!("{}/revoke", at(1)),
        Some(auth),
        &[("token", &access)],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    for n in [0, 2] {
        let url = format!("{}/introspect", at(n));
        let inactive = eventually(Duration::from_secs(5), || async {
            let (_, body) = post_form(&url, Some(auth), &[("token", &access)]).await;
            body["active"] == false
        })
        .await;
        assert!(inactive, "replica {n} still takes the revoked token");
    }

    // A refresh token raced across the replicas: one new pair at most, and the reuse revokes
    // the family, the new pair with it (RFC 9700 §4.14.2).
    let tokens = tokens_at(2).await;
    let refresh = tokens["refresh_token"]
        .as_str()
        .expect("refresh token")
        .to_owned();
    let urls: Vec<String> = (0..RACERS).map(|n| format!("{}/token", at(n))).collect();
    let answers = join_all(urls.into_iter().map(|url| {
        let refresh = refresh.clone();
        async move {
            post_form(
                &url,
                Some(auth),
                &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
            )
            .await
        }
    }))
    .await;
    let renewed: Vec<&Value> = answers
        .iter()
        .filter(|(status, _)| *status == StatusCode::OK)
        .map(|(_, body)| body)
        .collect();
    assert!(
        renewed.len() <= 1,
        "one refresh token, one new pair at most: {answers:?}"
    );
    for pair in renewed {
        let (status, body) = post_form(
            &format!("{}/token", at(0)),
            Some(auth),
            &[
                ("grant_type", "refresh_token"),
                (
                    "refresh_token",
                    pair["refresh_token"].as_str().expect("refresh"),
                ),
            ],
        )
        .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_grant")),
            "the family is revoked: {body}"
        );
    }

    // A join link for one person: twenty people ask on the three replicas, then all open
    // their links at once. One joins; the team has one new member.
    let team = create_team(&db, &p.app, "lead@example.com");
    let join = cli_json(
        &db,
        &p.app,
        &[
            "join-link",
            "create",
            "--team",
            &team,
            "--created-by",
            "lead@example.com",
            "--max-uses",
            "1",
        ],
    );
    let join_path = url::Url::parse(join["url"].as_str().expect("url"))
        .expect("url")
        .path()
        .to_owned();
    let mut joining = Vec::new();
    for n in 0..RACERS {
        let email = format!("p{n}@example.com");
        let browser = Browser::new(&at(n));
        let asked = browser
            .submit(&join_path, &join_path, &[("email", email.as_str())])
            .await;
        assert_eq!(asked.location(), Some("/login/sent"), "{}", asked.body);
        let mail = p.smtp.mail_to(&email).await;
        let link = url::Url::parse(&mail.link()).expect("link");
        let confirm = browser
            .get(&format!(
                "{}?{}",
                link.path(),
                link.query().unwrap_or_default()
            ))
            .await;
        let (token, csrf) = (confirm.field("token"), confirm.field("csrf"));
        joining.push(async move {
            browser
                .post("/login/verify", &[("token", &token), ("csrf", &csrf)])
                .await
        });
    }
    let joined = join_all(joining)
        .await
        .iter()
        .filter(|page| page.location() == Some("/dashboard"))
        .count();
    assert_eq!(joined, 1, "a join link for one person admits one");
    let members = cli_json(&db, &p.app, &["team", "members", "--team", &team]);
    assert_eq!(members.as_array().map(Vec::len), Some(2), "{members}");

    // Every mail went out once, whichever replica's outbox worker took it.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(p.smtp.mails_to("ann@example.com").len(), 1);
    for n in 0..RACERS {
        assert_eq!(
            p.smtp.mails_to(&format!("p{n}@example.com")).len(),
            1,
            "p{n}"
        );
    }
    for app in others {
        app.stop().await;
    }
}

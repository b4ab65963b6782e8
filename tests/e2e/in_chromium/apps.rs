//! A member's application launcher (`/apps`), in Chromium: a SAML application (pysaml2
//! checking what arrives) and an OpenID application (a relying party on the `openidconnect`
//! crate whose login URI the launcher links to) opened with one click each; another team's
//! applications never shown; the page on a phone, with the keyboard, and checked by axe-core.

use fantoccini::key::Key;
use serde_json::Value;

use crate::chromium::{Chromium, Screen};
use crate::harness::{TestDb, cli_json, latchkey, stderr};
use crate::oidc::{Provider, cli_env, provider};
use crate::on_both_databases;
use crate::saml::ServiceProvider;

use super::relying_party::application;
use super::saml::acs_sink;
use super::{ask_for_link, mail, sign_up};

/// A team made by the operator, with Ada as its administrator: its id.
fn team(db: &TestDb, p: &Provider, name: &str, admin: &str) -> String {
    let team = cli_json(
        db,
        &p.app,
        &["team", "create", "--name", name, "--admin", admin],
    );
    team["team_id"].as_str().expect("team_id").to_owned()
}

/// `email` joins `team` through a join link, in `browser`, ending on the dashboard.
async fn join(browser: &Chromium, db: &TestDb, p: &Provider, team: &str, by: &str, email: &str) {
    let link = cli_json(
        db,
        &p.app,
        &["join-link", "create", "--team", team, "--created-by", by],
    );
    browser.open(link["url"].as_str().expect("url")).await;
    ask_for_link(browser, email, "Email me a link to join").await;
    browser.open(&mail(p, email, 1).await.link()).await;
    browser.sees_heading("Join your team").await;
    browser.press("Join the team").await;
    browser.sees_heading("You are signed in").await;
}

/// The member's id, as `team members` lists it (the `sub` of their ID tokens).
fn user_id(db: &TestDb, p: &Provider, team: &str, email: &str) -> String {
    let members = cli_json(db, &p.app, &["team", "members", "--team", team]);
    members
        .as_array()
        .expect("members")
        .iter()
        .find(|m| m["email"] == email)
        .and_then(|m| m["user_id"].as_str())
        .unwrap_or_else(|| panic!("{email} in {members}"))
        .to_owned()
}

/// Another team with a SAML and an OpenID application that may both be opened from Latchkey.
fn globex_with_applications(db: &TestDb, p: &Provider) {
    let globex = team(db, p, "Globex", "gil@globex.test");
    let added: Value = cli_json(
        db,
        &p.app,
        &[
            "saml-sp",
            "add",
            "--team",
            &globex,
            "--name",
            "Globex desk",
            "--entity-id",
            "https://globex.sp.example/metadata",
            "--acs-url",
            "https://globex.sp.example/acs",
        ],
    );
    assert_eq!(added["idp_initiated"], true, "{added}");
    crate::oidc::create_client(
        db,
        &p.app,
        &[
            "--name",
            "Globex notes",
            "--team",
            &globex,
            "--redirect-uri",
            "https://notes.globex.example/callback",
            "--initiate-login-uri",
            "https://notes.globex.example/login",
        ],
    );
}

on_both_databases!(a_member_opens_a_saml_and_an_openid_application_from_apps);
async fn a_member_opens_a_saml_and_an_openid_application_from_apps(db: TestDb) {
    let p = provider(&db, |_| {}).await;
    let acme = team(&db, &p, "Acme", "ada@acme.test");
    globex_with_applications(&db, &p);
    // Acme's SAML application, which allows sign-on started at Latchkey (the default).
    let (acs, received) = acs_sink().await;
    let sp = ServiceProvider::at("launcher", &acs);
    cli_json(
        &db,
        &p.app,
        &[
            "saml-sp",
            "add",
            "--team",
            &acme,
            "--name",
            "Helpdesk",
            "--entity-id",
            &sp.entity_id,
            "--acs-url",
            &acs,
        ],
    );
    sp.trust(&db, &p).await;
    // Acme's OpenID application, whose login URI starts its own sign-in.
    let notes = application(&db, &p, "Notes", |url| {
        [
            "--team",
            &acme,
            "--first-party",
            "--initiate-login-uri",
            &format!("{url}/login"),
        ]
        .map(String::from)
        .to_vec()
    })
    .await;
    // And one it cannot start: no login URI, so not on the launcher.
    crate::oidc::create_client(
        &db,
        &p.app,
        &[
            "--name",
            "Billing",
            "--team",
            &acme,
            "--redirect-uri",
            "https://billing.example/callback",
        ],
    );

    let browser = Chromium::launch("apps-member").await;
    join(&browser, &db, &p, &acme, "ada@acme.test", "mo@acme.test").await;
    browser.open(&p.app.url("/apps")).await;
    browser.sees_heading("Your applications").await;
    browser.sees("Helpdesk").await;
    browser.sees("Notes").await;
    browser.does_not_see("Billing").await;
    browser.does_not_see("Globex").await;
    browser.check_accessibility().await;
    browser.screenshot("tiles").await;

    // One click: the SAML sign-on starts at Latchkey and posts to the application.
    browser.follow("Open Helpdesk").await;
    browser.sees_heading("Signed in to the helpdesk").await;
    let form = received
        .lock()
        .expect("lock")
        .pop()
        .expect("a posted response");
    let checked = sp.run(&["acs", &form["SAMLResponse"], "--unsolicited"]);
    assert_eq!(checked["ok"], true, "{checked}");
    assert_eq!(checked["name_id"], "mo@acme.test");

    // One click: the application is sent the issuer and the member, asks Latchkey, and the
    // member, signed in already, lands in it as themselves.
    browser.open(&p.app.url("/apps")).await;
    browser.follow("Open Notes").await;
    browser.sees_heading("Welcome to Notes").await;
    let sub = user_id(&db, &p, &acme, "mo@acme.test");
    browser
        .sees(&format!("Signed in as mo@acme.test, subject {sub}"))
        .await;
    assert!(browser.url().await.as_str().starts_with(&notes.url));
    browser.close().await;
}

on_both_databases!(
    apps_reads_on_a_phone_with_the_keyboard_alone_and_brings_people_back_after_sign_in
);
async fn apps_reads_on_a_phone_with_the_keyboard_alone_and_brings_people_back_after_sign_in(
    db: TestDb,
) {
    let p = provider(&db, |_| {}).await;
    // A new team's administrator: nothing to open yet, and where to add applications.
    let phone = Chromium::with_screen("apps-phone", Screen::Phone).await;
    sign_up(&phone, &p, "ida@initech.test").await;
    phone.open(&p.app.url("/apps")).await;
    phone
        .sees("Your team has no applications you can open from here yet.")
        .await;
    phone.sees("integrations page").await;
    phone.check_accessibility().await;
    assert!(phone.fits_the_width().await, "/apps fits a phone");
    phone.screenshot("empty").await;
    phone.close().await;

    // A member with an application: on a phone, reached and opened with the keyboard.
    let acme = team(&db, &p, "Acme", "ada@acme.test");
    let notes = application(&db, &p, "Notes with a rather long name to wrap", |url| {
        [
            "--team",
            &acme,
            "--first-party",
            "--initiate-login-uri",
            &format!("{url}/login"),
        ]
        .map(String::from)
        .to_vec()
    })
    .await;
    let phone = Chromium::with_screen("apps-phone-member", Screen::Phone).await;
    join(&phone, &db, &p, &acme, "ada@acme.test", "mo@acme.test").await;
    phone.open(&p.app.url("/apps")).await;
    phone.check_accessibility().await;
    assert!(phone.fits_the_width().await, "/apps fits a phone");
    phone.screenshot("tiles").await;
    phone
        .tab_to("Open Notes with a rather long name to wrap")
        .await;
    phone.key(Key::Enter).await;
    phone
        .sees_heading("Welcome to Notes with a rather long name to wrap")
        .await;
    assert!(phone.url().await.as_str().starts_with(&notes.url));
    phone.close().await;

    // Not signed in: to the sign-in page, and back to the launcher once signed in.
    let browser = Chromium::launch("apps-and-back").await;
    browser.open(&p.app.url("/apps")).await;
    browser
        .sees_heading("Sign in to continue to your applications")
        .await;
    ask_for_link(&browser, "mo@acme.test", "Email me a sign-in link").await;
    browser
        .open(&mail(&p, "mo@acme.test", 2).await.link())
        .await;
    browser.press("Sign me in").await;
    browser.sees_heading("Your applications").await;
    browser
        .sees("Open Notes with a rather long name to wrap")
        .await;
    browser.close().await;
}

#[tokio::test]
async fn client_create_refuses_a_bad_login_uri_and_says_what_to_fix() {
    let db = TestDb::sqlite();
    let p = provider(&db, |_| {}).await;
    let long = format!("https://notes.example/{}", "a".repeat(10 * 1024));
    for (uri, says) in [
        ("https://notes.example/login#start", "has a fragment"),
        ("http://notes.example/login", "must use https"),
        (long.as_str(), "is longer than 2048 characters"),
    ] {
        let output = latchkey(
            db.dir.path(),
            &cli_env(&db, &p.app),
            &[
                "client",
                "create",
                "--name",
                "Notes",
                "--redirect-uri",
                "https://notes.example/callback",
                "--initiate-login-uri",
                uri,
            ],
        );
        assert!(!output.status.success(), "{uri:.60} was accepted");
        let stderr = stderr(&output);
        assert!(
            stderr.contains("--initiate-login-uri") && stderr.contains(says),
            "{says:?} in {stderr}"
        );
    }
    let listed = cli_json(&db, &p.app, &["client", "list"]);
    assert_eq!(listed, serde_json::json!([]));
}

//! Signing in with a team's own identity provider in Chromium: Latchkey on `localhost`, the
//! provider (node-oidc-provider) on 127.0.0.1, another site, so the way back is a cross-site
//! navigation that must still carry the cookie binding the sign-in to the browser.

use crate::browser_sign_on::create_team;
use crate::chromium::{Chromium, Screen};
use crate::harness::{LOCALHOST_ANY_PORT, TestApp, TestDb, config, master_key};
use crate::on_both_databases;
use crate::upstream::{CLIENT_ID, Dns, UpstreamOp, add_connection, connection_cli};
use serde_json::json;

on_both_databases!(a_person_of_a_proven_domain_signs_in_with_the_teams_provider);
async fn a_person_of_a_proven_domain_signs_in_with_the_teams_provider(db: TestDb) {
    let key = master_key();
    let mut settings = config(&db, &key);
    settings.issuer = LOCALHOST_ANY_PORT.to_owned();
    let app = TestApp::spawn(settings).await;
    let latchkey = format!("http://localhost:{}", app.addr.port());
    let team = create_team(&db, &app, "admin@acme.example");
    let op = UpstreamOp::start(json!({
            "ann@acme.example": { "sub": "okta-ann", "email": "ann@acme.example", "email_verified": true, "name": "Ann Acme" },
            "admin@acme.example": { "sub": "okta-admin", "email": "admin@acme.example", "email_verified": true },
        }),
    )
    .await;
    let added = add_connection(&db, &app, &key, &op, &team, &["--domain", "acme.example"]).await;
    let connection = added["connection_id"].as_str().expect("id");
    let dns = Dns::start(&[(
        "_latchkey-challenge.acme.example",
        added["domains"][0]["txt_value"].as_str().expect("txt"),
    )]);
    let proven = connection_cli(
        &db,
        &app,
        &key,
        Some(&dns),
        &[
            "connection",
            "verify-domain",
            "--connection",
            connection,
            "--domain",
            "acme.example",
        ],
    );
    assert!(proven.status.success());

    // On a phone: the team's sign-in page offers its provider.
    let browser = Chromium::with_screen("connection-team-login", Screen::Phone).await;
    browser.open(&format!("{latchkey}/login?team={team}")).await;
    browser.sees("Or with your team's identity provider").await;
    assert!(browser.fits_the_width().await, "the page fits a phone");
    browser.check_accessibility().await;
    browser.screenshot("team-login").await;
    browser.close().await;

    // On a phone: the address, then the page that says where it goes, then back signed in.
    let browser = Chromium::with_screen("connection-phone", Screen::Phone).await;
    browser.open(&format!("{latchkey}/login")).await;
    browser.fill("Email address", "ann@acme.example").await;
    browser.press("Email me a sign-in link").await;
    browser.sees_heading("Sign in with Acme Okta").await;
    browser
        .sees("Addresses at acme.example sign in with Acme Okta")
        .await;
    assert!(browser.fits_the_width().await, "the page fits a phone");
    browser.check_accessibility().await;
    browser.screenshot("home-realm").await;
    browser.press("Continue to Acme Okta").await;
    browser.sees_heading("You are signed in").await;
    browser.sees("Ann Acme").await;
    browser
        .sees("You are working in the team Customer as member")
        .await;
    browser.close().await;

    // The administrator signs in the same way, and sees the connection on the integrations
    // page, where another can be added with the form.
    let browser = Chromium::launch("connection-admin").await;
    sign_in_as_admin(&browser, &latchkey).await;
    browser
        .open(&format!("{latchkey}/dashboard/integrations/connections"))
        .await;
    browser.sees("acme.example: proven").await;
    browser.check_accessibility().await;
    browser
        .fill("Name people see on the button", "Acme Entra")
        .await;
    browser
        .fill(
            "Issuer URL (its discovery document is read from it)",
            &op.issuer,
        )
        .await;
    browser.fill("Client ID", CLIENT_ID).await;
    browser.fill("Client secret", "entra-secret").await;
    browser.press("Add this identity provider").await;
    browser.sees("The identity provider is added.").await;
    browser.sees_heading("Identity provider of Customer").await;
    browser.sees("Acme Entra").await;
    browser.screenshot("integrations").await;
    browser.close().await;

    // The same page on a phone.
    let browser = Chromium::with_screen("connection-admin-phone", Screen::Phone).await;
    sign_in_as_admin(&browser, &latchkey).await;
    browser
        .open(&format!("{latchkey}/dashboard/integrations/connections"))
        .await;
    browser
        .sees("Redirect URI to register at the provider")
        .await;
    assert!(browser.fits_the_width().await, "the page fits a phone");
    browser.screenshot("integrations").await;
    browser.close().await;
}

/// The team's administrator, at an address of the proven domain, signs in with its provider.
async fn sign_in_as_admin(browser: &Chromium, latchkey: &str) {
    browser.open(&format!("{latchkey}/login")).await;
    browser.fill("Email address", "admin@acme.example").await;
    browser.press("Email me a sign-in link").await;
    browser.press("Continue to Acme Okta").await;
    browser.sees_heading("You are signed in").await;
}

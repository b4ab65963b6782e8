//! A team administrator who signed up a minute ago connects an application in the browser,
//! on a phone, with no command line: the Zendesk preset, a mistake corrected, the values
//! read from the page; then a relying party on the `openidconnect` crate, configured with
//! exactly those values, signs a member of the team in. A member who opens the console is
//! told it is for administrators. axe-core checks each page.

use fantoccini::key::Key;

use crate::chromium::{Chromium, Screen};
use crate::harness::TestDb;
use crate::oidc::provider;
use crate::on_both_databases;

use super::relying_party::{listen, serve};
use super::{ask_for_link, mail, sign_up};

const REDIRECT_FIELD: &str = "Redirect URIs (one per line)";

on_both_databases!(a_new_administrator_connects_a_zendesk_application_and_a_member_signs_in);
async fn a_new_administrator_connects_a_zendesk_application_and_a_member_signs_in(db: TestDb) {
    let p = provider(&db, |_| {}).await;
    let (listener, desk_url) = listen().await;
    let callback = format!("{desk_url}/callback");
    let admin = Chromium::with_screen("applications-admin", Screen::Phone).await;
    sign_up(&admin, &p, "ada@acme.test").await;

    admin.open(&p.app.url("/dashboard/applications")).await;
    admin.sees_heading("Applications of acme.test").await;
    admin.sees("No applications yet").await;
    admin.check_accessibility().await;
    assert!(admin.fits_the_width().await, "the list fits a phone");
    admin.follow("Register an application").await;
    admin.sees_heading("Register an application").await;
    admin.sees("Intercom sign in over SAML").await;
    admin.follow("Zendesk").await;
    admin.sees("zendesk.com/access/oidc/callback").await;
    assert_eq!(admin.value_of("Scopes").await, "openid email profile");
    assert_eq!(admin.value_of("Name").await, "Zendesk");
    admin.check_accessibility().await;
    assert!(admin.fits_the_width().await, "the form fits a phone");

    // A mistake: the form comes back saying what is wrong, next to the field.
    admin
        .fill(REDIRECT_FIELD, "http://desk.example.com/callback")
        .await;
    admin.press("Register").await;
    admin.sees("must use https").await;
    assert_eq!(
        admin.value_of(REDIRECT_FIELD).await,
        "http://desk.example.com/callback",
        "what was typed is kept"
    );
    admin.check_accessibility().await;
    // Corrected, and sent with the keyboard alone.
    admin.fill(REDIRECT_FIELD, &callback).await;
    admin.tab_to("Register").await;
    admin.key(Key::Enter).await;
    admin.sees("The application is registered").await;
    admin.check_accessibility().await;
    assert!(admin.fits_the_width().await, "the values fit a phone");
    let client_id = admin.value_of("Client ID").await;
    let secret = admin.value_of("Client secret").await;
    assert_eq!(
        admin.value_of("Auto discovery: Issuer URL").await,
        p.app.base_url
    );
    assert_eq!(admin.value_of("Scopes").await, "openid,email,profile");
    assert_eq!(
        admin.value_of("Token URL (discovery off)").await,
        p.app.url("/token")
    );
    // With JavaScript each value has a copy button.
    admin.press("Copy").await;
    admin.sees("Copied").await;
    let desk = serve(&p, "Zendesk", (listener, desk_url), &client_id, &secret);

    // A member joins the team with a link made on the team page.
    admin.open(&p.app.url("/dashboard/settings/team")).await;
    admin.fill("Works for (hours, at most 72)", "24").await;
    admin.press("Create a join link").await;
    admin.sees("Copy it now: it is shown only once.").await;
    let join_link = admin.value_of("Join link").await;
    let member = Chromium::launch("applications-member").await;
    member.open(&join_link).await;
    ask_for_link(&member, "bea@acme.test", "Email me a link to join").await;
    member
        .open(&mail(&p, "bea@acme.test", 1).await.link())
        .await;
    member.press("Join the team").await;
    member.sees_heading("You are signed in").await;

    // The relying party, with the values the page showed, signs her in.
    member.open(&desk.url).await;
    member
        .sees_heading("Zendesk wants to access your account")
        .await;
    member.press("Allow").await;
    member.sees_heading("Welcome to Zendesk").await;
    member.sees("Signed in as bea@acme.test").await;

    // The console is for administrators: she is told so.
    member.open(&p.app.url("/dashboard/applications")).await;
    member.sees_heading("Only administrators can do this").await;
    member.check_accessibility().await;
    member.close().await;

    // Back on the application's page, the secret is not shown again.
    admin.open(&p.app.url("/dashboard/applications")).await;
    admin.follow("Zendesk").await;
    admin.sees("The client secret was shown once").await;
    admin.does_not_see(&secret).await;
    admin.check_accessibility().await;
    admin.close().await;
}

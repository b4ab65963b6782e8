//! Every page as a person meets it, in real Chromium: the provider on a random port with real
//! SMTP, links and codes read from the delivered mail, a relying party built on the
//! `openidconnect` crate, and axe-core on each distinct page.

mod applications;
mod apps;
mod connections;
mod console;
mod forgery;
mod reauthentication;
mod relying_party;
mod saml;
mod sign_in;
mod single_logout;
mod teams;
mod widget;

use std::time::Duration;

use crate::chromium::Chromium;
use crate::oidc::Provider;
use crate::smtp::Mail;

/// The `n`th mail (1-based) to `email`.
async fn mail(p: &Provider, email: &str, n: usize) -> Mail {
    p.smtp.nth_mail_to(email, n, Duration::from_secs(10)).await
}

/// Mails to `email` so far.
fn mails(p: &Provider, email: &str) -> usize {
    p.smtp.mails_to(email).len()
}

/// The one link in a mail that leads to `path`.
fn link_to(mail: &Mail, path: &str) -> String {
    let links: Vec<&str> = mail
        .text
        .split_whitespace()
        .filter(|word| word.starts_with("http") && word.contains(path))
        .collect();
    assert_eq!(links.len(), 1, "one link to {path} in: {}", mail.text);
    links[0].trim_end_matches('.').to_owned()
}

/// Types an address into the page's form and sends it: "Check your email".
async fn ask_for_link(browser: &Chromium, email: &str, button: &str) {
    browser.fill("Email address", email).await;
    browser.press(button).await;
    browser.sees_heading("Check your email").await;
}

/// Opens the link of the newest mail to `email` and presses the confirm page's button.
async fn open_link(browser: &Chromium, p: &Provider, email: &str, n: usize, confirm: (&str, &str)) {
    let (heading, button) = confirm;
    let mail = mail(p, email, n).await;
    browser.open(&mail.link()).await;
    browser.sees_heading(heading).await;
    browser.sees(email).await;
    browser.press(button).await;
}

/// Signs a new person up from `/register`, ending on the dashboard.
async fn sign_up(browser: &Chromium, p: &Provider, email: &str) {
    let before = mails(p, email);
    browser.open(&p.app.url("/register")).await;
    ask_for_link(browser, email, "Email me a sign-up link").await;
    open_link(
        browser,
        p,
        email,
        before + 1,
        ("Finish creating your account", "Create my account"),
    )
    .await;
    browser.sees_heading("You are signed in").await;
}

/// Signs a known person in from `/login` with the mailed link, ending on the dashboard.
async fn sign_in(browser: &Chromium, p: &Provider, email: &str) {
    let before = mails(p, email);
    browser.open(&p.app.url("/login")).await;
    ask_for_link(browser, email, "Email me a sign-in link").await;
    open_link(browser, p, email, before + 1, ("Sign in", "Sign me in")).await;
    browser.sees_heading("You are signed in").await;
}

/// Whether `browser` is signed in: the dashboard shows, or it is sent to sign in.
async fn is_signed_in(browser: &Chromium, p: &Provider) -> bool {
    browser.open(&p.app.url("/dashboard")).await;
    match browser.heading().await.as_str() {
        "You are signed in" => true,
        "Sign in" => false,
        other => panic!("the dashboard shows neither itself nor the sign-in page: {other}"),
    }
}

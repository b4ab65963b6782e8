//! A page on another site that posts to the provider's forms, in the signed-in person's own
//! Chromium: it gets the "form has expired" page, and nothing changes.

use axum::response::Html;

use crate::chromium::Chromium;
use crate::harness::TestDb;
use crate::oidc::provider;
use crate::on_both_databases;

use super::{is_signed_in, sign_up};

/// Serves one page on `http://localhost:PORT` (another site than the provider's `127.0.0.1`)
/// whose buttons post `forms` (action, fields) to the provider.
async fn attacker_site(
    forms: Vec<(String, Vec<(String, String)>)>,
) -> (String, tokio::task::JoinHandle<()>) {
    let mut body =
        String::from("<!doctype html><html lang=en><title>Prizes</title><main><h1>You won</h1>");
    for (index, (action, fields)) in forms.iter().enumerate() {
        body.push_str(&format!("<form method=post action=\"{action}\">"));
        for (name, value) in fields {
            body.push_str(&format!(
                "<input type=hidden name=\"{name}\" value=\"{value}\">"
            ));
        }
        body.push_str(&format!(
            "<button type=submit>Claim prize {index}</button></form>"
        ));
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!(
        "http://localhost:{}/",
        listener.local_addr().expect("addr").port()
    );
    let router =
        axum::Router::new().route("/", axum::routing::get(move || async move { Html(body) }));
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (url, server)
}

on_both_databases!(a_form_posted_from_another_site_is_refused_and_changes_nothing);
async fn a_form_posted_from_another_site_is_refused_and_changes_nothing(db: TestDb) {
    let p = provider(&db, |_| {}).await;
    let browser = Chromium::launch("forgery").await;
    sign_up(&browser, &p, "gus@acme.test").await;
    browser.open(&p.app.url("/dashboard/settings/team")).await;
    browser.sees_heading("acme.test").await;
    let team_id = browser.hidden("team").await;

    let fields = |extra: &[(&str, &str)]| {
        let mut all = vec![("csrf".to_owned(), "guessed".to_owned())];
        all.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        all
    };
    let (site, server) = attacker_site(vec![
        (
            p.app.url("/dashboard/settings/team/rename"),
            fields(&[("team", &team_id), ("name", "Pwned")]),
        ),
        (p.app.url("/logout/everywhere"), fields(&[])),
    ])
    .await;

    for prize in ["Claim prize 0", "Claim prize 1"] {
        browser.open(&site).await;
        browser.sees_heading("You won").await;
        browser.press(prize).await;
        browser.sees_heading("This form has expired").await;
        browser.sees("it was sent from another site").await;
        browser.check_accessibility().await;
    }

    assert!(is_signed_in(&browser, &p).await, "still signed in");
    browser.open(&p.app.url("/dashboard/settings/team")).await;
    browser.sees_heading("acme.test").await;
    browser.does_not_see("Pwned").await;
    server.abort();
    browser.close().await;
}

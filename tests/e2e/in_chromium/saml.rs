//! A SAML application added on the integrations page, and a sign-on to it in Chromium: the
//! response page posts itself to the application (its one script allowed by its hash), and
//! the application's SAML service provider (pysaml2) takes what arrives.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::chromium::{Chromium, Screen};
use crate::harness::TestDb;
use crate::oidc::provider;
use crate::on_both_databases;
use crate::saml::ServiceProvider;

use super::{sign_in, sign_up};

/// An assertion consumer service on this machine: it keeps what browsers post to it.
pub(super) async fn acs_sink() -> (String, Arc<Mutex<Vec<HashMap<String, String>>>>) {
    use axum::routing::post;
    let received = Arc::new(Mutex::new(Vec::new()));
    let keep = received.clone();
    let app = axum::Router::new().route(
        "/acs",
        post(
            move |axum::Form(form): axum::Form<HashMap<String, String>>| {
                let keep = keep.clone();
                async move {
                    keep.lock().expect("lock").push(form);
                    axum::response::Html(
                        "<!doctype html><title>Helpdesk</title><h1>Signed in to the helpdesk</h1>",
                    )
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/acs", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, received)
}

on_both_databases!(an_administrator_adds_a_saml_application_and_signs_in_to_it);
async fn an_administrator_adds_a_saml_application_and_signs_in_to_it(db: TestDb) {
    let p = provider(&db, |_| {}).await;
    let (acs, received) = acs_sink().await;
    let sp = ServiceProvider::at("chromium", &acs);
    let admin = Chromium::launch("saml-admin").await;
    sign_up(&admin, &p, "ida@acme.test").await;
    admin.follow("Team settings").await;
    admin.follow("Integrations").await;
    admin.follow("SAML applications").await;
    admin.sees("No SAML application yet.").await;

    // Added on the page, by its entity ID and ACS URL.
    admin.fill("Name people see", "Helpdesk").await;
    admin.fill("Entity ID", &sp.entity_id).await;
    admin
        .fill("Assertion consumer service (ACS) URLs, one per line", &acs)
        .await;
    // pysaml2 signs its requests: without its certificate they could not be checked.
    admin
        .fill(
            "Its request-signing certificate (PEM, optional: the requests it signs are verified with it)",
            &std::fs::read_to_string(sp.cert()).expect("cert"),
        )
        .await;
    // A fixed value beside a claim (Genesys Cloud reads OrganizationName).
    admin
        .fill(
            "Attributes, one per line: NAME=CLAIM (email, name, given_name, family_name, team, role, sub) or NAME=literal:VALUE, the same for everyone (empty: what its metadata asks for, else email, firstName, lastName and displayName)",
            "email=email\nOrganizationName=literal:Acme, Inc.",
        )
        .await;
    admin.press("Add this application").await;
    admin.sees("The application is added").await;
    admin.sees(&sp.entity_id).await;
    admin.sees("OrganizationName").await;
    // IdP-initiated sign-on is allowed unless the box is unticked: its start link shows.
    admin.sees("Start a sign-on from here").await;
    admin.does_not_see("No SAML application yet.").await;
    admin.check_accessibility().await;
    admin.screenshot("section").await;
    // The section on a phone: it fits, and the application is there to remove.
    let phone = Chromium::with_screen("saml-admin-phone", Screen::Phone).await;
    sign_in(&phone, &p, "ida@acme.test").await;
    phone.follow("Team settings").await;
    phone.follow("Integrations").await;
    phone.follow("SAML applications").await;
    phone.sees(&sp.entity_id).await;
    // With the form that changes it open, too.
    phone.expand("Change Helpdesk").await;
    assert!(
        phone.fits_the_width().await,
        "the integrations page fits a phone"
    );
    phone.fill("Name people see", "Helpdesk").await;
    phone.screenshot("change").await;
    phone
        .open(&format!("{}#saml-heading", phone.url().await))
        .await;
    phone.screenshot("section").await;
    phone.close().await;

    // The application asks; the signed-in administrator's browser carries the response
    // there on its own.
    sp.trust(&db, &p).await;
    let asked = sp.run(&["login", "redirect", "from-chromium"]);
    admin.open(asked["url"].as_str().expect("url")).await;
    admin.sees_heading("Signed in to the helpdesk").await;
    let form = received
        .lock()
        .expect("lock")
        .pop()
        .expect("a posted response");
    assert_eq!(form["RelayState"], "from-chromium");
    let checked = sp.run(&["acs", &form["SAMLResponse"]]);
    assert_eq!(checked["ok"], true, "{checked}");
    assert_eq!(checked["name_id"], "ida@acme.test");
    assert_eq!(
        checked["attributes"]["OrganizationName"][0], "Acme, Inc.",
        "{checked}"
    );

    // Changed on the page: once it refuses sign-ons started here, its start link goes, and
    // /saml/init says where to start instead.
    admin.open(&p.app.url("/dashboard/settings/team")).await;
    admin.follow("Integrations").await;
    admin.follow("SAML applications").await;
    admin.expand("Change Helpdesk").await;
    admin.check_accessibility().await;
    // Focusing its first field brings the form into view for the screenshot.
    admin.fill("Name people see", "Helpdesk").await;
    admin.screenshot("change").await;
    admin
        .toggle("People may start signing in from Latchkey (IdP-initiated)")
        .await;
    admin.press("Save Helpdesk").await;
    admin.sees("The application is changed").await;
    admin.sees("Sign-ons start at the application only.").await;
    admin.does_not_see("Start a sign-on from here").await;
    admin
        .open(&p.app.url(&format!(
            "/saml/init?{}",
            url::form_urlencoded::Serializer::new(String::new())
                .append_pair("sp", &sp.entity_id)
                .append_pair(
                    "team",
                    crate::saml::registered(&db, &p, &sp.entity_id)["team_id"]
                        .as_str()
                        .expect("team_id"),
                )
                .finish()
        )))
        .await;
    admin
        .sees_heading("Start signing in at the application")
        .await;

    // Removed on the page: the application's requests are refused from then on.
    admin.open(&p.app.url("/dashboard/settings/team")).await;
    admin.follow("Integrations").await;
    admin.follow("SAML applications").await;
    admin.press("Remove Helpdesk").await;
    admin.sees("The application is removed").await;
    admin.sees("No SAML application yet.").await;
    let asked = sp.run(&["login", "redirect", ""]);
    admin.open(asked["url"].as_str().expect("url")).await;
    admin
        .sees_heading("This application is not registered")
        .await;
    admin.close().await;

    // On a phone, the page of a refused request fits the screen and says what to do.
    let phone = Chromium::with_screen("saml-phone", Screen::Phone).await;
    phone
        .open(&p.app.url("/saml/init?sp=https%3A%2F%2Fnobody.example"))
        .await;
    phone
        .sees_heading("This application is not registered")
        .await;
    phone.sees("registers it with Latchkey").await;
    assert!(phone.fits_the_width().await, "fits a phone");
    phone.check_accessibility().await;
    phone.screenshot("not-registered").await;
    phone.close().await;
}

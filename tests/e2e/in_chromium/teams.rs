//! The team and integrations pages, in Chromium: join links made and used, roles changed,
//! members removed, issuers trusted and removed.

use jsonwebtoken::jwk::JwkSet;

use crate::chromium::Chromium;
use crate::client_auth::ClientKey;
use crate::harness::TestDb;
use crate::oidc::provider;
use crate::on_both_databases;

use super::{mail, sign_up};

on_both_databases!(an_administrator_brings_a_person_in_and_manages_the_team);
async fn an_administrator_brings_a_person_in_and_manages_the_team(db: TestDb) {
    let p = provider(&db, |_| {}).await;
    let admin = Chromium::launch("team-admin").await;
    sign_up(&admin, &p, "ada@acme.test").await;
    admin
        .sees("You are working in the team acme.test as administrator")
        .await;
    // Her name, on the profile page.
    admin.follow("Your profile").await;
    admin.sees_heading("Your profile").await;
    admin.check_accessibility().await;
    admin.fill("Your name", "Ada King Lovelace").await;
    admin.press("Save").await;
    admin.sees("Your name is saved").await;
    admin.sees("family name: Lovelace").await;
    admin.follow("Your account").await;
    admin.sees("Signed in as Ada King Lovelace").await;
    admin.follow("Team settings").await;
    admin.sees_heading("acme.test").await;
    admin.check_accessibility().await;

    // A join link, made on the page and shown once.
    admin.fill("Works for (hours, at most 72)", "24").await;
    admin.press("Create a join link").await;
    admin.sees("Copy it now: it is shown only once.").await;
    let join_link = admin.value_of("Join link").await;
    assert!(join_link.contains("/join/"), "{join_link}");
    admin.check_accessibility().await;

    // A new person opens it in their own browser and signs up through it.
    let newcomer = Chromium::launch("team-newcomer").await;
    newcomer.open(&join_link).await;
    newcomer.sees_heading("Join acme.test").await;
    newcomer.check_accessibility().await;
    super::ask_for_link(&newcomer, "bea@elsewhere.test", "Email me a link to join").await;
    let invitation = mail(&p, "bea@elsewhere.test", 1).await;
    newcomer.open(&invitation.link()).await;
    newcomer.sees_heading("Join your team").await;
    newcomer.sees("join the team acme.test").await;
    newcomer.press("Join the team").await;
    newcomer.sees_heading("You are signed in").await;
    newcomer
        .sees("You are working in the team acme.test as member")
        .await;

    // The administrator sees the new member, promotes and demotes them, then removes them.
    admin.open(&p.app.url("/dashboard/settings/team")).await;
    admin.sees("bea@elsewhere.test").await;
    admin
        .press_in_row("bea@elsewhere.test", "Make administrator")
        .await;
    admin.sees("The role was changed.").await;
    admin
        .press_in_row("bea@elsewhere.test", "Make member")
        .await;
    admin
        .sees_button_in_row("bea@elsewhere.test", "Make administrator")
        .await;
    admin
        .press_in_row("bea@elsewhere.test", "Make administrator")
        .await;
    admin
        .sees_button_in_row("bea@elsewhere.test", "Make member")
        .await;
    newcomer.open(&p.app.url("/dashboard")).await;
    newcomer
        .sees("You are working in the team acme.test as administrator")
        .await;
    admin.press_in_row("bea@elsewhere.test", "Remove").await;
    admin
        .sees_gone_from(
            "section[aria-labelledby='members-heading']",
            "bea@elsewhere.test",
        )
        .await;
    admin.sees("The member was removed.").await;
    newcomer.open(&p.app.url("/dashboard")).await;
    newcomer.does_not_see("acme.test").await;

    // The join link is revoked: opening it now says so.
    admin.press_in_row("active", "Revoke").await;
    admin.sees_heading("acme.test").await;
    admin.sees("revoked").await;
    newcomer.open(&join_link).await;
    newcomer.sees_heading("This join link was withdrawn").await;
    newcomer.check_accessibility().await;

    // Each step is in the audit log.
    for action in [
        "join_link.created",
        "member.joined",
        "member.role_changed",
        "member.removed",
        "join_link.revoked",
    ] {
        admin.sees(action).await;
    }
    admin.close().await;
    newcomer.close().await;
}

on_both_databases!(an_administrator_trusts_and_removes_an_issuer_on_the_integrations_page);
async fn an_administrator_trusts_and_removes_an_issuer_on_the_integrations_page(db: TestDb) {
    let p = provider(&db, |_| {}).await;
    let admin = Chromium::launch("integrations").await;
    sign_up(&admin, &p, "ida@acme.test").await;
    admin.follow("Team settings").await;
    admin.follow("Integrations").await;
    admin.sees_heading("Integrations of acme.test").await;
    admin.check_accessibility().await;
    admin.follow("Trusted issuers").await;
    admin.sees_heading("Trusted issuers of acme.test").await;
    admin.sees("No trusted issuers yet.").await;
    admin.check_accessibility().await;

    // A key set that is not one is refused with a sentence, and the form keeps going.
    admin
        .fill(
            "Issuer (the iss of its JWTs)",
            "https://agent.customer.example",
        )
        .await;
    admin.fill("Or its public keys as a JWKS", "{}").await;
    admin.press("Trust this issuer").await;
    admin.sees_heading("That could not be done").await;
    admin.sees("JWKS").await;
    admin.check_accessibility().await;

    let key = ClientKey::generate("page-key");
    let jwks = serde_json::to_string(&JwkSet {
        keys: vec![key.jwk.clone()],
    })
    .expect("jwks");
    admin.open(&p.app.url("/dashboard/settings/team")).await;
    admin.follow("Integrations").await;
    admin.follow("Trusted issuers").await;
    admin
        .fill(
            "Issuer (the iss of its JWTs)",
            "https://agent.customer.example",
        )
        .await;
    admin.fill("Or its public keys as a JWKS", &jwks).await;
    admin
        .fill("Algorithms (ES256, RS256, EdDSA)", "ES256")
        .await;
    admin.press("Trust this issuer").await;
    admin.sees_heading("Trusted issuers of acme.test").await;
    admin.sees("https://agent.customer.example").await;
    admin.does_not_see("No trusted issuers yet.").await;

    admin
        .press_in_row("https://agent.customer.example", "Remove")
        .await;
    admin.sees_heading("Trusted issuers of acme.test").await;
    admin.sees("No trusted issuers yet.").await;
    admin.close().await;
}

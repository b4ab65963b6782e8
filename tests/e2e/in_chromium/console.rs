//! The console as a team's administrator and its members find it, in Chromium: a navigation
//! on every signed-in page with the current page marked, times and audit entries that read
//! as words, every page fitting a phone and passing axe-core, the keyboard alone enough, and
//! the administrator's pages closed to members.

use fantoccini::key::Key;

use crate::chromium::{Chromium, Screen};
use crate::harness::TestDb;
use crate::oidc::{Provider, provider};
use crate::on_both_databases;

use super::{mail, sign_up};

/// What an administrator's navigation offers, in order.
const ADMIN_NAV: [&str; 6] = [
    "Your account",
    "Apps",
    "Team",
    "Applications",
    "Integrations",
    "Audit",
];

/// Every console page of the team acme.test: its path, its heading, and the navigation link
/// marked as the current page there.
const PAGES: [(&str, &str, &str); 8] = [
    ("/dashboard", "You are signed in", "Your account"),
    ("/dashboard/profile", "Your profile", "Your account"),
    ("/dashboard/settings/team", "acme.test", "Team"),
    (
        "/dashboard/settings/team/audit",
        "Audit log of acme.test",
        "Audit",
    ),
    (
        "/dashboard/integrations",
        "Integrations of acme.test",
        "Integrations",
    ),
    (
        "/dashboard/integrations/issuers",
        "Trusted issuers of acme.test",
        "Integrations",
    ),
    (
        "/dashboard/integrations/connections",
        "Identity provider of acme.test",
        "Integrations",
    ),
    (
        "/dashboard/integrations/saml",
        "SAML applications of acme.test",
        "Integrations",
    ),
];

/// The pages a member may not open, and what they see there instead.
const ADMIN_ONLY: [&str; 5] = [
    "/dashboard/settings/team/audit",
    "/dashboard/integrations",
    "/dashboard/integrations/issuers",
    "/dashboard/integrations/connections",
    "/dashboard/integrations/saml",
];

/// Whether `text` holds a time as machines write it (`2026-12-07T18:33`).
fn has_raw_time(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.windows(16).any(|w| {
        let digits = |range: std::ops::Range<usize>| w[range].iter().all(u8::is_ascii_digit);
        digits(0..4)
            && w[4] == b'-'
            && digits(5..7)
            && w[7] == b'-'
            && digits(8..10)
            && w[10] == b'T'
            && digits(11..13)
            && w[13] == b':'
    })
}

/// Checks the page `browser` shows: its heading, its navigation with `current` marked alone,
/// words rather than raw times or JSON, a phone's width, and axe-core.
async fn reads_well(browser: &Chromium, heading: &str, current: &str, expected_nav: &[&str]) {
    browser.sees_heading(heading).await;
    let nav = browser.navigation().await;
    let labels: Vec<&str> = nav.iter().map(|(label, _)| label.as_str()).collect();
    assert_eq!(labels, expected_nav, "the navigation of {heading:?}");
    let marked: Vec<&str> = nav
        .iter()
        .filter(|(_, current)| *current)
        .map(|(label, _)| label.as_str())
        .collect();
    assert_eq!(marked, [current], "the current page of {heading:?}");
    let text = browser.text().await;
    assert!(!has_raw_time(&text), "a raw time on {heading:?}: {text}");
    assert!(
        !text.contains("{\"") && !text.contains("\"}"),
        "raw JSON on {heading:?}: {text}"
    );
    assert!(
        browser.fits_the_width().await,
        "{heading:?} fits the screen"
    );
    browser.check_accessibility().await;
}

/// Registers a SAML application on its page, so the pages have a certificate and events to show.
async fn adds_a_saml_application(admin: &Chromium) {
    admin.follow("Integrations").await;
    admin.follow("SAML applications").await;
    admin.fill("Name people see", "Helpdesk").await;
    admin
        .fill("Entity ID", "https://helpdesk.example/saml")
        .await;
    admin
        .fill(
            "Assertion consumer service (ACS) URLs, one per line",
            "https://helpdesk.example/saml/consume",
        )
        .await;
    admin.press("Add this application").await;
    admin.sees("The application is added.").await;
}

on_both_databases!(an_administrator_finds_every_console_page_on_a_phone);
async fn an_administrator_finds_every_console_page_on_a_phone(db: TestDb) {
    let p = provider(&db, |_| {}).await;
    let phone = Chromium::with_screen("console-phone", Screen::Phone).await;
    sign_up(&phone, &p, "ida@acme.test").await;
    adds_a_saml_application(&phone).await;

    for (path, heading, current) in PAGES {
        phone.open(&p.app.url(path)).await;
        reads_well(&phone, heading, current, &ADMIN_NAV).await;
        phone
            .screenshot(&path.trim_start_matches('/').replace('/', "-"))
            .await;
    }
    // The audit log says what happened in sentences, with readable details.
    phone
        .open(&p.app.url("/dashboard/settings/team/audit"))
        .await;
    phone
        .sees("ida@acme.test added the SAML application Helpdesk")
        .await;
    phone.sees("ida@acme.test created the team acme.test").await;
    // The overview counts the team and links to what needs doing.
    phone.open(&p.app.url("/dashboard")).await;
    phone.sees("acme.test at a glance").await;
    phone.sees("1 member").await;
    phone.sees("ida@acme.test signed in").await;

    // Pages without a session have no navigation.
    let stranger = Chromium::with_screen("console-stranger", Screen::Phone).await;
    stranger.open(&p.app.url("/dashboard/integrations")).await;
    stranger.sees_heading("Sign in").await;
    assert!(stranger.navigation().await.is_empty(), "no navigation");
    stranger.close().await;
    phone.close().await;
}

/// Walks the team page with Tab alone: through the navigation to the join-link form, whose
/// submit Enter presses. Returns the join link it made.
async fn makes_a_join_link_with_the_keyboard(admin: &Chromium, p: &Provider) -> String {
    admin.open(&p.app.url("/dashboard/settings/team")).await;
    admin.sees_heading("acme.test").await;
    admin.tab_to("Skip to content").await;
    admin.tab_to("Integrations").await;
    admin.tab_to("Create a join link").await;
    admin.key(Key::Enter).await;
    admin.sees("Copy it now: it is shown only once.").await;
    admin.value_of("Join link").await
}

on_both_databases!(the_console_works_with_the_keyboard_and_keeps_members_out);
async fn the_console_works_with_the_keyboard_and_keeps_members_out(db: TestDb) {
    let p = provider(&db, |_| {}).await;
    let admin = Chromium::launch("console-desktop").await;
    sign_up(&admin, &p, "ida@acme.test").await;
    let join_link = makes_a_join_link_with_the_keyboard(&admin, &p).await;
    assert!(join_link.contains("/join/"), "{join_link}");
    for (path, name) in [
        ("/dashboard", "dashboard"),
        ("/dashboard/settings/team", "team"),
        ("/dashboard/integrations", "integrations"),
        ("/dashboard/integrations/saml", "integrations-saml"),
        (
            "/dashboard/integrations/connections",
            "integrations-connections",
        ),
        ("/dashboard/integrations/issuers", "integrations-issuers"),
    ] {
        admin.open(&p.app.url(path)).await;
        admin.screenshot(name).await;
    }

    // A member joins with it: their navigation has no administrator's links, and the
    // administrator's pages refuse them.
    let member = Chromium::with_screen("console-member", Screen::Phone).await;
    member.open(&join_link).await;
    super::ask_for_link(&member, "bea@elsewhere.test", "Email me a link to join").await;
    let invitation = mail(&p, "bea@elsewhere.test", 1).await;
    member.open(&invitation.link()).await;
    member.press("Join the team").await;
    reads_well(
        &member,
        "You are signed in",
        "Your account",
        &["Your account", "Apps", "Team"],
    )
    .await;
    member.does_not_see("at a glance").await;
    member.sees("Your apps").await;
    member.screenshot("dashboard").await;
    for path in ADMIN_ONLY {
        member.open(&p.app.url(path)).await;
        member.sees_heading("Only administrators can do this").await;
        member.does_not_see("ida@acme.test").await;
    }
    member.close().await;
    admin.close().await;
}

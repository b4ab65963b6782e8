//! Signing up, signing in with the code on another device, and signing out, in Chromium.

use crate::chromium::{Chromium, Screen};
use crate::harness::TestDb;
use crate::oidc::provider;
use crate::on_both_databases;

use super::{ask_for_link, is_signed_in, mail, mails, sign_in, sign_up};

on_both_databases!(a_person_signs_up_on_a_phone_with_the_mailed_link);
async fn a_person_signs_up_on_a_phone_with_the_mailed_link(db: TestDb) {
    let p = provider(&db, |_| {}).await;
    let phone = Chromium::with_screen("sign-up-on-a-phone", Screen::Phone).await;

    phone.open(&p.app.url("/register")).await;
    phone.sees_heading("Create your account").await;
    assert_eq!(phone.viewport_width().await, 390, "a phone-sized viewport");
    assert!(
        phone.fits_the_width().await,
        "the sign-up page fits a phone"
    );
    phone.check_accessibility().await;
    // A typo gets a sentence, and the address stays in the field to correct.
    phone.fill("Email address", "ann@").await;
    phone.press("Email me a sign-up link").await;
    phone
        .sees("That does not look like an email address.")
        .await;
    assert_eq!(phone.value_of("Email address").await, "ann@");
    phone.check_accessibility().await;

    ask_for_link(&phone, "ann@example.com", "Email me a sign-up link").await;
    assert!(phone.fits_the_width().await, "the sent page fits a phone");
    phone.check_accessibility().await;
    let link = mail(&p, "ann@example.com", 1).await.link();
    phone.open(&link).await;
    phone.sees_heading("Finish creating your account").await;
    phone.sees("ann@example.com").await;
    assert!(
        phone.fits_the_width().await,
        "the confirm page fits a phone"
    );
    phone.check_accessibility().await;
    phone.press("Create my account").await;
    phone.sees_heading("You are signed in").await;
    phone.sees("Signed in as ann@example.com").await;
    assert!(phone.fits_the_width().await, "the dashboard fits a phone");
    phone.check_accessibility().await;
    phone.screenshot("dashboard").await;
    phone.follow("Your profile").await;
    phone.sees_heading("Your profile").await;
    assert!(phone.fits_the_width().await, "the profile fits a phone");
    phone.open(&p.app.url("/dashboard/integrations")).await;
    phone.sees_heading("Integrations of example.com").await;
    assert!(
        phone.fits_the_width().await,
        "the integrations page fits a phone"
    );
    phone.check_accessibility().await;

    // The link worked once: opened again, it says so and offers a new one.
    phone.open(&link).await;
    phone.sees_heading("This link has already been used").await;
    phone.check_accessibility().await;
    phone.follow("Send me a new link").await;
    phone.sees_heading("Sign in").await;
    phone.close().await;
}

on_both_databases!(the_mailed_code_signs_in_the_browser_that_asked);
async fn the_mailed_code_signs_in_the_browser_that_asked(db: TestDb) {
    let p = provider(&db, |_| {}).await;
    let laptop = Chromium::launch("code-laptop").await;
    sign_up(&laptop, &p, "bo@example.com").await;

    // A second browser profile (another device) asks, and the person reads the mail elsewhere.
    let desk = Chromium::launch("code-desk").await;
    desk.open(&p.app.url("/login")).await;
    desk.check_accessibility().await;
    let before = mails(&p, "bo@example.com");
    ask_for_link(&desk, "bo@example.com", "Email me a sign-in link").await;
    let code = mail(&p, "bo@example.com", before + 1).await.code();

    // The code means nothing in a browser that did not ask.
    let other = Chromium::launch("code-other").await;
    other.open(&p.app.url("/login/sent")).await;
    other.fill("Eight-digit code", &code).await;
    other.press("Sign in with the code").await;
    other.sees_heading("No sign-in is waiting here").await;
    other.check_accessibility().await;
    other.close().await;

    let wrong = if code == "00000000" {
        "11111111"
    } else {
        "00000000"
    };
    desk.fill("Eight-digit code", wrong).await;
    desk.press("Sign in with the code").await;
    desk.sees("That code is not right. 4 tries left.").await;
    desk.check_accessibility().await;
    desk.fill("Eight-digit code", &code).await;
    desk.press("Sign in with the code").await;
    desk.sees_heading("You are signed in").await;
    desk.sees("Signed in as bo@example.com").await;
    desk.close().await;
    laptop.close().await;
}

on_both_databases!(signing_out_ends_this_session_and_everywhere_ends_all);
async fn signing_out_ends_this_session_and_everywhere_ends_all(db: TestDb) {
    let p = provider(&db, |_| {}).await;
    let first = Chromium::launch("sign-out-first").await;
    let second = Chromium::launch("sign-out-second").await;
    sign_up(&first, &p, "cy@example.com").await;
    sign_in(&second, &p, "cy@example.com").await;

    first.press("Sign out").await;
    first.sees_heading("Sign in").await;
    assert!(!is_signed_in(&first, &p).await, "signed out here");
    assert!(is_signed_in(&second, &p).await, "still signed in there");

    sign_in(&first, &p, "cy@example.com").await;
    first.press("Sign out everywhere").await;
    first.sees_heading("Sign in").await;
    assert!(!is_signed_in(&first, &p).await, "signed out here");
    assert!(!is_signed_in(&second, &p).await, "and everywhere else");

    // An application's sign-out (RP-initiated logout) asks first, then signs out.
    sign_in(&first, &p, "cy@example.com").await;
    first.open(&p.app.url("/end-session")).await;
    first.sees_heading("Sign out?").await;
    first.check_accessibility().await;
    first.press("Sign out").await;
    first.sees_heading("You are signed out").await;
    first.check_accessibility().await;
    assert!(
        !is_signed_in(&first, &p).await,
        "signed out by the application's request"
    );
    first.close().await;
    second.close().await;
}

//! Two SAML applications a person signs in to through Latchkey, each a pysaml2 service
//! provider behind a small web server of the test's own (its ACS, its logout URL, a page that
//! says whether its own session is live), in real Chromium: a sign-out at one application, or
//! at Latchkey, ends Latchkey's session and then both applications', the browser carried from
//! one to the next with signed LogoutRequests and LogoutResponses. And a deep link: an
//! application's long RelayState arrives at its page after a magic-link sign-in.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Form, Path, RawQuery, State};
use axum::http::{HeaderMap, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::chromium::Chromium;
use crate::harness::{TestDb, cli_json};
use crate::oidc::{Provider, provider};
use crate::on_both_databases;
use crate::saml::ServiceProvider;

use super::{ask_for_link, is_signed_in, mail, mails};

/// An application's web server, in front of its pysaml2 service provider.
struct Site {
    name: &'static str,
    base: String,
    sp: Arc<ServiceProvider>,
    /// Its own sessions, by cookie: the NameID and SessionIndex it was given.
    sessions: Arc<Mutex<HashMap<String, (String, String)>>>,
    /// Cleared, its logout URL shows an error page and never answers Latchkey.
    answers: Arc<AtomicBool>,
}

#[derive(Clone)]
struct SiteState {
    name: &'static str,
    sp: Arc<ServiceProvider>,
    sessions: Arc<Mutex<HashMap<String, (String, String)>>>,
    answers: Arc<AtomicBool>,
}

impl SiteState {
    fn cookie(&self) -> String {
        format!("sp-{}", self.name.to_lowercase())
    }

    fn session_of(&self, headers: &HeaderMap) -> Option<(String, (String, String))> {
        let cookies = headers.get(header::COOKIE)?.to_str().ok()?;
        let name = self.cookie();
        let token = cookies
            .split(';')
            .filter_map(|c| c.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_owned())?;
        let found = self.sessions.lock().expect("lock").get(&token).cloned()?;
        Some((token, found))
    }

    /// `sp.py` on a blocking thread: it runs Python.
    async fn run(&self, args: Vec<String>) -> serde_json::Value {
        let sp = self.sp.clone();
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            sp.run(&args)
        })
        .await
        .expect("sp.py ran")
    }
}

fn page(heading: &str, body: &str) -> Response {
    Html(format!(
        "<!doctype html><html lang=\"en\"><title>{heading}</title><h1>{heading}</h1>{body}</html>"
    ))
    .into_response()
}

/// `POST /acs`: the assertion, checked by pysaml2; then the page RelayState names.
async fn acs(State(site): State<SiteState>, Form(form): Form<HashMap<String, String>>) -> Response {
    let response = form.get("SAMLResponse").cloned().unwrap_or_default();
    let checked = site.run(vec!["acs".into(), response]).await;
    if checked["ok"] != true {
        return page("Sign-in refused", &checked["error"].to_string());
    }
    let token = uuid::Uuid::new_v4().to_string();
    let name_id = checked["name_id"].as_str().unwrap_or_default().to_owned();
    let index = checked["session_index"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    site.sessions
        .lock()
        .expect("lock")
        .insert(token.clone(), (name_id, index));
    let to = form
        .get("RelayState")
        .filter(|r| r.starts_with('/'))
        .cloned()
        .unwrap_or_else(|| "/".to_owned());
    let cookie = format!("{}={token}; Path=/; HttpOnly", site.cookie());
    ([(header::SET_COOKIE, cookie)], Redirect::to(&to)).into_response()
}

/// `GET /`: whether this application's own session is live.
async fn home(State(site): State<SiteState>, headers: HeaderMap) -> Response {
    match site.session_of(&headers) {
        Some((_, (name_id, _))) => page(
            &format!("Signed in to {}", site.name),
            &format!(
                "<p>as {name_id}</p><p><a href=\"/logout\">Sign out of {}</a></p>",
                site.name
            ),
        ),
        None => page(&format!("Not signed in to {}", site.name), ""),
    }
}

/// `GET /logout`: the application ends its session and asks Latchkey to end the rest.
async fn logout(State(site): State<SiteState>, headers: HeaderMap) -> Response {
    let Some((token, (name_id, index))) = site.session_of(&headers) else {
        return page(&format!("Not signed in to {}", site.name), "");
    };
    site.sessions.lock().expect("lock").remove(&token);
    let asked = site
        .run(vec!["logout".into(), "redirect".into(), name_id, index])
        .await;
    Redirect::to(asked["url"].as_str().expect("a URL")).into_response()
}

/// `GET /slo`: Latchkey's LogoutRequest (end the sessions it names, answer it), or its
/// LogoutResponse to this application's own.
async fn slo(State(site): State<SiteState>, RawQuery(query): RawQuery) -> Response {
    let query = query.unwrap_or_default();
    if !site.answers.load(Ordering::SeqCst) {
        return page(
            &format!("{} is unavailable", site.name),
            "<p>Try again later.</p>",
        );
    }
    if query.contains("SAMLRequest=") {
        let asked = site.run(vec!["idp-logout".into(), query]).await;
        if asked["ok"] != true {
            return page("Sign-out request refused", &asked["error"].to_string());
        }
        let name_id = asked["name_id"].as_str().unwrap_or_default();
        let indexes: Vec<&str> = asked["session_indexes"]
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
            .unwrap_or_default();
        site.sessions
            .lock()
            .expect("lock")
            .retain(|_, (n, i)| !(n == name_id && indexes.contains(&i.as_str())));
        return Redirect::to(asked["url"].as_str().expect("a URL")).into_response();
    }
    let checked = site
        .run(vec!["logout-response".into(), "redirect".into(), query])
        .await;
    match checked["ok"] == true && checked["signed"] == true {
        true => page(&format!("Signed out of {}", site.name), ""),
        false => page("Sign-out answer refused", &checked.to_string()),
    }
}

/// `GET /help/…`: a page a deep link leads to.
async fn help(Path(rest): Path<String>) -> Response {
    page(
        "Help article",
        &format!("<p id=\"length\">{} characters</p>", rest.len()),
    )
}

impl Site {
    async fn start(name: &'static str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let sp = Arc::new(ServiceProvider::serving(&name.to_lowercase(), &base));
        let sessions = Arc::default();
        let answers = Arc::new(AtomicBool::new(true));
        let state = SiteState {
            name,
            sp: sp.clone(),
            sessions: Arc::clone(&sessions),
            answers: Arc::clone(&answers),
        };
        let app = axum::Router::new()
            .route("/", get(home))
            .route("/acs", post(acs))
            .route("/logout", get(logout))
            .route("/slo", get(slo))
            .route("/help/{*rest}", get(help))
            .with_state(state);
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            name,
            base,
            sp,
            sessions,
            answers,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Registered with Latchkey for `team`, with its logout URL and signing certificate.
    async fn register(&self, db: &TestDb, p: &Provider, team: &str) {
        let (acs, slo) = (self.url("/acs"), self.url("/slo"));
        let cert = self.sp.cert();
        let added = cli_json(
            db,
            &p.app,
            &[
                "saml-sp",
                "add",
                "--team",
                team,
                "--entity-id",
                &self.sp.entity_id,
                "--acs-url",
                &acs,
                "--slo-url",
                &slo,
                "--signing-cert",
                &cert,
                "--name",
                self.name,
            ],
        );
        assert_eq!(added["entity_id"], self.sp.entity_id.as_str(), "{added}");
        self.sp.trust(db, p).await;
    }

    /// The browser, signed in at Latchkey, signs in to the application from its side.
    async fn signs_in(&self, browser: &Chromium) {
        let asked = self.sp.run(&["login", "redirect", ""]);
        browser.open(asked["url"].as_str().expect("url")).await;
        browser
            .sees_heading(&format!("Signed in to {}", self.name))
            .await;
    }

    async fn is_signed_in(&self, browser: &Chromium) -> bool {
        browser.open(&self.url("/")).await;
        let heading = browser.heading().await;
        assert!(heading.contains(self.name), "{heading}");
        heading.starts_with("Signed in")
    }

    fn live_sessions(&self) -> usize {
        self.sessions.lock().expect("lock").len()
    }
}

/// A team (Ann administers it) with two applications, each with a logout URL.
async fn two_applications(db: &TestDb) -> (Provider, Site, Site) {
    let p = provider(db, |_| {}).await;
    let team = cli_json(
        db,
        &p.app,
        &["team", "create", "--name", "Support", "--admin", ANN],
    )["team_id"]
        .as_str()
        .expect("team_id")
        .to_owned();
    let helpdesk = Site::start("Helpdesk").await;
    let wiki = Site::start("Wiki").await;
    helpdesk.register(db, &p, &team).await;
    wiki.register(db, &p, &team).await;
    (p, helpdesk, wiki)
}

const ANN: &str = "ann@acme.test";

/// Signs Ann in at Latchkey's sign-in page with the mailed link.
async fn ann_signs_in(browser: &Chromium, p: &Provider) {
    let before = mails(p, ANN);
    browser.open(&p.app.url("/login")).await;
    ask_for_link(browser, ANN, "Email me a sign-in link").await;
    let mail = mail(p, ANN, before + 1).await;
    browser.open(&mail.link()).await;
    browser.sees_heading("Sign in").await;
    browser.press("Sign me in").await;
    browser.sees_heading("You are signed in").await;
}

on_both_databases!(signing_out_at_one_application_signs_out_of_the_other_too);
async fn signing_out_at_one_application_signs_out_of_the_other_too(db: TestDb) {
    let (p, helpdesk, wiki) = two_applications(&db).await;
    let browser = Chromium::launch("slo-from-sp").await;
    ann_signs_in(&browser, &p).await;
    helpdesk.signs_in(&browser).await;
    wiki.signs_in(&browser).await;

    // Signing out at the wiki: Latchkey ends its session, asks the helpdesk (which checks
    // the request, ends its session and answers), then answers the wiki.
    browser.open(&wiki.url("/")).await;
    browser.follow("Sign out of Wiki").await;
    browser.sees_heading("Signed out of Wiki").await;
    assert_eq!(helpdesk.live_sessions(), 0, "the helpdesk's session ended");
    assert!(!helpdesk.is_signed_in(&browser).await);
    assert!(!wiki.is_signed_in(&browser).await);
    assert!(
        !is_signed_in(&browser, &p).await,
        "Latchkey's session ended"
    );
    browser.close().await;
}

on_both_databases!(signing_out_at_latchkey_signs_out_of_both_applications);
async fn signing_out_at_latchkey_signs_out_of_both_applications(db: TestDb) {
    let (p, helpdesk, wiki) = two_applications(&db).await;
    let browser = Chromium::launch("slo-from-latchkey").await;
    ann_signs_in(&browser, &p).await;
    helpdesk.signs_in(&browser).await;
    wiki.signs_in(&browser).await;

    browser.open(&p.app.url("/dashboard")).await;
    browser.press("Sign out").await;
    browser.sees_heading("You are signed out").await;
    browser.sees("Also signed out of:").await;
    browser.sees("Helpdesk").await;
    browser.sees("Wiki").await;
    browser.does_not_see("may still be signed in").await;
    browser.check_accessibility().await;
    browser.screenshot("signed-out").await;
    assert!(!helpdesk.is_signed_in(&browser).await);
    assert!(!wiki.is_signed_in(&browser).await);
    assert!(!is_signed_in(&browser, &p).await);
    // Settled: the sign-in page has nothing to point to.
    browser.does_not_see("may not have finished").await;
    browser.close().await;
}

on_both_databases!(an_application_that_never_answers_is_named_on_the_sign_out_page);
async fn an_application_that_never_answers_is_named_on_the_sign_out_page(db: TestDb) {
    let (p, helpdesk, wiki) = two_applications(&db).await;
    let browser = Chromium::launch("slo-no-answer").await;
    ann_signs_in(&browser, &p).await;
    helpdesk.signs_in(&browser).await;
    wiki.signs_in(&browser).await;
    // The helpdesk is down: its logout URL shows an error page and never answers Latchkey.
    helpdesk.answers.store(false, Ordering::SeqCst);

    browser.open(&p.app.url("/dashboard")).await;
    browser.press("Sign out").await;
    // The browser is stuck at the helpdesk; the person comes back to Latchkey.
    browser.sees_heading("Helpdesk is unavailable").await;
    // Back at Latchkey: signed out all the same, and the sign-in page points to the sign-out.
    assert!(
        !is_signed_in(&browser, &p).await,
        "signed out of Latchkey all the same"
    );
    browser.sees("may not have finished").await;
    browser.follow("See which may still be signed in").await;
    browser
        .sees_heading("Signing you out of your applications")
        .await;
    browser.sees("Helpdesk has not answered yet").await;
    browser.press("Go on without it").await;
    browser.sees_heading("You are signed out").await;
    browser
        .sees("These applications may still be signed in:")
        .await;
    browser.sees("Helpdesk: it did not answer").await;
    browser.sees("Also signed out of:").await;
    browser.check_accessibility().await;
    browser.screenshot("no-answer").await;
    assert!(!wiki.is_signed_in(&browser).await);
    assert_eq!(
        helpdesk.live_sessions(),
        1,
        "the helpdesk never heard of it"
    );
    browser.close().await;
}

on_both_databases!(a_deep_link_with_a_long_relay_state_arrives_after_a_magic_link_sign_in);
async fn a_deep_link_with_a_long_relay_state_arrives_after_a_magic_link_sign_in(db: TestDb) {
    let (p, helpdesk, _wiki) = two_applications(&db).await;
    // The page the person was going to, as SPs put it in RelayState: about 1.5 KB.
    let article = format!("/help/{}", "how-to-reset-a-password-".repeat(62));
    assert!((1400..1600).contains(&article.len()), "{}", article.len());
    let browser = Chromium::launch("saml-deep-link").await;
    let asked = helpdesk.sp.run(&["login", "redirect", &article]);
    browser.open(asked["url"].as_str().expect("url")).await;
    // Not signed in: Latchkey's sign-in page, then the link from the mail.
    browser
        .sees_heading("Sign in to continue to Helpdesk")
        .await;
    let before = mails(&p, ANN);
    ask_for_link(&browser, ANN, "Email me a sign-in link").await;
    let mail = mail(&p, ANN, before + 1).await;
    browser.open(&mail.link()).await;
    browser.press("Sign me in").await;
    browser.sees_heading("Help article").await;
    assert_eq!(browser.url().await.path(), article);
    browser.close().await;
}

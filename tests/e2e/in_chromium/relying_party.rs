//! An application signs people in through Latchkey, in Chromium. The application is a small
//! web app of the test's own on the `openidconnect` crate: it starts the code flow with PKCE,
//! and its callback checks `state` and `iss`, exchanges the code and verifies the ID token
//! before it greets the person by the address in it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use fantoccini::key::Key;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, LoginHint, Nonce, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};

use crate::chromium::Chromium;
use crate::harness::TestDb;
use crate::oidc::{Provider, Rp, create_client, provider};
use crate::on_both_databases;

use super::{link_to, mail, mails, sign_up};

/// What the application keeps between sending a person to sign in and their return.
struct Pending {
    verifier: PkceCodeVerifier,
    nonce: Nonce,
}

struct App {
    name: String,
    rp: Rp,
    issuer: String,
    http: openidconnect::reqwest::Client,
    pending: Mutex<HashMap<String, Pending>>,
}

/// The application's address, e.g. `http://127.0.0.1:PORT`.
pub(super) struct Helpdesk {
    pub(super) url: String,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Helpdesk {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Registers "Helpdesk" with the provider and serves it.
async fn helpdesk(db: &TestDb, p: &Provider) -> Helpdesk {
    application(db, p, "Helpdesk", |_| Vec::new()).await
}

/// Registers an application named `name` with the provider, with the further `client create`
/// flags `more` gives for its address, and serves it: `/` starts a sign-in, `/login` is its
/// login-initiation endpoint (OpenID Connect Core §4), `/callback` ends the flow.
pub(super) async fn application(
    db: &TestDb,
    p: &Provider,
    name: &str,
    more: impl FnOnce(&str) -> Vec<String>,
) -> Helpdesk {
    let (listener, url) = listen().await;
    let callback = format!("{url}/callback");
    let more = more(&url);
    let mut args = vec!["--name", name, "--redirect-uri", &callback];
    args.extend(more.iter().map(String::as_str));
    let created = create_client(db, &p.app, &args);
    let client_id = created["client_id"].as_str().expect("client_id");
    let secret = created["client_secret"].as_str().expect("secret");
    serve(p, name, (listener, url), client_id, secret)
}

/// A port for an application, and its address (its callback is `{address}/callback`).
pub(super) async fn listen() -> (tokio::net::TcpListener, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the application");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    (listener, url)
}

/// Serves an application called `name` that signs people in with these credentials.
pub(super) fn serve(
    p: &Provider,
    name: &str,
    (listener, url): (tokio::net::TcpListener, String),
    client_id: &str,
    secret: &str,
) -> Helpdesk {
    let callback = format!("{url}/callback");
    let rp = CoreClient::from_provider_metadata(
        p.metadata.clone(),
        ClientId::new(client_id.into()),
        Some(ClientSecret::new(secret.into())),
    )
    .set_redirect_uri(RedirectUrl::new(callback).expect("redirect URI"));
    let app = Arc::new(App {
        name: name.into(),
        rp,
        issuer: p.app.base_url.clone(),
        http: p.http.clone(),
        pending: Mutex::default(),
    });
    let router = axum::Router::new()
        .route("/", axum::routing::get(start))
        .route("/login", axum::routing::get(initiated))
        .route("/callback", axum::routing::get(callback_page))
        .with_state(app);
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Helpdesk { url, server }
}

/// `GET /`: "Sign in with Latchkey".
async fn start(State(app): State<Arc<App>>) -> Response {
    authorize(&app, None)
}

/// `GET /login?iss=…&login_hint=…`: a sign-in started at the provider (OpenID Connect Core
/// §4). The application checks `iss` is the provider it trusts before it sends anyone there.
async fn initiated(
    State(app): State<Arc<App>>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    if params.get("iss") != Some(&app.issuer) {
        return Html(format!(
            "<!doctype html><html lang=en><title>{0}</title><main><h1>Sign-in failed</h1><p>unknown iss</p></main></html>",
            app.name
        ))
        .into_response();
    }
    authorize(&app, params.get("login_hint").cloned())
}

/// Sends the browser to the provider's authorization endpoint, with PKCE and a nonce.
fn authorize(app: &App, login_hint: Option<String>) -> Response {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = app
        .rp
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("email".into()))
        .set_pkce_challenge(challenge);
    if let Some(hint) = login_hint {
        request = request.set_login_hint(LoginHint::new(hint));
    }
    let (url, state, nonce) = request.url();
    app.pending
        .lock()
        .expect("lock")
        .insert(state.secret().clone(), Pending { verifier, nonce });
    Redirect::to(url.as_str()).into_response()
}

/// `GET /callback`: the end of the flow, checked the way a careful client checks it.
async fn callback_page(
    State(app): State<Arc<App>>,
    Query(params): Query<HashMap<String, String>>,
) -> Html<String> {
    let page = |heading: &str, text: &str| {
        Html(format!(
            "<!doctype html><html lang=en><title>{0}</title><main><h1>{heading}</h1><p>{text}</p></main></html>",
            app.name
        ))
    };
    if let Some(error) = params.get("error") {
        return page("Sign-in failed", error);
    }
    let Some(pending) = params
        .get("state")
        .and_then(|s| app.pending.lock().expect("lock").remove(s))
    else {
        return page("Sign-in failed", "unknown state");
    };
    if params.get("iss") != Some(&app.issuer) {
        return page("Sign-in failed", "wrong or missing iss");
    }
    let Some(code) = params.get("code") else {
        return page("Sign-in failed", "no code");
    };
    let exchanged = match app.rp.exchange_code(AuthorizationCode::new(code.clone())) {
        Ok(request) => {
            request
                .set_pkce_verifier(pending.verifier)
                .request_async(&app.http)
                .await
        }
        Err(e) => return page("Sign-in failed", &e.to_string()),
    };
    let tokens = match exchanged {
        Ok(tokens) => tokens,
        Err(e) => return page("Sign-in failed", &format!("code exchange: {e}")),
    };
    let Some(id_token) = tokens.id_token() else {
        return page("Sign-in failed", "no ID token");
    };
    match id_token.claims(&app.rp.id_token_verifier(), &pending.nonce) {
        Ok(claims) => {
            let email = claims.email().map(|e| e.to_string()).unwrap_or_default();
            page(
                &format!("Welcome to {}", app.name),
                &format!(
                    "Signed in as {email}, subject {}",
                    claims.subject().as_str()
                ),
            )
        }
        Err(e) => page("Sign-in failed", &format!("ID token: {e}")),
    }
}

on_both_databases!(a_person_signs_in_to_an_application_with_the_keyboard_alone);
async fn a_person_signs_in_to_an_application_with_the_keyboard_alone(db: TestDb) {
    let p = provider(&db, |_| {}).await;
    let helpdesk = helpdesk(&db, &p).await;
    let first = Chromium::launch("rp-keyboard-sign-up").await;
    sign_up(&first, &p, "dee@example.com").await;
    first.close().await;

    let browser = Chromium::launch("rp-keyboard").await;
    browser.open(&helpdesk.url).await;
    browser
        .sees_heading("Sign in to continue to Helpdesk")
        .await;
    browser.check_accessibility().await;
    // The address field has the focus on arrival: type, and Enter sends the form.
    assert_eq!(browser.focused().await, "Email address");
    let before = mails(&p, "dee@example.com");
    browser.type_text("dee@example.com").await;
    browser.key(Key::Enter).await;
    browser.sees_heading("Check your email").await;

    browser
        .open(&mail(&p, "dee@example.com", before + 1).await.link())
        .await;
    browser.sees_heading("Sign in").await;
    browser.tab_to("Sign me in").await;
    browser.key(Key::Enter).await;
    browser
        .sees_heading("Helpdesk wants to access your account")
        .await;
    browser.check_accessibility().await;
    browser.tab_to("Allow").await;
    browser.key(Key::Enter).await;
    browser.sees_heading("Welcome to Helpdesk").await;
    browser.sees("Signed in as dee@example.com").await;
    assert!(browser.url().await.as_str().starts_with(&helpdesk.url));

    // Consent is remembered: the next visit goes straight back.
    browser.open(&helpdesk.url).await;
    browser.sees_heading("Welcome to Helpdesk").await;
    browser.close().await;
}

on_both_databases!(a_first_time_person_signs_up_on_the_way_and_lands_in_the_application);
async fn a_first_time_person_signs_up_on_the_way_and_lands_in_the_application(db: TestDb) {
    let p = provider(&db, |_| {}).await;
    let helpdesk = helpdesk(&db, &p).await;
    let browser = Chromium::launch("rp-first-visit").await;
    browser.open(&helpdesk.url).await;
    browser
        .sees_heading("Sign in to continue to Helpdesk")
        .await;
    super::ask_for_link(&browser, "eve@example.com", "Email me a sign-in link").await;

    // No account: the mail says so and its sign-up link keeps the application's request.
    let note = mail(&p, "eve@example.com", 1).await;
    assert!(note.text.contains("there is no account"), "{}", note.text);
    browser.open(&link_to(&note, "/register")).await;
    browser
        .sees_heading("Create your account to continue to Helpdesk")
        .await;
    assert_eq!(browser.value_of("Email address").await, "eve@example.com");
    browser.check_accessibility().await;
    browser.press("Email me a sign-up link").await;
    browser.sees_heading("Check your email").await;

    browser
        .open(&mail(&p, "eve@example.com", 2).await.link())
        .await;
    browser.sees_heading("Finish creating your account").await;
    browser.press("Create my account").await;
    browser
        .sees_heading("Helpdesk wants to access your account")
        .await;
    browser.press("Allow").await;
    browser.sees_heading("Welcome to Helpdesk").await;
    browser.sees("Signed in as eve@example.com").await;
    browser.close().await;
}

on_both_databases!(a_person_who_declines_is_sent_back_with_access_denied);
async fn a_person_who_declines_is_sent_back_with_access_denied(db: TestDb) {
    let p = provider(&db, |_| {}).await;
    let helpdesk = helpdesk(&db, &p).await;
    let browser = Chromium::launch("rp-deny").await;
    sign_up(&browser, &p, "fay@example.com").await;
    browser.open(&helpdesk.url).await;
    browser
        .sees_heading("Helpdesk wants to access your account")
        .await;
    browser.press("Deny").await;
    browser.sees_heading("Sign-in failed").await;
    browser.sees("access_denied").await;
    browser.close().await;
}

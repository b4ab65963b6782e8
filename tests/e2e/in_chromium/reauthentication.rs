//! Re-authentication through a team's own identity provider, in Chromium: an application asks
//! Latchkey for `prompt=login` before a sensitive action, for a person who signs in through
//! their team's provider. The provider, which has a session of its own for them, must show its
//! sign-in page again, and the application gets an ID token with a fresh `auth_time`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use openidconnect::core::{
    CoreAuthPrompt, CoreAuthenticationFlow, CoreClient, CoreProviderMetadata,
};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};
use serde_json::json;

use crate::browser_sign_on::create_team;
use crate::chromium::Chromium;
use crate::harness::{LOCALHOST_ANY_PORT, TestApp, TestDb, config, master_key};
use crate::oidc::{Rp, create_client};
use crate::on_both_databases;
use crate::upstream::{Dns, UpstreamOp, add_connection, connection_cli};

/// The application: it asks for `prompt=login` at `/?prompt=login`, and says who signed in
/// and when (`auth_time`).
struct Console {
    rp: Rp,
    http: openidconnect::reqwest::Client,
    pending: Mutex<HashMap<String, (PkceCodeVerifier, Nonce)>>,
}

/// Serves the application on a port of its own; its URL and the server.
async fn console(
    db: &TestDb,
    app: &TestApp,
    issuer: &str,
) -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the application");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let callback = format!("{url}/callback");
    let created = create_client(db, app, &["--name", "Console", "--redirect-uri", &callback]);
    let http = openidconnect::reqwest::Client::builder()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let metadata = CoreProviderMetadata::discover_async(
        IssuerUrl::new(issuer.to_owned()).expect("issuer"),
        &http,
    )
    .await
    .expect("discovery");
    let rp = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(created["client_id"].as_str().expect("client_id").into()),
        Some(ClientSecret::new(
            created["client_secret"].as_str().expect("secret").into(),
        )),
    )
    .set_redirect_uri(RedirectUrl::new(callback).expect("redirect URI"));
    let state = Arc::new(Console {
        rp,
        http,
        pending: Mutex::default(),
    });
    let router = axum::Router::new()
        .route("/", axum::routing::get(start))
        .route("/callback", axum::routing::get(callback_page))
        .with_state(state);
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (url, server)
}

/// `GET /[?prompt=login]`: off to Latchkey.
async fn start(
    State(console): State<Arc<Console>>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = console
        .rp
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("email".into()))
        .set_pkce_challenge(challenge);
    if params.get("prompt").map(String::as_str) == Some("login") {
        request = request.add_prompt(CoreAuthPrompt::Login);
    }
    let (url, state, nonce) = request.url();
    console
        .pending
        .lock()
        .expect("lock")
        .insert(state.secret().clone(), (verifier, nonce));
    Redirect::to(url.as_str()).into_response()
}

/// `GET /callback`: the code exchanged, the ID token verified, who and when shown.
async fn callback_page(
    State(console): State<Arc<Console>>,
    Query(params): Query<HashMap<String, String>>,
) -> Html<String> {
    let page = |heading: &str, text: &str| {
        Html(format!(
            "<!doctype html><html lang=en><title>Console</title><main><h1>{heading}</h1><p>{text}</p></main></html>"
        ))
    };
    let pending = params
        .get("state")
        .and_then(|s| console.pending.lock().expect("lock").remove(s));
    let (Some((verifier, nonce)), Some(code)) = (pending, params.get("code")) else {
        return page("Sign-in failed", &format!("{params:?}"));
    };
    let exchanged = console
        .rp
        .exchange_code(AuthorizationCode::new(code.clone()))
        .expect("token endpoint")
        .set_pkce_verifier(verifier)
        .request_async(&console.http)
        .await;
    let Ok(tokens) = exchanged else {
        return page("Sign-in failed", "code exchange");
    };
    let verified = tokens
        .id_token()
        .map(|token| token.claims(&console.rp.id_token_verifier(), &nonce));
    match verified {
        Some(Ok(claims)) => page(
            "Welcome to Console",
            &format!(
                "Signed in as {}; auth_time={};",
                claims.email().map(|e| e.to_string()).unwrap_or_default(),
                claims
                    .auth_time()
                    .map(|t| t.timestamp())
                    .unwrap_or_default()
            ),
        ),
        _ => page("Sign-in failed", "ID token"),
    }
}

/// The `auth_time` the application's page shows.
async fn shown_auth_time(browser: &Chromium) -> i64 {
    let text = browser.text().await;
    let start = text.find("auth_time=").expect("auth_time shown") + "auth_time=".len();
    text[start..]
        .split(';')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("a number")
}

on_both_databases!(prompt_login_asks_the_teams_provider_for_the_credential_again);
async fn prompt_login_asks_the_teams_provider_for_the_credential_again(db: TestDb) {
    let key = master_key();
    let mut settings = config(&db, &key);
    settings.issuer = LOCALHOST_ANY_PORT.to_owned();
    let app = TestApp::spawn(settings).await;
    let latchkey = format!("http://localhost:{}", app.addr.port());
    let team = create_team(&db, &app, "admin@acme.example");
    let op = UpstreamOp::start(json!({
        "ann@acme.example": { "sub": "okta-ann", "email": "ann@acme.example", "email_verified": true, "name": "Ann Acme" },
    }))
    .await;
    // The provider asks for a password on a page of its own, as a real one does.
    op.control("interactive?on=1").await;
    let added = add_connection(&db, &app, &key, &op, &team, &["--domain", "acme.example"]).await;
    let connection = added["connection_id"].as_str().expect("id");
    let dns = Dns::start(&[(
        "_latchkey-challenge.acme.example",
        added["domains"][0]["txt_value"].as_str().expect("txt"),
    )]);
    let args = [
        "connection",
        "verify-domain",
        "--connection",
        connection,
        "--domain",
        "acme.example",
    ];
    assert!(
        connection_cli(&db, &app, &key, Some(&dns), &args)
            .status
            .success()
    );
    let (console_url, server) = console(&db, &app, &latchkey).await;

    // Ann signs in to the application through her team's provider, once.
    let browser = Chromium::launch("reauthentication").await;
    browser.open(&console_url).await;
    browser.fill("Email address", "ann@acme.example").await;
    browser.press("Email me a sign-in link").await;
    browser.press("Continue to Acme Okta").await;
    browser.sees_heading("Acme IdP: sign in").await;
    browser.fill("Password", "correct horse").await;
    browser.press("Sign in").await;
    browser
        .sees_heading("Console wants to access your account")
        .await;
    browser.press("Allow").await;
    browser.sees_heading("Welcome to Console").await;
    browser.sees("Signed in as ann@acme.example").await;
    assert_eq!(op.logins().await, 1);

    // Before a sensitive action, the application asks for prompt=login. Latchkey's session
    // and the provider's own are both there; the provider must ask for the credential again.
    let asked_at = chrono::Utc::now().timestamp();
    browser.open(&format!("{console_url}/?prompt=login")).await;
    browser.fill("Email address", "ann@acme.example").await;
    browser.press("Email me a sign-in link").await;
    browser.press("Continue to Acme Okta").await;
    browser.sees_heading("Acme IdP: sign in").await;
    browser.screenshot("provider-asks-again").await;
    let sent = op.authorizations().await;
    assert_eq!(sent.last().expect("sent")["prompt"], "login", "{sent:?}");
    browser.fill("Password", "correct horse").await;
    browser.press("Sign in").await;
    browser.sees_heading("Welcome to Console").await;
    assert_eq!(op.logins().await, 2, "a fresh interaction at the provider");
    let auth_time = shown_auth_time(&browser).await;
    assert!(
        auth_time >= asked_at - 1,
        "auth_time {auth_time} before {asked_at}"
    );
    browser.screenshot("fresh-sign-in").await;
    browser.close().await;
    server.abort();
}

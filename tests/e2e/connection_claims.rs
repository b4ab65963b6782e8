//! Signing in through a team's provider as real providers answer by default: Okta's thin ID
//! tokens (the claims at UserInfo), an application's re-authentication passed on to the
//! provider and its `auth_time` checked, and Google's hosted domain (`hd`). node-oidc-provider
//! as the provider, the `openidconnect` crate as Latchkey's relying party.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::browser::{Browser, Page};
use crate::browser_sign_on::create_team;
use crate::harness::{TestDb, cli_json, stderr, write_file};
use crate::oidc::{
    Provider, REDIRECT_URI, Request, Rp, allow, authorize_scopes, callback, create_client, provider,
};
use crate::on_both_databases;
use crate::upstream::{
    Dns, UpstreamOp, add_connection, borrowed, connection_cli, sign_in_upstream, start_fields,
    to_callback,
};
use openidconnect::{AuthorizationCode, TokenResponse};

fn accounts() -> Value {
    json!({
        "ann@acme.example": { "sub": "okta-ann", "email": "ann@acme.example", "email_verified": true, "name": "Ann Acme", "hd": "acme.example" },
        "bob@acme.example": { "sub": "okta-bob", "email": "bob@acme.example", "email_verified": true, "name": "Bob Acme" },
        "eve@evil.example": { "sub": "google-eve", "email": "eve@evil.example", "email_verified": true, "name": "Eve", "hd": "evil.example" },
    })
}

/// A connection for `team` at `op` with `extra` flags, its domain acme.example proven (the
/// DNS that proves it is returned: it must live while the test does).
async fn proven_connection(
    db: &TestDb,
    p: &Provider,
    key: &str,
    op: &UpstreamOp,
    team: &str,
    extra: &[&str],
) -> (String, Dns) {
    let mut flags = vec!["--domain", "acme.example"];
    flags.extend_from_slice(extra);
    let added = add_connection(db, &p.app, key, op, team, &flags).await;
    let connection = added["connection_id"].as_str().expect("id").to_owned();
    let record = added["domains"][0]["txt_value"].as_str().expect("txt");
    let dns = Dns::start(&[("_latchkey-challenge.acme.example", record)]);
    let args = [
        "connection",
        "verify-domain",
        "--connection",
        &connection,
        "--domain",
        "acme.example",
    ];
    let proven = connection_cli(db, &p.app, key, Some(&dns), &args);
    assert!(proven.status.success(), "{}", stderr(&proven));
    (connection, dns)
}

/// A Latchkey provider whose CLI can seal connection secrets (its master key returned).
async fn latchkey(db: &TestDb) -> (Provider, String) {
    let mut key = String::new();
    let p = provider(db, |cfg| key = cfg.keys.master_key.clone()).await;
    (p, key)
}

/// A refusal page with its status and words, and no session in the browser.
async fn refused(browser: &Browser, page: &Page, status: StatusCode, words: &str) {
    assert_eq!(page.status, status, "{words}: {}", page.body);
    assert!(page.body.contains(words), "{words:?} in {}", page.body);
    assert_eq!(browser.signed_in_as().await, None, "{words}: signed in");
}

/// An application's authorization request from `browser`, through the login page, the team's
/// provider (as `email`) and consent where asked, to the page that answers at the end.
async fn through_latchkey(
    browser: &Browser,
    op: &UpstreamOp,
    request: &Request,
    email: &str,
) -> Page {
    let first = browser.get(&request.url).await;
    let login = first.location().expect("to the login page").to_owned();
    assert!(login.starts_with("/login"), "{login}");
    let pending = browser.get(&login).await.field("request");
    let realm = browser
        .submit(&login, "/login", &[("email", email), ("request", &pending)])
        .await;
    assert!(
        realm.body.contains("Continue to Acme Okta"),
        "{}",
        realm.body
    );
    let back = sign_in_upstream(browser, op, &borrowed(&start_fields(&realm))).await;
    match back.location() {
        Some(next) if next.starts_with("/authorize/continue") => {
            let next = next.to_owned();
            finish_authorization(browser, browser.get(&next).await).await
        }
        _ => back,
    }
}

/// The consent page allowed where it is shown; the redirect to the application.
async fn finish_authorization(browser: &Browser, page: Page) -> Page {
    if page.status == StatusCode::OK && page.body.contains("wants to access your account") {
        return allow(browser, &page).await;
    }
    page
}

/// The ID token's claims Latchkey gives the application for a code.
async fn id_token_claims(
    p: &Provider,
    rp: &Rp,
    request: Request,
    answer: &Page,
) -> openidconnect::core::CoreIdTokenClaims {
    let params = callback(answer);
    let tokens = rp
        .exchange_code(AuthorizationCode::new(params["code"].clone()))
        .expect("token endpoint")
        .set_pkce_verifier(request.verifier)
        .request_async(&p.http)
        .await
        .expect("code exchange");
    tokens
        .id_token()
        .expect("id token")
        .claims(&rp.id_token_verifier(), &request.nonce)
        .expect("verifies")
        .clone()
}

async fn thin_id_tokens_sign_in_with_the_default_settings(db: TestDb) {
    let (p, key) = latchkey(&db).await;
    let team = create_team(&db, &p.app, "admin@acme.example");
    let op = UpstreamOp::start_thin(accounts()).await;
    // `connection add` with nothing but the defaults: the email claim, verified.
    let (_connection, _dns) = proven_connection(&db, &p, &key, &op, &team, &[]).await;

    // The ID token names only `sub`; UserInfo says the address is verified, and the name.
    let browser = Browser::new(&p.app.base_url);
    let realm = browser
        .submit("/login", "/login", &[("email", "ann@acme.example")])
        .await;
    let back = sign_in_upstream(&browser, &op, &borrowed(&start_fields(&realm))).await;
    assert_eq!(back.location(), Some("/dashboard"), "{}", back.body);
    assert_eq!(browser.signed_in_as().await.as_deref(), Some("Ann Acme"));
    let members = cli_json(&db, &p.app, &["team", "members", "--team", &team]);
    let ann = members
        .as_array()
        .expect("members")
        .iter()
        .find(|m| m["email"] == "ann@acme.example")
        .expect("ann is a member")
        .clone();
    assert_ne!(
        ann["unclaimed"], true,
        "her own account, vouched for at a proven domain: {ann}"
    );

    // UserInfo that answers for another person than the ID token names: refused.
    op.control("userinfo-sub?sub=okta-bob").await;
    let other = Browser::new(&p.app.base_url);
    let realm = other
        .submit("/login", "/login", &[("email", "ann@acme.example")])
        .await;
    let page = sign_in_upstream(&other, &op, &borrowed(&start_fields(&realm))).await;
    refused(
        &other,
        &page,
        StatusCode::BAD_GATEWAY,
        "UserInfo answer speaks of another person",
    )
    .await;
}
on_both_databases!(thin_id_tokens_sign_in_with_the_default_settings);

/// An application's `prompt=login` and `max_age` reach the team's provider, whose answer must
/// show a sign-in that fresh; `prompt=none` never leaves Latchkey.
async fn re_authentication_is_asked_of_the_provider_and_checked(db: TestDb) {
    let (p, key) = latchkey(&db).await;
    let team = create_team(&db, &p.app, "admin@acme.example");
    let op = UpstreamOp::start(accounts()).await;
    let (_connection, _dns) = proven_connection(&db, &p, &key, &op, &team, &[]).await;
    let client = create_client(
        &db,
        &p.app,
        &["--name", "Helpdesk", "--redirect-uri", REDIRECT_URI],
    );
    let rp = p.rp(
        client["client_id"].as_str().expect("id"),
        client["client_secret"].as_str(),
    );

    // Signed in once, through the provider, which asked for the credential.
    let browser = Browser::new(&p.app.base_url);
    let request = authorize_scopes(&rp, &["email"], &[]);
    let answer = through_latchkey(&browser, &op, &request, "ann@acme.example").await;
    id_token_claims(&p, &rp, request, &answer).await;
    assert_eq!(op.logins().await, 1);

    // prompt=login: Latchkey's session is not enough, nor is the provider's own.
    let asked_at = chrono::Utc::now().timestamp();
    let request = authorize_scopes(&rp, &["email"], &[("prompt", "login")]);
    let answer = through_latchkey(&browser, &op, &request, "ann@acme.example").await;
    let sent = op.authorizations().await;
    assert_eq!(sent.last().expect("sent")["prompt"], "login", "{sent:?}");
    assert_eq!(
        op.logins().await,
        2,
        "the provider asked for the credential again"
    );
    let claims = id_token_claims(&p, &rp, request, &answer).await;
    let auth_time = claims.auth_time().expect("auth_time").timestamp();
    assert!(auth_time >= asked_at - 1, "fresh: {auth_time} < {asked_at}");

    // A provider that answers prompt=login from its own session, or says nothing of when:
    // no fresh sign-in, no session.
    for (misbehaviour, words) in [
        ("auth-time?ago=3600", "answered with an older one"),
        ("tamper?mode=no-auth-time", "did not say when you signed in"),
    ] {
        let browser = Browser::new(&p.app.base_url);
        let request = authorize_scopes(&rp, &["email"], &[("prompt", "login")]);
        op.control(misbehaviour).await;
        let first = browser.get(&request.url).await;
        let login = first.location().expect("to the login page").to_owned();
        let pending = browser.get(&login).await.field("request");
        let realm = browser
            .submit(
                &login,
                "/login",
                &[("email", "ann@acme.example"), ("request", &pending)],
            )
            .await;
        let back = to_callback(&browser, &op, &borrowed(&start_fields(&realm))).await;
        let page = browser.get(&back).await;
        refused(&browser, &page, StatusCode::FORBIDDEN, words).await;
    }

    // max_age: passed on as it is; a provider's sign-in older than that is refused.
    let browser = Browser::new(&p.app.base_url);
    let request = authorize_scopes(&rp, &["email"], &[("max_age", "300")]);
    op.control("auth-time?ago=3600").await;
    let first = browser.get(&request.url).await;
    let login = first.location().expect("to the login page").to_owned();
    let pending = browser.get(&login).await.field("request");
    let realm = browser
        .submit(
            &login,
            "/login",
            &[("email", "ann@acme.example"), ("request", &pending)],
        )
        .await;
    let page = sign_in_upstream(&browser, &op, &borrowed(&start_fields(&realm))).await;
    let sent = op.authorizations().await;
    assert_eq!(sent.last().expect("sent")["max_age"], "300", "{sent:?}");
    assert_eq!(
        sent.last().expect("sent")["prompt"],
        Value::Null,
        "{sent:?}"
    );
    refused(
        &browser,
        &page,
        StatusCode::FORBIDDEN,
        "answered with an older one",
    )
    .await;
    // A recent one will do, and the application hears when it was.
    let request = authorize_scopes(&rp, &["email"], &[("max_age", "300")]);
    let answer = through_latchkey(&browser, &op, &request, "ann@acme.example").await;
    let claims = id_token_claims(&p, &rp, request, &answer).await;
    let age = chrono::Utc::now().timestamp() - claims.auth_time().expect("auth_time").timestamp();
    assert!(age <= 300, "auth_time {age} s ago");

    // prompt=none with nobody signed in: login_required, and nothing went upstream.
    let before = op.authorizations().await.len();
    let browser = Browser::new(&p.app.base_url);
    let request = authorize_scopes(&rp, &["email"], &[("prompt", "none")]);
    let page = browser.get(&request.url).await;
    assert_eq!(callback(&page)["error"], "login_required");
    assert_eq!(
        op.authorizations().await.len(),
        before,
        "nothing sent upstream"
    );
}
on_both_databases!(re_authentication_is_asked_of_the_provider_and_checked);

/// `--hosted-domain`: Google's `hd` is sent, and required in the ID token.
async fn a_hosted_domain_admits_only_its_workspace_accounts(db: TestDb) {
    let (p, key) = latchkey(&db).await;
    let team = create_team(&db, &p.app, "admin@acme.example");
    let op = UpstreamOp::start(accounts()).await;
    let added = add_connection(
        &db,
        &p.app,
        &key,
        &op,
        &team,
        &["--hosted-domain", "ACME.example"],
    )
    .await;
    assert_eq!(added["hosted_domain"], "acme.example", "{added}");
    let connection = added["connection_id"].as_str().expect("id").to_owned();

    for (account, words) in [
        ("bob@acme.example", "its hosted domain is missing"),
        ("eve@evil.example", "its hosted domain is evil.example"),
    ] {
        op.control(&format!("login-as?account={account}")).await;
        let browser = Browser::new(&p.app.base_url);
        let page = sign_in_upstream(&browser, &op, &[("connection", &connection)]).await;
        refused(&browser, &page, StatusCode::FORBIDDEN, words).await;
    }
    let sent = op.authorizations().await;
    assert_eq!(sent.last().expect("sent")["hd"], "acme.example", "{sent:?}");

    op.control("login-as?account=ann@acme.example").await;
    let browser = Browser::new(&p.app.base_url);
    let back = sign_in_upstream(&browser, &op, &[("connection", &connection)]).await;
    assert_eq!(back.location(), Some("/dashboard"), "{}", back.body);

    // Not a domain name: said at once.
    let secret = write_file(db.dir.path(), "google-secret", "google-secret-0123456789");
    let bad = connection_cli(
        &db,
        &p.app,
        &key,
        None,
        &[
            "connection",
            "add",
            "--team",
            &team,
            "--name",
            "Google",
            "--issuer",
            &op.issuer,
            "--client-id",
            "google",
            "--client-secret-file",
            secret.to_str().expect("path"),
            "--hosted-domain",
            "not a domain",
        ],
    );
    assert!(!bad.status.success());
    assert!(
        stderr(&bad).contains("hosted domain \"not a domain\" is not a domain name"),
        "{}",
        stderr(&bad)
    );
}
on_both_databases!(a_hosted_domain_admits_only_its_workspace_accounts);

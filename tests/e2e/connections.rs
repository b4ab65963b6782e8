//! Signing in with a team's own OpenID provider: node-oidc-provider as the provider, the
//! `openidconnect` crate as a relying party of Latchkey's, dnsmasq for the domain proof.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::browser::Browser;
use crate::browser_sign_on::create_team;
use crate::harness::{TestDb, cli_json, stderr};
use crate::oidc::{REDIRECT_URI, allow, authorize_scopes, callback, create_client, provider};
use crate::on_both_databases;
use crate::upstream::{
    Dns, UpstreamOp, add_connection, connection_cli, continue_link, sign_in_upstream, start_link,
};
use openidconnect::{AuthorizationCode, TokenResponse};

fn accounts() -> Value {
    json!({
        "ann@acme.example": { "sub": "okta-ann", "email": "ann@acme.example", "email_verified": true, "name": "Ann Acme" },
        "bob@elsewhere.example": { "sub": "okta-bob", "email": "bob@elsewhere.example", "email_verified": true, "name": "Bob Else" },
        "cy@acme.example": { "sub": "okta-cy", "email": "cy@acme.example", "email_verified": false },
        "nomail": { "sub": "okta-nomail", "name": "No Mail" },
    })
}

fn members(db: &TestDb, app: &crate::harness::TestApp, team: &str) -> Vec<Value> {
    cli_json(db, app, &["team", "members", "--team", team])
        .as_array()
        .expect("members")
        .clone()
}

async fn a_team_signs_in_with_its_own_provider(db: TestDb) {
    let mut key = String::new();
    let p = provider(&db, |cfg| key = cfg.keys.master_key.clone()).await;
    let team = create_team(&db, &p.app, "admin@acme.example");
    let op = UpstreamOp::start(&p.app, accounts()).await;
    let added = add_connection(
        &db,
        &p.app,
        &key,
        &op,
        &team,
        &["--domain", "acme.example,beta.example"],
    );
    assert_eq!(added["redirect_uri"], p.app.url("/sso/oidc/callback"));
    assert_eq!(added["issuer"], op.issuer);
    assert!(
        added.get("client_secret").is_none(),
        "the secret is never shown"
    );
    let connection = added["connection_id"].as_str().expect("id").to_owned();
    let acme = &added["domains"][0];
    assert_eq!(acme["domain"], "acme.example");
    assert_eq!(acme["proven"], false);
    assert_eq!(acme["txt_name"], "_latchkey-challenge.acme.example");

    // Until the domain is proven, its addresses still get a link by email.
    let browser = Browser::new(&p.app.base_url);
    let asked = browser.request_login("ann@acme.example").await;
    assert_eq!(asked.location(), Some("/login/sent"), "{}", asked.body);

    // Proof: the TXT record for acme.example is published, beta.example's is not.
    let record = acme["txt_value"].as_str().expect("txt");
    let dns = Dns::start(&[("_latchkey-challenge.acme.example", record)]);
    let verify = |domain: &str| {
        connection_cli(
            &db,
            &p.app,
            &key,
            Some(&dns),
            &[
                "connection",
                "verify-domain",
                "--connection",
                &connection,
                "--domain",
                domain,
            ],
        )
    };
    let unproven = verify("beta.example");
    assert!(!unproven.status.success());
    assert!(
        stderr(&unproven).contains("no TXT record _latchkey-challenge.beta.example"),
        "{}",
        stderr(&unproven)
    );
    let not_its = verify("gamma.example");
    assert!(
        stderr(&not_its).contains("not one of this connection's domains"),
        "{}",
        stderr(&not_its)
    );
    let proven = verify("acme.example");
    assert!(proven.status.success(), "{}", stderr(&proven));

    // A relying party of Latchkey's: the person is sent to the team's provider from /login,
    // receives no mail, and comes back signed in, the authorization request continued.
    let client = create_client(
        &db,
        &p.app,
        &["--name", "Helpdesk", "--redirect-uri", REDIRECT_URI],
    );
    let rp = p.rp(
        client["client_id"].as_str().expect("id"),
        client["client_secret"].as_str(),
    );
    let request = authorize_scopes(&rp, &["email", "profile"], &[]);
    let browser = Browser::new(&p.app.base_url);
    let first = browser.get(&request.url).await;
    let login = first.location().expect("to the login page").to_owned();
    let form = browser.get(&login).await;
    let pending = form.field("request");
    let mails_before = p.smtp.mails_to("ann@acme.example").len();
    let realm = browser
        .submit(
            &login,
            "/login",
            &[("email", "ANN@acme.example"), ("request", &pending)],
        )
        .await;
    assert_eq!(realm.status, StatusCode::OK, "{}", realm.body);
    assert!(
        realm.body.contains("Continue to Acme Okta"),
        "{}",
        realm.body
    );
    assert!(
        realm.body.contains("<strong>acme.example</strong>"),
        "the page says why"
    );
    let back = sign_in_upstream(&browser, &op, &continue_link(&realm)).await;
    let next = back.location().expect("continues").to_owned();
    assert!(next.starts_with("/authorize/continue?request="), "{next}");
    let consent = browser.get(&next).await;
    let params = callback(&allow(&browser, &consent).await);
    assert_eq!(params["state"], *request.state.secret());
    let tokens = rp
        .exchange_code(AuthorizationCode::new(params["code"].clone()))
        .expect("token endpoint")
        .set_pkce_verifier(request.verifier)
        .request_async(&p.http)
        .await
        .expect("code exchange");
    let claims = tokens
        .id_token()
        .expect("id token")
        .claims(&rp.id_token_verifier(), &request.nonce)
        .expect("verifies");
    assert_eq!(claims.email().map(|e| e.as_str()), Some("ann@acme.example"));
    assert_eq!(
        claims.name().and_then(|n| n.get(None)).map(|n| n.as_str()),
        Some("Ann Acme"),
        "the provider's name"
    );
    let ann = claims.subject().as_str().to_owned();
    assert_ne!(ann, "okta-ann", "Latchkey's own id, not the provider's");
    assert_eq!(
        p.smtp.mails_to("ann@acme.example").len(),
        mails_before,
        "no link is mailed to an address of a proven domain"
    );

    // Provisioned into the team, audited with how.
    let listed = members(&db, &p.app, &team);
    let member = listed
        .iter()
        .find(|m| m["email"] == "ann@acme.example")
        .expect("ann is a member");
    assert_eq!(member["user_id"], ann.as_str());
    assert_eq!(member["role"], "member");
    let audit = cli_json(&db, &p.app, &["audit", "--team", &team]);
    let signed_in = audit
        .as_array()
        .expect("events")
        .iter()
        .find(|e| e["action"] == "member.signed_in")
        .expect("audited");
    assert_eq!(signed_in["details"]["via"], "oidc");
    assert_eq!(signed_in["details"]["connection"], connection.as_str());

    // Returning: the same account, no second member.
    let again = Browser::new(&p.app.base_url);
    let realm = again
        .submit("/login", "/login", &[("email", "ann@acme.example")])
        .await;
    let back = sign_in_upstream(&again, &op, &continue_link(&realm)).await;
    assert_eq!(back.location(), Some("/dashboard"), "{}", back.body);
    assert_eq!(again.signed_in_as().await.as_deref(), Some("Ann Acme"));
    assert_eq!(members(&db, &p.app, &team).len(), listed.len());

    // Listed, and removed: its sign-ins stop.
    let listed = cli_json(&db, &p.app, &["connection", "list", "--team", &team]);
    assert_eq!(listed[0]["domains"][0]["proven"], true);
    let removed = connection_cli(
        &db,
        &p.app,
        &key,
        None,
        &["connection", "remove", "--connection", &connection],
    );
    assert!(removed.status.success(), "{}", stderr(&removed));
    let after = Browser::new(&p.app.base_url);
    let asked = after.request_login("ann@acme.example").await;
    assert_eq!(
        asked.location(),
        Some("/login/sent"),
        "a link again, once the connection is gone"
    );
}
on_both_databases!(a_team_signs_in_with_its_own_provider);

/// Without a proven domain, the provider's word about an address makes an identity of the
/// team's alone: it never becomes the account that owns the address.
async fn an_unproven_address_never_reaches_its_owners_account(db: TestDb) {
    let mut key = String::new();
    let p = provider(&db, |cfg| key = cfg.keys.master_key.clone()).await;
    let team = create_team(&db, &p.app, "admin@acme.example");
    let op = UpstreamOp::start(&p.app, accounts()).await;
    add_connection(&db, &p.app, &key, &op, &team, &[]);

    // Bob has an account of his own, made with a link by email.
    let own = Browser::new(&p.app.base_url);
    own.register("bob@elsewhere.example").await;
    let mail = p.smtp.mail_to("bob@elsewhere.example").await;
    own.follow_link(&mail.link()).await;
    assert_eq!(
        own.signed_in_as().await.as_deref(),
        Some("bob@elsewhere.example")
    );

    // The team's provider vouches for bob@elsewhere.example, from the team's login page.
    let browser = Browser::new(&p.app.base_url);
    let page = browser.get(&format!("/login?team={team}")).await;
    assert!(
        page.body.contains("Sign in with Acme Okta"),
        "{}",
        page.body
    );
    op.control("login-as?account=bob@elsewhere.example").await;
    let back = sign_in_upstream(&browser, &op, &start_link(&page)).await;
    assert_eq!(back.location(), Some("/dashboard"), "{}", back.body);
    let dashboard = browser.get("/dashboard").await;
    assert!(
        dashboard.body.contains(
            "through your team's identity provider (this session works in that team only)"
        ),
        "{}",
        dashboard.body
    );
    let listed = members(&db, &p.app, &team);
    let identity = listed
        .iter()
        .find(|m| m["email"] == "bob@elsewhere.example")
        .expect("an identity of the team's");
    assert_eq!(identity["unclaimed"], true, "{identity}");
    // Bob's own account is not in the team, and his own sign-in is untouched.
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_eq!(
        own.signed_in_as().await.as_deref(),
        Some("bob@elsewhere.example")
    );
    // The join page offers the provider too.
    let link = cli_json(
        &db,
        &p.app,
        &[
            "join-link",
            "create",
            "--team",
            &team,
            "--created-by",
            "admin@acme.example",
        ],
    );
    let join = browser.get(link["url"].as_str().expect("url")).await;
    assert!(
        join.body.contains("Sign in with Acme Okta"),
        "{}",
        join.body
    );
}
on_both_databases!(an_unproven_address_never_reaches_its_owners_account);

/// Each way a sign-in through the provider can fail: a page that names it, and no session.
async fn a_refused_or_broken_upstream_sign_in_starts_no_session(db: TestDb) {
    let mut key = String::new();
    let p = provider(&db, |cfg| {
        key = cfg.keys.master_key.clone();
        cfg.federation.upstream_timeout = latchkey_server::duration::Ttl::from_secs(2);
    })
    .await;
    let team = create_team(&db, &p.app, "admin@acme.example");
    let mut op = UpstreamOp::start(&p.app, accounts()).await;
    let added = add_connection(&db, &p.app, &key, &op, &team, &["--domain", "acme.example"]);
    let connection = added["connection_id"].as_str().expect("id").to_owned();
    let start = format!("/sso/oidc/start?connection={connection}&login_hint=ann%40acme.example");

    let refused = |page: &crate::browser::Page, status: StatusCode, words: &str| {
        assert_eq!(
            page.status,
            status,
            "{words}: {:?} {}",
            page.location(),
            page.body
        );
        assert!(page.body.contains(words), "{words:?} in {}", page.body);
    };

    // The person (or the provider) says no.
    let browser = Browser::new(&p.app.base_url);
    op.control("deny").await;
    let page = sign_in_upstream(&browser, &op, &start).await;
    refused(&page, StatusCode::FORBIDDEN, "access_denied");
    assert_eq!(browser.signed_in_as().await, None);

    // An ID token for another audience, and one signed by a key the provider does not publish.
    for (mode, words) in [("audience", "audiences"), ("key", "could not be trusted")] {
        op.control(&format!("tamper?mode={mode}")).await;
        let page = sign_in_upstream(&browser, &op, &start).await;
        refused(&page, StatusCode::BAD_GATEWAY, words);
        assert_eq!(browser.signed_in_as().await, None, "{mode}");
    }

    // Addresses the connection may not sign in.
    for (account, words) in [
        ("cy@acme.example", "is not verified"),
        ("nomail", "no usable email address"),
        ("bob@elsewhere.example", "outside the domains"),
    ] {
        op.control(&format!("login-as?account={account}")).await;
        let start = format!("/sso/oidc/start?connection={connection}");
        // A browser of its own: no session at the provider as someone else.
        let browser = Browser::new(&p.app.base_url);
        let page = sign_in_upstream(&browser, &op, &start).await;
        refused(&page, StatusCode::FORBIDDEN, words);
        assert!(
            page.body.contains("href=\"/login\""),
            "the magic link is offered"
        );
        assert_eq!(browser.signed_in_as().await, None, "{account}");
    }

    // The answer belongs to the browser that started: another browser cannot finish it, and
    // the first still can, once.
    let sent = browser.get(&start).await;
    let to_provider = sent.location().expect("to the provider").to_owned();
    let back = crate::upstream::through_provider(&browser, &op, &to_provider).await;
    let stranger = Browser::new(&p.app.base_url);
    refused(
        &stranger.get(&back).await,
        StatusCode::BAD_REQUEST,
        "does not belong to this browser",
    );
    assert_eq!(stranger.signed_in_as().await, None);
    let done = browser.get(&back).await;
    assert_eq!(done.location(), Some("/dashboard"), "{}", done.body);
    let again = browser.get(&back).await;
    refused(&again, StatusCode::BAD_REQUEST, "used already");

    // A mix-up: an answer naming another issuer (RFC 9207).
    let fresh = Browser::new(&p.app.base_url);
    let sent = fresh.get(&start).await;
    let to_provider = sent.location().expect("to the provider").to_owned();
    let back = crate::upstream::through_provider(&fresh, &op, &to_provider).await;
    let mixed = back.replace(
        &format!("iss={}", urlencode(&op.issuer)),
        "iss=https%3A%2F%2Fevil.example",
    );
    assert_ne!(mixed, back, "the provider sends iss: {back}");
    refused(
        &fresh.get(&mixed).await,
        StatusCode::BAD_GATEWAY,
        "another issuer",
    );
    assert_eq!(fresh.signed_in_as().await, None);

    // Slow: past the upstream timeout the sign-in fails, and the route still answers.
    op.control("slow?ms=4000").await;
    let page = sign_in_upstream(&fresh, &op, &start).await;
    refused(&page, StatusCode::BAD_GATEWAY, "did not answer");
    op.control("slow?ms=0").await;

    // Removed while the person is at the provider.
    let sent = fresh.get(&start).await;
    let to_provider = sent.location().expect("to the provider").to_owned();
    let removed = connection_cli(
        &db,
        &p.app,
        &key,
        None,
        &["connection", "remove", "--connection", &connection],
    );
    assert!(removed.status.success(), "{}", stderr(&removed));
    let back = crate::upstream::through_provider(&fresh, &op, &to_provider).await;
    refused(
        &fresh.get(&back).await,
        StatusCode::NOT_FOUND,
        "no longer exists",
    );
    assert_eq!(fresh.signed_in_as().await, None);

    // Down: the provider is gone.
    let added = add_connection(&db, &p.app, &key, &op, &team, &[]);
    let start = format!(
        "/sso/oidc/start?connection={}",
        added["connection_id"].as_str().expect("id")
    );
    op.stop();
    refused(
        &fresh.get(&start).await,
        StatusCode::BAD_GATEWAY,
        "did not answer",
    );
    assert_eq!(fresh.signed_in_as().await, None);
    // And a provider that is not there cannot be added.
    let secret = crate::harness::write_file(db.dir.path(), "s", "x");
    let refused_add = connection_cli(
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
            "Gone",
            "--issuer",
            &op.issuer,
            "--client-id",
            "x",
            "--client-secret-file",
            secret.to_str().expect("path"),
        ],
    );
    assert!(!refused_add.status.success());
    assert!(
        stderr(&refused_add).contains("discovery document"),
        "{}",
        stderr(&refused_add)
    );
}
on_both_databases!(a_refused_or_broken_upstream_sign_in_starts_no_session);

fn urlencode(raw: &str) -> String {
    url::form_urlencoded::byte_serialize(raw.as_bytes()).collect()
}

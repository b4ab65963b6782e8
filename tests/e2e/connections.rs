//! Signing in with a team's own OpenID provider: node-oidc-provider as the provider, the
//! `openidconnect` crate as a relying party of Latchkey's, dnsmasq for the domain proof.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::browser::{Browser, Page};
use crate::browser_sign_on::create_team;
use crate::harness::{TestApp, TestDb, cli_json, stderr, write_file};
use crate::oidc::{REDIRECT_URI, allow, authorize_scopes, callback, create_client, provider};
use crate::on_both_databases;
use crate::upstream::{
    Dns, UpstreamOp, add_connection, borrowed, connection_cli, sign_in_upstream, start,
    start_fields, through_provider, to_callback,
};
use openidconnect::{AuthorizationCode, TokenResponse};

fn accounts() -> Value {
    json!({
        "ann@acme.example": { "sub": "okta-ann", "email": "ann@acme.example", "email_verified": true, "name": "Ann Acme" },
        "bob@elsewhere.example": { "sub": "okta-bob", "email": "bob@elsewhere.example", "email_verified": true, "name": "Bob Else" },
        "cy@acme.example": { "sub": "okta-cy", "email": "cy@acme.example", "email_verified": false },
        "nomail": { "sub": "okta-nomail", "name": "No Mail" },
        // Ann again, the provider now giving her an address at another domain.
        "ann-at-beta": { "sub": "okta-ann", "email": "ann@beta.example", "email_verified": true },
    })
}

fn members(db: &TestDb, app: &TestApp, team: &str) -> Vec<Value> {
    cli_json(db, app, &["team", "members", "--team", team])
        .as_array()
        .expect("members")
        .clone()
}

/// `connection remove`, which must succeed.
fn remove_connection(db: &TestDb, app: &TestApp, key: &str, connection: &str) {
    let removed = connection_cli(
        db,
        app,
        key,
        None,
        &["connection", "remove", "--connection", connection],
    );
    assert!(removed.status.success(), "{}", stderr(&removed));
}

/// A refusal page: its status and words, and no session in the browser.
async fn refused(browser: &Browser, page: &Page, status: StatusCode, words: &str) {
    assert_eq!(
        page.status,
        status,
        "{words}: {:?} {}",
        page.location(),
        page.body
    );
    assert!(page.body.contains(words), "{words:?} in {}", page.body);
    assert_eq!(browser.signed_in_as().await, None, "{words}: signed in");
}

async fn a_team_signs_in_with_its_own_provider(db: TestDb) {
    let mut key = String::new();
    // The DNS the provider asks: answers nothing until the record is published.
    let dns = Dns::start(&[]);
    let dns_port = dns.port;
    let p = provider(&db, |cfg| {
        key = cfg.keys.master_key.clone();
        cfg.federation.dns_server = format!("127.0.0.1:{dns_port}");
    })
    .await;
    let team = create_team(&db, &p.app, "admin@acme.example");
    let op = UpstreamOp::start(accounts()).await;
    let added = add_connection(
        &db,
        &p.app,
        &key,
        &op,
        &team,
        &["--domain", "acme.example,beta.example"],
    )
    .await;
    let connection = added["connection_id"].as_str().expect("id").to_owned();
    assert_eq!(
        added["redirect_uri"],
        p.app.url(&format!("/sso/oidc/callback/{connection}")),
        "a redirect URI of its own"
    );
    assert_eq!(added["issuer"], op.issuer);
    assert!(
        added.get("client_secret").is_none(),
        "the secret is never shown"
    );
    let acme = &added["domains"][0];
    assert_eq!(acme["domain"], "acme.example");
    assert_eq!(acme["proven"], false);
    assert_eq!(acme["txt_name"], "_latchkey-challenge.acme.example");

    // Until the domain is proven, its addresses still get a link by email.
    let browser = Browser::new(&p.app.base_url);
    let asked = browser.request_login("ann@acme.example").await;
    assert_eq!(asked.location(), Some("/login/sent"), "{}", asked.body);

    // Proof: the TXT record for acme.example is published, beta.example's is not.
    let acme_record = acme["txt_value"].as_str().expect("txt").to_owned();
    let beta_record = added["domains"][1]["txt_value"]
        .as_str()
        .expect("txt")
        .to_owned();
    let acme_txt = ("_latchkey-challenge.acme.example", acme_record.as_str());
    let beta_txt = ("_latchkey-challenge.beta.example", beta_record.as_str());
    drop(dns);
    let dns = Dns::start_on(dns_port, &[acme_txt]);
    let verify = |dns: &Dns, domain: &str| {
        connection_cli(
            &db,
            &p.app,
            &key,
            Some(dns),
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
    let unproven = verify(&dns, "beta.example");
    assert!(!unproven.status.success());
    assert!(
        stderr(&unproven).contains("no TXT record _latchkey-challenge.beta.example"),
        "{}",
        stderr(&unproven)
    );
    let not_its = verify(&dns, "gamma.example");
    assert!(
        stderr(&not_its).contains("not one of this connection's domains"),
        "{}",
        stderr(&not_its)
    );
    let proven = verify(&dns, "acme.example");
    assert!(proven.status.success(), "{}", stderr(&proven));
    drop(dns);
    let dns = Dns::start_on(dns_port, &[acme_txt, beta_txt]);
    let proven = verify(&dns, "beta.example");
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
    let fields = start_fields(&realm);
    let back = sign_in_upstream(&browser, &op, &borrowed(&fields)).await;
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
    let back = sign_in_upstream(&again, &op, &borrowed(&start_fields(&realm))).await;
    assert_eq!(back.location(), Some("/dashboard"), "{}", back.body);
    assert_eq!(again.signed_in_as().await.as_deref(), Some("Ann Acme"));
    assert_eq!(members(&db, &p.app, &team).len(), listed.len());
    let listed = cli_json(&db, &p.app, &["connection", "list", "--team", &team]);
    assert_eq!(listed[0]["domains"][0]["proven"], true);

    // DNS fails for a day: a failed lookup proves nothing either way, and the proofs stay.
    drop(dns);
    let connections = p.app.running.state.connections();
    let recheck = || async {
        connections
            .recheck_domains(p.app.clock.now())
            .await
            .expect("recheck")
    };
    assert_eq!(recheck().await, 0, "checked less than a day ago");
    p.app.clock.advance(chrono::TimeDelta::hours(25));
    assert_eq!(recheck().await, 0, "a failed lookup ends nothing at once");

    // acme.example's record is taken down: the daily check ends its proof, the sessions the
    // connection opened, and the provider's say over the accounts of the domain, whatever
    // address it gives them now.
    let dns = Dns::start_on(dns_port, &[beta_txt]);
    p.app.clock.advance(chrono::TimeDelta::hours(25));
    assert_eq!(
        recheck().await,
        1,
        "acme.example's proof ends; beta.example's stays"
    );
    assert_eq!(again.signed_in_as().await, None, "its sessions end with it");
    let listed = cli_json(&db, &p.app, &["connection", "list", "--team", &team]);
    assert_eq!(listed[0]["domains"][0]["proven"], false, "{listed}");
    assert_eq!(listed[0]["domains"][1]["proven"], true, "{listed}");
    let after = Browser::new(&p.app.base_url);
    let asked = after.request_login("ann@acme.example").await;
    assert_eq!(asked.location(), Some("/login/sent"), "a link again");
    for account in ["ann@acme.example", "ann-at-beta"] {
        op.control(&format!("login-as?account={account}")).await;
        let browser = Browser::new(&p.app.base_url);
        let page = sign_in_upstream(&browser, &op, &[("connection", &connection)]).await;
        refused(&browser, &page, StatusCode::FORBIDDEN, "no longer proven").await;
    }
    let audit = cli_json(
        &db,
        &p.app,
        &[
            "audit",
            "--team",
            &team,
            "--action",
            "connection.domain_unproven",
        ],
    );
    assert_eq!(audit.as_array().map(Vec::len), Some(1), "{audit}");
    assert_eq!(audit[0]["details"]["why"], "the TXT record is gone");

    // A week in which no lookup finds beta.example's record ends its proof too.
    drop(dns);
    p.app.clock.advance(chrono::TimeDelta::days(8));
    assert_eq!(recheck().await, 1, "unconfirmed for a week");
    let listed = cli_json(&db, &p.app, &["connection", "list", "--team", &team]);
    assert_eq!(listed[0]["domains"][0]["proven"], false);
    assert_eq!(listed[0]["domains"][1]["proven"], false);

    // Removed: its sign-ins stop.
    remove_connection(&db, &p.app, &key, &connection);
    let sent = start(&after, &[("connection", &connection)]).await;
    refused(&after, &sent, StatusCode::NOT_FOUND, "no longer exists").await;
}
on_both_databases!(a_team_signs_in_with_its_own_provider);

/// Without a proven domain, the provider's word about an address makes an identity of the
/// team's alone: it never becomes the account that owns the address. And a team's pages act
/// on that team's connections only, for its administrators only.
async fn an_unproven_address_never_reaches_its_owners_account(db: TestDb) {
    let mut key = String::new();
    let p = provider(&db, |cfg| key = cfg.keys.master_key.clone()).await;
    let team = create_team(&db, &p.app, "admin@acme.example");
    let op = UpstreamOp::start(accounts()).await;
    let added = add_connection(&db, &p.app, &key, &op, &team, &[]).await;
    let connection = added["connection_id"].as_str().expect("id").to_owned();

    // Bob has an account of his own, made with a link by email, and a team of his own.
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
    let back = sign_in_upstream(&browser, &op, &borrowed(&start_fields(&page))).await;
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

    // Bob administers his own team (sign-up made one). He cannot act on the other team's
    // connection, whichever team he names; nor can the identity, a plain member.
    let page = own.get("/dashboard/integrations/connections").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let bobs_team = page.field("team");
    let csrf = page.field("csrf");
    for team_named in [bobs_team.as_str(), team.as_str()] {
        let tried = own
            .post(
                "/dashboard/integrations/connections/remove",
                &[("team", team_named), ("id", &connection), ("csrf", &csrf)],
            )
            .await;
        assert!(
            tried.status == StatusCode::NOT_FOUND || tried.status == StatusCode::FORBIDDEN,
            "{team_named}: {} {}",
            tried.status,
            tried.body
        );
    }
    let csrf = browser.get("/dashboard").await.field("csrf");
    let tried = browser
        .post(
            "/dashboard/integrations/connections/remove",
            &[("team", &team), ("id", &connection), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(tried.status, StatusCode::FORBIDDEN, "{}", tried.body);
    assert_eq!(
        cli_json(&db, &p.app, &["connection", "list", "--team", &team])
            .as_array()
            .map(Vec::len),
        Some(1),
        "still there"
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
    let mut op = UpstreamOp::start(accounts()).await;
    let added = add_connection(&db, &p.app, &key, &op, &team, &["--domain", "acme.example"]).await;
    let connection = added["connection_id"].as_str().expect("id").to_owned();
    let ann = [
        ("connection", connection.as_str()),
        ("login_hint", "ann@acme.example"),
    ];
    let fresh = || Browser::new(&p.app.base_url);

    // A start without the page's form token is refused: another site cannot start one.
    let browser = fresh();
    let forged = browser.post("/sso/oidc/start", &ann).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN, "{}", forged.body);

    // The person (or the provider) says no.
    op.control("deny").await;
    let page = sign_in_upstream(&browser, &op, &ann).await;
    refused(
        &browser,
        &page,
        StatusCode::FORBIDDEN,
        "refused: access_denied",
    )
    .await;
    assert!(
        !page.body.contains("The person declined"),
        "the provider's own words stay in the log"
    );

    // An ID token for another audience, and one signed by a key the provider does not publish.
    for (mode, words) in [
        ("audience", "Invalid audiences"),
        ("key", "Signature verification failed"),
    ] {
        let browser = fresh();
        op.control(&format!("tamper?mode={mode}")).await;
        let page = sign_in_upstream(&browser, &op, &ann).await;
        refused(&browser, &page, StatusCode::BAD_GATEWAY, words).await;
    }

    // Addresses the connection may not sign in.
    for (account, words) in [
        ("cy@acme.example", "is not verified"),
        ("nomail", "no usable email address"),
        ("bob@elsewhere.example", "outside the domains"),
    ] {
        op.control(&format!("login-as?account={account}")).await;
        // A browser of its own: no session at the provider as someone else.
        let browser = fresh();
        let page = sign_in_upstream(&browser, &op, &[("connection", &connection)]).await;
        refused(&browser, &page, StatusCode::FORBIDDEN, words).await;
        assert!(
            page.body.contains("href=\"/login\""),
            "the magic link is offered"
        );
    }

    // The answer belongs to the browser that started: another browser cannot finish it,
    // whether it has no sign-in of its own or one of its own waiting; the first still can,
    // once.
    let browser = fresh();
    let back = to_callback(&browser, &op, &ann).await;
    let stranger = fresh();
    let answer = stranger.get(&back).await;
    refused(
        &stranger,
        &answer,
        StatusCode::BAD_REQUEST,
        "does not belong to this browser",
    )
    .await;
    let other = fresh();
    let _ = start(&other, &ann).await;
    let answer = other.get(&back).await;
    refused(
        &other,
        &answer,
        StatusCode::BAD_REQUEST,
        "does not belong to this browser",
    )
    .await;
    let done = browser.get(&back).await;
    assert_eq!(done.location(), Some("/dashboard"), "{}", done.body);
    let again = browser.get(&back).await;
    assert_eq!(
        again.status,
        StatusCode::BAD_REQUEST,
        "used already: {}",
        again.body
    );

    // A mix-up: an answer for one connection arriving at another's redirect URI (as when a
    // provider sends the person on to another, or says nothing of who it is) is refused
    // before the code goes anywhere; and so is one naming another issuer (RFC 9207).
    let second = add_connection(&db, &p.app, &key, &op, &team, &[]).await;
    let second = second["connection_id"].as_str().expect("id").to_owned();
    let browser = fresh();
    let back = to_callback(&browser, &op, &ann).await;
    let elsewhere = back.replace(&connection, &second);
    assert_ne!(elsewhere, back);
    let exchanges = op.token_calls().await;
    let answer = browser.get(&elsewhere).await;
    refused(
        &browser,
        &answer,
        StatusCode::BAD_REQUEST,
        "from another identity provider",
    )
    .await;
    assert_eq!(op.token_calls().await, exchanges, "the code went nowhere");
    // The sign-in is spent: its own answer, with the browser's cookie as it was, is refused.
    let state = url::Url::parse(&back)
        .expect("url")
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .expect("state");
    let replayed = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .get(&back)
        .header("cookie", format!("latchkey-upstream={state}"))
        .send()
        .await
        .expect("replay");
    assert_eq!(replayed.status(), StatusCode::BAD_REQUEST);
    assert!(
        replayed
            .text()
            .await
            .expect("body")
            .contains("used already")
    );
    assert_eq!(op.token_calls().await, exchanges);
    let browser = fresh();
    let back = to_callback(&browser, &op, &ann).await;
    let issuer: String = url::form_urlencoded::byte_serialize(op.issuer.as_bytes()).collect();
    let mixed = back.replace(&format!("iss={issuer}"), "iss=https%3A%2F%2Fevil.example");
    assert_ne!(mixed, back, "the provider sends iss: {back}");
    let answer = browser.get(&mixed).await;
    refused(&browser, &answer, StatusCode::BAD_GATEWAY, "another issuer").await;

    // Slow: past the upstream timeout the sign-in fails, and the route still answers.
    op.control("slow?ms=4000").await;
    let browser = fresh();
    let page = sign_in_upstream(&browser, &op, &ann).await;
    refused(&browser, &page, StatusCode::BAD_GATEWAY, "did not answer").await;
    op.control("slow?ms=0").await;

    // Removed while the person is at the provider.
    let browser = fresh();
    let sent = start(&browser, &ann).await;
    let to_provider = sent.location().expect("to the provider").to_owned();
    remove_connection(&db, &p.app, &key, &connection);
    let back = through_provider(&browser, &op, &to_provider).await;
    let answer = browser.get(&back).await;
    refused(&browser, &answer, StatusCode::NOT_FOUND, "no longer exists").await;

    // Down: the provider is gone. Its document and keys are kept from the sign-ins before
    // (they need not be fetched for every sign-in), so the browser is still sent there, where
    // nobody answers, and nothing is signed in.
    op.stop();
    let browser = fresh();
    let sent = start(&browser, &[("connection", &second)]).await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.body);
    let to_provider = sent.location().expect("to the provider");
    assert!(to_provider.starts_with(&op.issuer), "{to_provider}");
    assert_eq!(browser.signed_in_as().await, None);
    // And a provider that is not there cannot be added.
    let secret = write_file(db.dir.path(), "s", "x");
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

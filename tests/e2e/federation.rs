//! Inbound JWT federation (RFC 7523 §2.1): an integration signs its own assertion about its
//! user; Latchkey checks it against the keys its team registered, links or provisions the
//! member, and answers with its own access token. Every refusal says which check failed.

use std::sync::{Arc, Mutex};

use chrono::Utc;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::client_auth::{ClientKey, serve_jwks};
use crate::harness::{TestApp, TestDb, latchkey, stderr};
use crate::oidc::{cli_env, create_client, jwt_payload, provider};
use crate::on_both_databases;
use crate::teams::{act, join, register};

const ISSUER: &str = "https://agent.customer.example";
const GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

fn cli(db: &TestDb, app: &TestApp, args: &[&str]) -> Value {
    crate::harness::cli_json(db, app, args)
}

fn claims(aud: &str, jti: &str, adjust: impl FnOnce(&mut Value)) -> Value {
    let now = Utc::now().timestamp();
    let mut claims = json!({
        "iss": ISSUER,
        "sub": "ext-42",
        "aud": aud,
        "iat": now,
        "exp": now + 120,
        "jti": jti,
        "email": "pat@customer.example",
    });
    adjust(&mut claims);
    claims
}

async fn exchange(app: &TestApp, client: (&str, &str), assertion: &str) -> (StatusCode, Value) {
    let response = app
        .http
        .post(app.url("/token"))
        .basic_auth(client.0, Some(client.1))
        .form(&[
            ("grant_type", GRANT),
            ("assertion", assertion),
            ("scope", "api"),
        ])
        .send()
        .await
        .expect("token");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn refused(app: &TestApp, client: (&str, &str), assertion: &str, why: &str) {
    let (status, body) = exchange(app, client, assertion).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{why}: {body}");
    assert_eq!(body["error"], "invalid_grant", "{why}: {body}");
    let description = body["error_description"].as_str().unwrap_or_default();
    assert!(
        description.contains(why),
        "wanted {why:?}, got {description:?}"
    );
}

on_both_databases!(integrations_exchange_their_own_jwts_for_tokens);
async fn integrations_exchange_their_own_jwts_for_tokens(db: TestDb) {
    let p = provider(&db, |_| {}).await;
    let app = &p.app;
    let team = cli(
        &db,
        app,
        &[
            "team",
            "create",
            "--name",
            "Customer",
            "--admin",
            "admin@customer.example",
        ],
    )["team_id"]
        .as_str()
        .expect("team_id")
        .to_owned();
    let key = ClientKey::generate("k1");
    let published = Arc::new(Mutex::new(JwkSet {
        keys: vec![key.jwk.clone()],
    }));
    let jwks_uri = serve_jwks(published.clone()).await;
    let added = cli(
        &db,
        app,
        &[
            "issuer",
            "add",
            "--team",
            &team,
            "--issuer",
            ISSUER,
            "--jwks-uri",
            &jwks_uri,
        ],
    );
    assert_eq!(added["max_lifetime_secs"], 300);
    // A key set URL that answers nothing is said at once, not at the first assertion.
    let dead = latchkey(
        db.dir.path(),
        &cli_env(&db, app),
        &[
            "issuer",
            "add",
            "--team",
            &team,
            "--issuer",
            "https://dead.example",
            "--jwks-uri",
            "http://127.0.0.1:9/jwks.json",
        ],
    );
    assert!(!dead.status.success());
    assert!(
        stderr(&dead).contains("could not be fetched"),
        "{}",
        stderr(&dead)
    );
    let agent = create_client(
        &db,
        app,
        &[
            "--name",
            "Agent",
            "--team",
            &team,
            "--grant-type",
            GRANT,
            "--scope",
            "api",
        ],
    );
    let client = (
        agent["client_id"].as_str().expect("id").to_owned(),
        agent["client_secret"].as_str().expect("secret").to_owned(),
    );
    let client = (client.0.as_str(), client.1.as_str());
    let token_endpoint = app.url("/token");
    let discovery: Value = app
        .get("/.well-known/openid-configuration")
        .await
        .json()
        .await
        .expect("json");
    assert!(
        discovery["grant_types_supported"]
            .as_array()
            .expect("grants")
            .contains(&json!(GRANT))
    );

    // Accepted: the member is provisioned in the issuer's team, once, and recorded.
    let (status, body) = exchange(
        app,
        client,
        &key.assertion(Algorithm::ES256, &claims(&token_endpoint, "a1", |_| {})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.get("refresh_token").is_none() && body.get("id_token").is_none());
    let access = jwt_payload(body["access_token"].as_str().expect("access"));
    assert_eq!(access["team_id"], team);
    assert_eq!(access["scope"], "api");
    let members = cli(&db, app, &["team", "members", "--team", &team]);
    let pat = members
        .as_array()
        .expect("array")
        .iter()
        .find(|m| m["email"] == "pat@customer.example")
        .expect("provisioned");
    assert_eq!(pat["role"], "member");
    assert_eq!(pat["external_id"], "ext-42");
    assert_eq!(pat["issuer"], ISSUER);
    assert_eq!(access["sub"], pat["user_id"]);
    // The issuer as audience works too, and the same external user is the same member.
    let (status, again) = exchange(
        app,
        client,
        &key.assertion(Algorithm::ES256, &claims(&app.base_url, "a2", |_| {})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(
        jwt_payload(again["access_token"].as_str().expect("access"))["sub"],
        pat["user_id"]
    );
    let provisioned = cli(
        &db,
        app,
        &["audit", "--team", &team, "--action", "member.provisioned"],
    );
    assert_eq!(
        provisioned.as_array().expect("array").len(),
        1,
        "{provisioned}"
    );

    // Refused, each with the check that failed.
    let sign = |c: Value| key.assertion(Algorithm::ES256, &c);
    let now = Utc::now().timestamp();
    refused(
        app,
        client,
        &sign(claims(&token_endpoint, "a1", |_| {})),
        "replay",
    )
    .await;
    refused(
        app,
        client,
        &sign(claims(&token_endpoint, "b1", |c| {
            c["iat"] = json!(now - 600);
            c["exp"] = json!(now - 300);
        })),
        "expired",
    )
    .await;
    refused(
        app,
        client,
        &sign(claims(&token_endpoint, "b2", |c| {
            c["nbf"] = json!(now + 300)
        })),
        "not valid yet",
    )
    .await;
    refused(
        app,
        client,
        &sign(claims(&token_endpoint, "b3", |c| {
            c["exp"] = json!(now + 3600)
        })),
        "at most 300",
    )
    .await;
    refused(
        app,
        client,
        &sign(claims("https://elsewhere.example/token", "b4", |_| {})),
        "aud must be",
    )
    .await;
    refused(
        app,
        client,
        &sign(claims(&token_endpoint, "b5", |c| {
            c["iss"] = json!("https://stranger.example")
        })),
        "not trusted",
    )
    .await;
    refused(
        app,
        client,
        &sign(claims(&token_endpoint, "b6", |c| {
            c.as_object_mut().expect("object").remove("jti");
        })),
        "jti",
    )
    .await;
    refused(
        app,
        client,
        &ClientKey::generate("unknown")
            .assertion(Algorithm::ES256, &claims(&token_endpoint, "b7", |_| {})),
        "no key for this kid",
    )
    .await;
    // Another key under the published kid: a forgery.
    let forger = ClientKey::generate("k1");
    refused(
        app,
        client,
        &forger.assertion(Algorithm::ES256, &claims(&token_endpoint, "b8", |_| {})),
        "signature",
    )
    .await;
    let hmac = jsonwebtoken::encode(
        &Header {
            kid: Some("k1".into()),
            ..Header::new(Algorithm::HS256)
        },
        &claims(&token_endpoint, "b9", |_| {}),
        &EncodingKey::from_secret(&serde_json::to_vec(&key.jwk).expect("jwk")),
    )
    .expect("hmac");
    refused(app, client, &hmac, "not allowed").await;
    let unsigned = {
        use base64::Engine;
        let b64 = |v: &Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(serde_json::to_vec(v).expect("json"))
        };
        format!(
            "{}.{}.",
            b64(&json!({"alg": "none", "kid": "k1"})),
            b64(&claims(&token_endpoint, "b10", |_| {}))
        )
    };
    refused(app, client, &unsigned, "not a signed JWT").await;
    // Times chosen so `exp - iat` wraps around: refused (not a 500, nor an assertion that
    // stays usable for millennia).
    refused(
        app,
        client,
        &sign(claims(&token_endpoint, "b11", |c| {
            c["iat"] = json!(-9_223_372_036_854_775_000_i64);
            c["exp"] = json!(8_210_266_876_000_i64);
        })),
        "exp must come after iat",
    )
    .await;

    // An integration cannot claim an address that has an account it may not speak for: the
    // team's administrator, or someone outside the team.
    refused(
        app,
        client,
        &sign(claims(&token_endpoint, "e1", |c| {
            c["sub"] = json!("ext-admin");
            c["email"] = json!("admin@customer.example");
        })),
        "cannot sign in the person it names",
    )
    .await;
    // A jwt-bearer client must be bound to a team.
    let output = latchkey(
        db.dir.path(),
        &cli_env(&db, app),
        &[
            "client",
            "create",
            "--name",
            "Loose",
            "--grant-type",
            GRANT,
            "--scope",
            "api",
        ],
    );
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("needs --team"),
        "{}",
        stderr(&output)
    );

    // A client not allowed the grant.
    let other = create_client(
        &db,
        app,
        &[
            "--name",
            "Reports",
            "--grant-type",
            "client_credentials",
            "--scope",
            "api",
        ],
    );
    let (status, body) = exchange(
        app,
        (
            other["client_id"].as_str().expect("id"),
            other["client_secret"].as_str().expect("secret"),
        ),
        &sign(claims(&token_endpoint, "c1", |_| {})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "unauthorized_client");

    // Another team that trusts the same issuer keeps replay records of its own: a jti spent
    // at one team cannot be burnt for the other.
    let second = cli(
        &db,
        app,
        &[
            "team",
            "create",
            "--name",
            "Second",
            "--admin",
            "admin@second.example",
        ],
    )["team_id"]
        .as_str()
        .expect("team_id")
        .to_owned();
    cli(
        &db,
        app,
        &[
            "issuer",
            "add",
            "--team",
            &second,
            "--issuer",
            ISSUER,
            "--jwks-uri",
            &jwks_uri,
        ],
    );
    let agent2 = create_client(
        &db,
        app,
        &[
            "--name",
            "Agent 2",
            "--team",
            &second,
            "--grant-type",
            GRANT,
            "--scope",
            "api",
        ],
    );
    let (status, body) = exchange(
        app,
        (
            agent2["client_id"].as_str().expect("id"),
            agent2["client_secret"].as_str().expect("secret"),
        ),
        &sign(claims(&token_endpoint, "a1", |c| {
            c["email"] = json!("sam@second.example")
        })),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the other team's a1 is not this one's: {body}"
    );

    // The integration rotates its key: the new one is picked up without a restart once the
    // cached set is stale (a minute at least, so a kid flood cannot make us fetch).
    let rotated = ClientKey::generate("k2");
    *published.lock().expect("lock") = JwkSet {
        keys: vec![rotated.jwk.clone()],
    };
    p.app.clock.advance(chrono::TimeDelta::seconds(61));
    let (status, body) = exchange(
        app,
        client,
        &rotated.assertion(Algorithm::ES256, &claims(&token_endpoint, "d1", |_| {})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    p.app.stop().await;
}

/// M1: an assertion never creates or claims a person's account. Whatever address it names,
/// the answer is the same, and what it makes is an identity of the integration's team alone:
/// the person who owns the address later signs up as themselves, in a team of their own, and
/// the integration's team never hears of them.
async fn an_integration_cannot_claim_a_person_or_tell_who_has_an_account(db: TestDb) {
    let p = provider(&db, |_| {}).await;
    let app = &p.app;
    let team_of = |name: &str, admin: &str| {
        cli(
            &db,
            app,
            &["team", "create", "--name", name, "--admin", admin],
        )["team_id"]
            .as_str()
            .expect("team_id")
            .to_owned()
    };
    let mallory = team_of("Mallory Ltd", "mallory@attacker.example");
    let other = team_of("Other", "outsider@other.example");
    let key = ClientKey::generate("k1");
    let jwks_uri = serve_jwks(Arc::new(Mutex::new(JwkSet {
        keys: vec![key.jwk.clone()],
    })))
    .await;
    cli(
        &db,
        app,
        &[
            "issuer",
            "add",
            "--team",
            &mallory,
            "--issuer",
            ISSUER,
            "--jwks-uri",
            &jwks_uri,
        ],
    );
    let created = create_client(
        &db,
        app,
        &[
            "--name",
            "Int",
            "--team",
            &mallory,
            "--grant-type",
            GRANT,
            "--scope",
            "api",
        ],
    );
    let client = (
        created["client_id"].as_str().expect("id"),
        created["client_secret"].as_str().expect("secret"),
    );
    let token_endpoint = app.url("/token");
    let assert_for = |jti: &str, sub: &str, email: &str| {
        key.assertion(
            Algorithm::ES256,
            &claims(&token_endpoint, jti, |c| {
                c["sub"] = json!(sub);
                c["email"] = json!(email);
            }),
        )
    };

    // A new address and one with an account elsewhere get the same answer.
    let named = key.assertion(
        Algorithm::ES256,
        &claims(&token_endpoint, "j1", |c| {
            c["sub"] = json!("x1");
            c["email"] = json!("cfo@victim.example");
            c["name"] = json!("Cy Fo");
        }),
    );
    let (status, for_new) = exchange(app, client, &named).await;
    assert_eq!(status, StatusCode::OK, "{for_new}");
    let (status, for_existing) = exchange(
        app,
        client,
        &assert_for("j2", "x2", "outsider@other.example"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{for_existing}");
    let outsider_id = cli(&db, app, &["team", "members", "--team", &other])[0]["user_id"].clone();
    let sub_for_existing =
        jwt_payload(for_existing["access_token"].as_str().expect("token"))["sub"].clone();
    assert_ne!(
        sub_for_existing, outsider_id,
        "the outsider's own account is not the integration's"
    );
    let members = cli(&db, app, &["team", "members", "--team", &mallory]);
    let identities: Vec<&Value> = members
        .as_array()
        .expect("members")
        .iter()
        .filter(|m| m["unclaimed"] == true)
        .collect();
    assert_eq!(identities.len(), 2, "{members}");
    assert!(
        identities
            .iter()
            .any(|m| m["email"] == "cfo@victim.example" && m["name"] == "Cy Fo"),
        "the integration's name for its identity is kept: {members}"
    );
    let outsider_teams = cli(&db, app, &["team", "members", "--team", &other]);
    assert_eq!(
        outsider_teams.as_array().map(Vec::len),
        Some(1),
        "nothing joined Other"
    );

    // The victim signs up: their own account, their own team, nothing of Mallory's.
    let victim = register(&p, "cfo@victim.example").await;
    let dashboard = victim.get("/dashboard").await;
    assert!(
        !dashboard.body.contains("Mallory Ltd"),
        "{}",
        dashboard.body
    );
    let victim_sub = for_new["access_token"]
        .as_str()
        .map(jwt_payload)
        .expect("token")["sub"]
        .clone();
    let (_, again) = exchange(app, client, &assert_for("j3", "x1", "cfo@victim.example")).await;
    assert_eq!(
        jwt_payload(again["access_token"].as_str().expect("token"))["sub"],
        victim_sub,
        "the integration still speaks only for its own identity"
    );
    let members_after = cli(&db, app, &["team", "members", "--team", &mallory]);
    assert_eq!(
        members_after.as_array().map(Vec::len),
        members.as_array().map(Vec::len)
    );
    let signed_in = cli(
        &db,
        app,
        &["audit", "--team", &mallory, "--action", "member.signed_in"],
    );
    assert!(
        !signed_in.to_string().contains("victim.example"),
        "Mallory's log never sees the victim's sign-ins: {signed_in}"
    );

    // Team isolation: another team's client cannot spend Mallory's issuer's assertions.
    let outsider_client = create_client(
        &db,
        app,
        &[
            "--name",
            "Other int",
            "--team",
            &other,
            "--grant-type",
            GRANT,
            "--scope",
            "api",
        ],
    );
    refused(
        app,
        (
            outsider_client["client_id"].as_str().expect("id"),
            outsider_client["client_secret"].as_str().expect("secret"),
        ),
        &assert_for("j4", "x1", "cfo@victim.example"),
        "is not trusted by this client's team",
    )
    .await;

    // Nobody can sign in as an integration identity: its own address is reserved.
    let browser = crate::browser::Browser::new(&app.base_url);
    let reserved = format!(
        "{}@integration.invalid",
        victim_sub.as_str().unwrap_or_default()
    );
    let asked = browser.request_login(&reserved).await;
    assert_ne!(asked.location(), Some("/login/sent"));
    assert!(
        asked.body.contains("does not look like an email address"),
        "{}",
        asked.body
    );
    p.app.stop().await;
}
on_both_databases!(an_integration_cannot_claim_a_person_or_tell_who_has_an_account);

on_both_databases!(administrators_trust_issuers_on_the_integrations_page);
async fn administrators_trust_issuers_on_the_integrations_page(db: TestDb) {
    let p = provider(&db, |_| {}).await;
    let app = &p.app;
    let alice = register(&p, "alice@acme.test").await;
    let team = alice.get("/dashboard/settings/team").await.field("team");
    let link = cli(
        &db,
        app,
        &[
            "join-link",
            "create",
            "--team",
            &team,
            "--created-by",
            "alice@acme.test",
        ],
    );
    let (bob, _) = join(&p, link["url"].as_str().expect("url"), "bob@elsewhere.test").await;
    let carol = register(&p, "carol@other.test").await;
    let page = format!("/dashboard/integrations/issuers?team={team}");
    assert_eq!(alice.get(&page).await.status, StatusCode::OK);
    assert_eq!(bob.get(&page).await.status, StatusCode::FORBIDDEN);
    assert_eq!(carol.get(&page).await.status, StatusCode::NOT_FOUND);

    let key = ClientKey::generate("page-key");
    let jwks = serde_json::to_string(&JwkSet {
        keys: vec![key.jwk.clone()],
    })
    .expect("jwks");
    let fields = [
        ("team", team.as_str()),
        ("issuer", ISSUER),
        ("jwks", jwks.as_str()),
        ("algorithms", "ES256"),
        ("max_lifetime_secs", "120"),
    ];
    assert_eq!(
        act(&bob, "/dashboard/integrations/issuers", &fields)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        act(&carol, "/dashboard/integrations/issuers", &fields)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let added = act(&alice, "/dashboard/integrations/issuers", &fields).await;
    assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", added.body);
    let listed = cli(&db, app, &["issuer", "list", "--team", &team]);
    let listed = listed.as_array().expect("array");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["algorithms"], json!(["ES256"]));
    let id = listed[0]["id"].as_str().expect("id").to_owned();
    let shown = alice.get(&page).await.body;
    assert!(shown.contains("agent.customer.example"));
    // With the team's own sign-on URL, where no other team's trust counts.
    let own_url = format!("{}/sso/jwt/teams/{team}", app.base_url).replace('/', "&#x2F;");
    assert!(shown.contains(&own_url), "{own_url} in {shown}");
    // A bad key set is refused with a sentence, and nothing is added.
    let bad = act(
        &alice,
        "/dashboard/integrations/issuers",
        &[
            ("team", team.as_str()),
            ("issuer", "https://other.example"),
            ("jwks", "{}"),
        ],
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("JWKS"), "{}", bad.body);
    // A lifetime no clock can hold is refused with the rule, not a 500.
    let huge = act(
        &alice,
        "/dashboard/integrations/issuers",
        &[
            ("team", team.as_str()),
            ("issuer", "https://other.example"),
            ("jwks", jwks.as_str()),
            ("max_lifetime_secs", "9223372036854775807"),
        ],
    )
    .await;
    assert_eq!(huge.status, StatusCode::BAD_REQUEST, "{}", huge.body);
    assert!(
        huge.body.contains("between 1 second and 24 hours"),
        "{}",
        huge.body
    );
    assert_eq!(
        cli(&db, app, &["issuer", "list", "--team", &team])
            .as_array()
            .expect("array")
            .len(),
        1,
        "nothing was added"
    );

    let remove = [("team", team.as_str()), ("id", id.as_str())];
    assert_eq!(
        act(&bob, "/dashboard/integrations/issuers/remove", &remove)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        act(&carol, "/dashboard/integrations/issuers/remove", &remove)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let removed = act(&alice, "/dashboard/integrations/issuers/remove", &remove).await;
    assert_eq!(removed.status, StatusCode::SEE_OTHER, "{}", removed.body);
    assert!(
        cli(&db, app, &["issuer", "list", "--team", &team])
            .as_array()
            .expect("array")
            .is_empty()
    );
    let events = cli(&db, app, &["audit", "--team", &team, "--action", "issuer."]);
    let actions: Vec<(&str, &str)> = events
        .as_array()
        .expect("array")
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap_or_default(),
                e["actor"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            ("issuer.removed", "alice@acme.test"),
            ("issuer.added", "alice@acme.test")
        ]
    );
    p.app.stop().await;
}

//! Browser sign-on with an integration's own JWT (`/sso/jwt`): a helpdesk signs a short token
//! naming the agent with a PEM key, opens it in the agent's browser (often in an iframe), and
//! the agent is signed in to its team with no second login. Every refusal names its check and
//! starts no session; a token works once.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::browser::Browser;
use crate::harness::{TestApp, TestDb, latchkey, stderr, write_file};
use crate::oidc::{Provider, cli_env, provider};
use crate::on_both_databases;

pub(crate) const HELPDESK: &str = "https://helpdesk.customer.example";

/// A P-256 key pair of the integration's, as PEM files hold it.
pub(crate) struct PemKey {
    pub(crate) encoding: EncodingKey,
    pub(crate) public_pem: String,
    pub(crate) private_pem: String,
}

impl PemKey {
    /// Made as the agent-widget example makes its key, and read back from its PEM.
    pub(crate) fn generate() -> Self {
        let pair = agent_widget_example::PemPair::generate().expect("generate");
        Self {
            encoding: EncodingKey::from_ec_pem(pair.private_pem.as_bytes()).expect("key"),
            public_pem: pair.public_pem,
            private_pem: pair.private_pem,
        }
    }

    /// A token as integrations make them: no kid, ES256.
    pub(crate) fn sign(&self, claims: &Value) -> String {
        jsonwebtoken::encode(&Header::new(Algorithm::ES256), claims, &self.encoding).expect("sign")
    }
}

/// `openssl genrsa 1024 | openssl rsa -pubout`: too small to trust.
const RSA_1024: &str = "-----BEGIN PUBLIC KEY-----
MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQCjL+s1n16vosveOQZ2N430qTys
9gFx2Klvv1D5Z1vMyvsV+GpaCt38CnPL3CfcUc+hyzaImxmWzfrk8rGCXwWQbAWW
7h+hLzQmoFjzLBD9TZEY6hCpFHM0XIg2xYf2aWQtXYH86ewU8/UBfWHYhqiaHOwn
jd9e3IJ91Isa49MAlwIDAQAB
-----END PUBLIC KEY-----
";

fn cli(db: &TestDb, app: &TestApp, args: &[&str]) -> Value {
    crate::harness::cli_json(db, app, args)
}

/// Makes a key for the helpdesk and has `team` trust it as a PEM file, with `extra` flags.
pub(crate) fn trust_helpdesk(db: &TestDb, app: &TestApp, team: &str, extra: &[&str]) -> PemKey {
    let key = PemKey::generate();
    let public = write_file(db.dir.path(), "helpdesk.pem", &key.public_pem);
    let mut args = vec![
        "issuer",
        "add",
        "--team",
        team,
        "--issuer",
        HELPDESK,
        "--public-key-file",
        public.to_str().expect("path"),
    ];
    args.extend_from_slice(extra);
    cli(db, app, &args);
    key
}

pub(crate) fn create_team(db: &TestDb, app: &TestApp, admin: &str) -> String {
    cli(
        db,
        app,
        &["team", "create", "--name", "Customer", "--admin", admin],
    )["team_id"]
        .as_str()
        .expect("team_id")
        .to_owned()
}

/// Claims naming the agent by address in `sub`, made out to Latchkey, living `lifetime`
/// seconds; `n` keeps tokens apart, since they carry no jti.
fn agent_claims(app: &TestApp, n: u32, lifetime: i64, adjust: impl FnOnce(&mut Value)) -> Value {
    let now = Utc::now().timestamp();
    let mut claims = json!({
        "iss": HELPDESK,
        "sub": "pat@customer.example",
        "aud": app.base_url,
        "iat": now,
        "exp": now + lifetime,
        "displayName": "Pat Q. Jones",
        "n": n,
    });
    adjust(&mut claims);
    claims
}

fn sign_on_path(token: &str, return_to: Option<&str>) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.append_pair("token", token);
    if let Some(path) = return_to {
        query.append_pair("return_to", path);
    }
    format!("/sso/jwt?{}", query.finish())
}

/// A refusal: its page names the check, and no session cookie was set.
async fn refused(p: &Provider, token: &str, why: &str) {
    let browser = Browser::new(&p.app.base_url);
    let page = browser.get(&sign_on_path(token, None)).await;
    assert_eq!(
        page.status,
        StatusCode::UNAUTHORIZED,
        "{why}: {}",
        page.body
    );
    assert!(page.body.contains("Sign-on refused"), "{}", page.body);
    assert!(
        page.body.contains(&why.replace('"', "&quot;")),
        "wanted {why:?} in {}",
        page.body
    );
    assert!(
        page.set_cookies().iter().all(|c| !c.contains("session")),
        "{why}: {:?}",
        page.set_cookies()
    );
    assert_eq!(browser.signed_in_as().await, None, "{why}");
}

on_both_databases!(an_integrations_jwt_signs_the_agent_in_to_the_browser);
async fn an_integrations_jwt_signs_the_agent_in_to_the_browser(db: TestDb) {
    let p = provider(&db, |_| {}).await;
    let app = &p.app;
    let team = create_team(&db, app, "admin@customer.example");
    let key = PemKey::generate();
    let dir = db.dir.path();

    // What is not a public key is refused, saying what to give instead, and stores nothing.
    for (file, contents, why) in [
        (
            "private.pem",
            key.private_pem.as_str(),
            "this is a private key",
        ),
        ("small.pem", RSA_1024, "at least 2048"),
        (
            "cert.pem",
            "-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n",
            "this is a certificate",
        ),
    ] {
        let path = write_file(dir, file, contents);
        let output = latchkey(
            dir,
            &cli_env(&db, app),
            &[
                "issuer",
                "add",
                "--team",
                &team,
                "--issuer",
                HELPDESK,
                "--public-key-file",
                path.to_str().expect("path"),
            ],
        );
        assert!(!output.status.success(), "{file}");
        assert!(stderr(&output).contains(why), "{file}: {}", stderr(&output));
    }
    assert_eq!(
        cli(&db, app, &["issuer", "list", "--team", &team]),
        json!([])
    );
    let public = write_file(dir, "helpdesk.pem", &key.public_pem);
    let public = public.to_str().expect("path");
    let add = |extra: &[&str]| {
        let mut args = vec![
            "issuer",
            "add",
            "--team",
            &team,
            "--issuer",
            HELPDESK,
            "--public-key-file",
            public,
        ];
        args.extend_from_slice(extra);
        latchkey(dir, &cli_env(&db, app), &args)
    };
    let too_long = add(&["--max-lifetime", "25h"]);
    assert!(
        stderr(&too_long).contains("24 hours"),
        "{}",
        stderr(&too_long)
    );
    let added = add(&[
        "--json",
        "--max-lifetime",
        "24h",
        "--require-jti",
        "false",
        "--email-claim",
        "sub",
        "--name-claim",
        "displayName",
        "--frame-origin",
        "https://customer.zendesk.com",
    ]);
    assert!(added.status.success(), "{}", stderr(&added));
    let added: Value = serde_json::from_slice(&added.stdout).expect("json");
    assert_eq!(added["max_lifetime_secs"], 86_400);
    assert_eq!(added["require_jti"], false);
    assert_eq!(
        added["frame_origins"],
        json!(["https://customer.zendesk.com"])
    );
    assert_eq!(
        added["key_ids"].as_array().map(Vec::len),
        Some(1),
        "{added}"
    );

    // A token living most of a day, with no jti, signs the agent in and lands on return_to.
    let token = key.sign(&agent_claims(app, 1, 23 * 3600, |_| {}));
    let agent = Browser::new(&app.base_url);
    let signed_on = agent
        .get(&sign_on_path(&token, Some("/dashboard/profile")))
        .await;
    assert_eq!(
        signed_on.location(),
        Some("/dashboard/profile"),
        "{}",
        signed_on.body
    );
    let cookies = signed_on.set_cookies().join("\n");
    assert!(cookies.contains("latchkey-session="), "{cookies}");
    assert!(cookies.contains("SameSite=Lax"), "{cookies}");
    let dashboard = agent.get("/dashboard").await;
    assert!(
        dashboard.body.contains("Pat Q. Jones"),
        "{}",
        dashboard.body
    );
    assert!(
        dashboard.body.contains(
            "through the integration <strong>https:&#x2F;&#x2F;helpdesk.customer.example"
        ),
        "{}",
        dashboard.body
    );
    assert!(dashboard.body.contains("as member"), "{}", dashboard.body);
    let members = cli(&db, app, &["team", "members", "--team", &team]);
    let pat = members
        .as_array()
        .and_then(|all| all.iter().find(|m| m["email"] == "pat@customer.example"))
        .unwrap_or_else(|| panic!("pat is a member: {members}"));
    assert_eq!(pat["name"], "Pat Q. Jones");
    assert_eq!(pat["role"], "member");
    let events = cli(
        &db,
        app,
        &["audit", "--team", &team, "--action", "member.signed_in"],
    );
    assert_eq!(events[0]["details"]["via"], "jwt", "{events}");
    assert_eq!(events[0]["details"]["issuer"], HELPDESK, "{events}");

    // The same token again, in any browser: refused, though it has no jti.
    refused(&p, &token, "this token was used before (replay)").await;

    // By form too; return_to may only name a path here.
    for (n, return_to) in [
        (2, "//evil.example"),
        (3, "https://evil.example"),
        (4, "/\\evil.example"),
        (5, "/.//evil.example"),
        (6, "/a/..//evil.example"),
    ] {
        let token = key.sign(&agent_claims(app, n, 60, |_| {}));
        let page = Browser::new(&app.base_url)
            .post("/sso/jwt", &[("token", &token), ("return_to", return_to)])
            .await;
        assert_eq!(
            page.location(),
            Some("/dashboard"),
            "{return_to}: {}",
            page.body
        );
    }

    // Each check, named on its page.
    let now = Utc::now().timestamp();
    let checks: Vec<(Value, &str)> = vec![
        (
            agent_claims(app, 10, 60, |c| {
                c["iat"] = json!(now - 600);
                c["exp"] = json!(now - 300);
            }),
            "expired",
        ),
        (
            agent_claims(app, 11, 60, |c| c["nbf"] = json!(now + 600)),
            "not valid yet",
        ),
        (
            agent_claims(app, 12, 25 * 3600, |_| {}),
            "may live at most 86400",
        ),
        (
            agent_claims(app, 13, 60, |c| {
                c["aud"] = json!("https://elsewhere.example")
            }),
            "aud must be",
        ),
        (
            agent_claims(app, 14, 60, |c| {
                c["iss"] = json!("https://stranger.example")
            }),
            "is not trusted by any team",
        ),
        (
            agent_claims(app, 15, 60, |c| c["sub"] = json!("not an address")),
            "the sub claim must be an email address",
        ),
    ];
    for (claims, why) in &checks {
        refused(&p, &key.sign(claims), why).await;
    }
    // Signed by a key the issuer does not have, with or without a kid.
    let stranger = PemKey::generate();
    let claims = agent_claims(app, 20, 60, |_| {});
    refused(&p, &stranger.sign(&claims), "the signature does not verify").await;
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some("unknown-kid".into());
    let with_kid = jsonwebtoken::encode(&header, &claims, &stranger.encoding).expect("sign");
    refused(&p, &with_kid, "no key for this kid").await;
    // alg none, and HS256 keyed with the public key.
    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    refused(&p, &unsigned, "not a signed JWT").await;
    let hmac = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(key.public_pem.as_bytes()),
    )
    .expect("sign");
    refused(&p, &hmac, "the algorithm HS256 is not allowed").await;
    // A token past 8 KB in the address is refused before it is read.
    let huge = key.sign(&agent_claims(app, 21, 60, |c| {
        c["pad"] = json!("x".repeat(9000))
    }));
    let page = Browser::new(&app.base_url)
        .get(&sign_on_path(&huge, None))
        .await;
    assert_eq!(page.status, StatusCode::URI_TOO_LONG, "{}", page.body);
    assert!(page.body.contains("POST the token"), "{}", page.body);

    // Inside a frame: the cookies are for a third-party frame, and the session's pages may be
    // framed by the helpdesk only, and only while framed.
    let mut framed = reqwest::header::HeaderMap::new();
    framed.insert("sec-fetch-dest", "iframe".parse().expect("header"));
    let in_frame = Browser::with_headers(&app.base_url, framed);
    let token = key.sign(&agent_claims(app, 30, 60, |_| {}));
    let signed_on = in_frame.get(&sign_on_path(&token, None)).await;
    assert_eq!(
        signed_on.location(),
        Some("/dashboard"),
        "{}",
        signed_on.body
    );
    let cookies = signed_on.set_cookies().join("\n");
    for attribute in ["SameSite=None", "Secure", "Partitioned", "HttpOnly"] {
        assert!(cookies.contains(attribute), "{attribute}: {cookies}");
    }
    let page = in_frame.get("/dashboard").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let csp = page.headers["content-security-policy"]
        .to_str()
        .expect("csp");
    assert!(
        csp.contains("frame-ancestors https://customer.zendesk.com;"),
        "{csp}"
    );
    assert!(page.headers.get("x-frame-options").is_none());
    let top_level = in_frame
        .client
        .get(app.url("/dashboard"))
        .header("sec-fetch-dest", "document")
        .send()
        .await
        .expect("dashboard");
    let csp = top_level.headers()["content-security-policy"]
        .to_str()
        .expect("csp");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(top_level.headers()["x-frame-options"], "DENY");
    // Signing out inside the frame deletes the partitioned cookie, and the session ends.
    let out = in_frame
        .post("/logout", &[("csrf", page.field("csrf").as_str())])
        .await;
    assert_eq!(out.location(), Some("/login"), "{}", out.body);
    let removal = out.set_cookies().join("\n");
    assert!(
        removal.contains("Partitioned") && removal.contains("Max-Age=0"),
        "{removal}"
    );
    assert_eq!(in_frame.signed_in_as().await, None);
    // A page of a session opened top-level is never framable.
    let page = agent.get("/dashboard").await;
    let csp = page.headers["content-security-policy"]
        .to_str()
        .expect("csp");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
}

on_both_databases!(an_administrator_claim_decides_the_role_and_people_keep_the_name_they_chose);
async fn an_administrator_claim_decides_the_role_and_people_keep_the_name_they_chose(db: TestDb) {
    let p = provider(&db, |_| {}).await;
    let app = &p.app;
    let team = create_team(&db, app, "admin@customer.example");
    let key = trust_helpdesk(
        &db,
        app,
        &team,
        &["--allow-admin-claim", "roles=latchkey-admin"],
    );
    let token = |jti: &str, roles: Value, name: &str| {
        let now = Utc::now().timestamp();
        key.sign(&json!({
            "iss": HELPDESK, "sub": "agent-7", "email": "lee@customer.example",
            "aud": app.base_url, "iat": now, "exp": now + 60, "jti": jti,
            "roles": roles, "name": name,
        }))
    };
    let role_of_lee = || {
        let members = cli(&db, app, &["team", "members", "--team", &team]);
        members
            .as_array()
            .and_then(|all| all.iter().find(|m| m["email"] == "lee@customer.example"))
            .map(|lee| (lee["role"].clone(), lee["name"].clone()))
            .unwrap_or_else(|| panic!("lee is a member: {members}"))
    };

    // The claim, in a list of roles, makes an administrator: audited as the claim's doing.
    let lee = Browser::new(&app.base_url);
    let page = lee
        .get(&sign_on_path(
            &token("j1", json!(["agent", "latchkey-admin"]), "Lee Smith"),
            None,
        ))
        .await;
    assert_eq!(page.location(), Some("/dashboard"), "{}", page.body);
    assert_eq!(role_of_lee(), (json!("administrator"), json!("Lee Smith")));
    let changes = cli(
        &db,
        app,
        &["audit", "--team", &team, "--action", "member.role_changed"],
    );
    assert_eq!(changes[0]["details"]["via"], "admin_claim", "{changes}");
    assert_eq!(changes[0]["details"]["to"], "administrator", "{changes}");
    let dashboard = lee.get("/dashboard").await;
    assert!(
        dashboard.body.contains("as administrator"),
        "{}",
        dashboard.body
    );

    // Lee names themselves; the integration's name no longer changes it.
    let saved = lee
        .submit(
            "/dashboard/profile",
            "/dashboard/profile",
            &[("name", "Lee  Ann Smith")],
        )
        .await;
    assert_eq!(
        saved.location(),
        Some("/dashboard/profile?done=saved"),
        "{}",
        saved.body
    );
    let unusable = lee
        .submit(
            "/dashboard/profile",
            "/dashboard/profile",
            &[("name", "   ")],
        )
        .await;
    assert_eq!(unusable.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        unusable.body.contains("Type your name"),
        "{}",
        unusable.body
    );

    // Without the claim, a plain member again.
    let page = Browser::new(&app.base_url)
        .get(&sign_on_path(
            &token("j2", json!(["agent"]), "Someone Else"),
            None,
        ))
        .await;
    assert_eq!(page.location(), Some("/dashboard"), "{}", page.body);
    assert_eq!(role_of_lee(), (json!("member"), json!("Lee Ann Smith")));

    // A jti is required unless the issuer says otherwise, and is spent once.
    let now = Utc::now().timestamp();
    let no_jti = key.sign(&json!({
        "iss": HELPDESK, "sub": "agent-7", "email": "lee@customer.example",
        "aud": app.base_url, "iat": now, "exp": now + 60,
    }));
    refused(&p, &no_jti, "no jti").await;
    refused(
        &p,
        &token("j2", json!([]), "Lee"),
        "this jti was used before (replay)",
    )
    .await;
}

on_both_databases!(sign_ons_at_once_spend_a_token_once_and_make_one_member);
async fn sign_ons_at_once_spend_a_token_once_and_make_one_member(db: TestDb) {
    let p = provider(&db, |_| {}).await;
    let app = &p.app;
    let team = create_team(&db, app, "admin@customer.example");
    let key = trust_helpdesk(&db, app, &team, &["--email-claim", "sub"]);
    let sign_on = |token: String| {
        let base = app.base_url.clone();
        async move {
            Browser::new(&base)
                .post("/sso/jwt", &[("token", token.as_str())])
                .await
                .status
        }
    };
    // One token, twenty browsers at once: exactly one is signed in.
    let token = key.sign(&agent_claims(app, 1, 60, |c| c["jti"] = json!("once")));
    let answers = futures_util::future::join_all((0..20).map(|_| sign_on(token.clone()))).await;
    let signed_in = answers
        .iter()
        .filter(|s| **s == StatusCode::SEE_OTHER)
        .count();
    let refused = answers
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    assert_eq!((signed_in, refused), (1, 19), "{answers:?}");

    // A new agent's first ten tokens at once: all sign in, as one member.
    let tokens: Vec<String> = (0..10)
        .map(|n| {
            key.sign(&agent_claims(app, 100 + n, 60, |c| {
                c["sub"] = json!("new.agent@customer.example");
                c["jti"] = json!(format!("first-{n}"));
            }))
        })
        .collect();
    let answers = futures_util::future::join_all(tokens.into_iter().map(sign_on)).await;
    assert!(
        answers.iter().all(|s| *s == StatusCode::SEE_OTHER),
        "{answers:?}"
    );
    let members = cli(&db, app, &["team", "members", "--team", &team]);
    let new_agents = members
        .as_array()
        .expect("members")
        .iter()
        .filter(|m| m["email"] == "new.agent@customer.example")
        .count();
    assert_eq!(new_agents, 1, "{members}");
    let provisioned = cli(
        &db,
        app,
        &["audit", "--team", &team, "--action", "member.provisioned"],
    );
    assert_eq!(
        provisioned.as_array().map(Vec::len),
        Some(2),
        "{provisioned}"
    );
}

on_both_databases!(a_session_an_integration_opened_works_in_its_team_only);
async fn a_session_an_integration_opened_works_in_its_team_only(db: TestDb) {
    let p = provider(&db, |_| {}).await;
    let app = &p.app;
    // Bea administers her own team, and is a plain member of the customer's.
    let own = crate::teams::register(&p, "bea@bea.test").await;
    let own_team = own.get("/dashboard/settings/team").await.field("team");
    assert!(!own_team.is_empty());
    let customer = create_team(&db, app, "admin@customer.example");
    let invitation = cli(
        &db,
        app,
        &[
            "join-link",
            "create",
            "--team",
            &customer,
            "--created-by",
            "admin@customer.example",
        ],
    );
    let url = invitation["url"].as_str().expect("url");
    let path = &url[url.find("/join/").expect("join path")..];
    // Her second mail: the first was the one she registered with.
    let asked = Browser::new(&app.base_url)
        .submit(path, path, &[("email", "bea@bea.test")])
        .await;
    assert_eq!(asked.location(), Some("/login/sent"), "{}", asked.body);
    let mail = p
        .smtp
        .nth_mail_to("bea@bea.test", 2, std::time::Duration::from_secs(10))
        .await;
    let joined = Browser::new(&app.base_url).follow_link(&mail.link()).await;
    assert_eq!(joined.location(), Some("/dashboard"), "{}", joined.body);
    let key = trust_helpdesk(&db, app, &customer, &[]);
    // The customer's helpdesk signs her in: her own account, linked by address.
    let now = Utc::now().timestamp();
    let token = key.sign(&json!({
        "iss": HELPDESK, "sub": "agent-bea", "email": "bea@bea.test",
        "aud": app.base_url, "iat": now, "exp": now + 60, "jti": "bea-1",
    }));
    let helpdesk = Browser::new(&app.base_url);
    let page = helpdesk.get(&sign_on_path(&token, None)).await;
    assert_eq!(page.location(), Some("/dashboard"), "{}", page.body);
    let members = cli(&db, app, &["team", "members", "--team", &customer]);
    let bea = members
        .as_array()
        .and_then(|all| all.iter().find(|m| m["email"] == "bea@bea.test"))
        .unwrap_or_else(|| panic!("bea is a member: {members}"));
    assert_eq!(bea["unclaimed"], Value::Null, "her own account: {bea}");
    // That session cannot reach her own team, whatever the page or form names.
    let settings = helpdesk
        .get(&format!("/dashboard/settings/team?team={own_team}"))
        .await;
    assert_eq!(settings.status, StatusCode::FORBIDDEN, "{}", settings.body);
    assert!(settings.body.contains("This sign-in is for one team"));
    let integrations = helpdesk
        .get(&format!("/dashboard/integrations?team={own_team}"))
        .await;
    assert_eq!(integrations.status, StatusCode::FORBIDDEN);
    assert!(integrations.body.contains("This sign-in is for one team"));
    let rename = crate::teams::act(
        &helpdesk,
        "/dashboard/settings/team/rename",
        &[("team", own_team.as_str()), ("name", "Taken over")],
    )
    .await;
    assert_eq!(rename.status, StatusCode::FORBIDDEN, "{}", rename.body);
    // Her own session still does.
    let mine = own
        .get(&format!("/dashboard/settings/team?team={own_team}"))
        .await;
    assert_eq!(mine.status, StatusCode::OK, "{}", mine.body);
    assert!(!mine.body.contains("Taken over"));
}

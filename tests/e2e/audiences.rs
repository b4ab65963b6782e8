//! Access tokens are audience-restricted (RFC 8707, RFC 9068 §3, RFC 9700 §2.3): a token is
//! for the resource server its client named, or else for the client itself, never for the
//! issuer, and introspection describes a token only to its audience. One team's API cannot
//! accept another's tokens (M4 of the security review).

use reqwest::StatusCode;
use serde_json::Value;

use crate::browser::Browser;
use crate::harness::{TestDb, cli_json};
use crate::oidc::{
    Provider, REDIRECT_URI, allow, authorize_scopes, callback, create_client, jwt_payload,
    provider, sign_in,
};
use crate::on_both_databases;

const ORDERS: &str = "https://orders.example/api";

/// A client's id and secret.
fn credentials(created: &Value) -> (String, String) {
    let field = |name: &str| created[name].as_str().expect(name).to_owned();
    (field("client_id"), field("client_secret"))
}

fn machine(p: &Provider, db: &TestDb, team: &str, scopes: &str) -> (String, String) {
    credentials(&create_client(
        db,
        &p.app,
        &[
            "--name",
            "Machine",
            "--team",
            team,
            "--grant-type",
            "client_credentials",
            "--scope",
            scopes,
        ],
    ))
}

fn team(p: &Provider, db: &TestDb, name: &str, admin: &str) -> String {
    cli_json(
        db,
        &p.app,
        &["team", "create", "--name", name, "--admin", admin],
    )["team_id"]
        .as_str()
        .expect("team_id")
        .to_owned()
}

fn auth(client: &(String, String)) -> (&str, &str) {
    (client.0.as_str(), client.1.as_str())
}

/// The error code of a refused token request.
async fn refused(p: &Provider, client: &(String, String), form: &[(&str, &str)]) -> String {
    let (status, body) = p.token(auth(client), form).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{form:?}: {body}");
    body["error"].as_str().unwrap_or_default().to_owned()
}

async fn machine_tokens_are_for_the_resource_they_name_or_their_own_client(db: TestDb) {
    let p = provider(&db, |_| {}).await;
    let alpha = team(&p, &db, "Alpha", "ann@alpha.example");
    let beta = team(&p, &db, "Beta", "bo@beta.example");
    let a = machine(&p, &db, &alpha, "api");
    let b = machine(&p, &db, &beta, "api,orders:read");
    let orders_api = machine(&p, &db, &beta, "introspection");

    // The review's test: both teams' APIs require `api`. Without a resource, A's token is for
    // A alone, and B's API is not told it is active.
    let (status, body) = p
        .token(auth(&a), &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token_a = body["access_token"].as_str().expect("token").to_owned();
    let claims = jwt_payload(&token_a);
    assert_eq!(claims["aud"], a.0.as_str(), "{claims}");
    assert_ne!(claims["aud"], p.app.base_url.as_str(), "never the issuer");
    assert_eq!(p.introspect(auth(&b), &token_a).await["active"], false);
    assert_eq!(p.introspect(auth(&a), &token_a).await["active"], true);

    // Team B registers its Orders API, introspecting with its own credentials.
    let added = cli_json(
        &db,
        &p.app,
        &[
            "resource",
            "add",
            "--identifier",
            ORDERS,
            "--scope",
            "orders:read,orders:write",
            "--name",
            "Orders",
            "--team",
            &beta,
            "--introspection-client",
            &orders_api.0,
        ],
    );
    assert_eq!(added["identifier"], ORDERS);
    let listed = cli_json(&db, &p.app, &["resource", "list", "--team", &beta]);
    assert_eq!(
        listed[0]["scopes"],
        serde_json::json!(["orders:read", "orders:write"])
    );

    // B's token for it names it as audience and carries only its scopes.
    let for_orders = [("grant_type", "client_credentials"), ("resource", ORDERS)];
    let (status, body) = p.token(auth(&b), &for_orders).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["scope"], "orders:read", "api is not the Orders API's");
    let token_b = body["access_token"].as_str().expect("token").to_owned();
    assert_eq!(jwt_payload(&token_b)["aud"], ORDERS);
    let seen = p.introspect(auth(&orders_api), &token_b).await;
    assert_eq!(
        (seen["active"].as_bool(), seen["aud"].as_str()),
        (Some(true), Some(ORDERS))
    );
    for outsider in [&a, &b] {
        assert_eq!(
            p.introspect(auth(outsider), &token_b).await["active"],
            false,
            "only the audience's own credentials are told"
        );
    }
    // The Orders API's credentials learn nothing of tokens not meant for it.
    assert_eq!(
        p.introspect(auth(&orders_api), &token_a).await["active"],
        false
    );

    // Refusals, each with its RFC code.
    assert_eq!(
        refused(&p, &a, &for_orders).await,
        "invalid_target",
        "another team's API"
    );
    for resource in [
        "https://unknown.example",
        "orders",
        "https://orders.example/api#x",
    ] {
        let form = [("grant_type", "client_credentials"), ("resource", resource)];
        assert_eq!(refused(&p, &b, &form).await, "invalid_target", "{resource}");
    }
    let twice = [
        ("grant_type", "client_credentials"),
        ("resource", ORDERS),
        ("resource", ORDERS),
    ];
    assert_eq!(refused(&p, &b, &twice).await, "invalid_target");
    let wrong_scope = [
        ("grant_type", "client_credentials"),
        ("resource", ORDERS),
        ("scope", "api"),
    ];
    assert_eq!(refused(&p, &b, &wrong_scope).await, "invalid_scope");

    // A removed API gets no new tokens.
    cli_json(&db, &p.app, &["resource", "remove", "--identifier", ORDERS]);
    assert_eq!(refused(&p, &b, &for_orders).await, "invalid_target");
    p.app.stop().await;
}
on_both_databases!(machine_tokens_are_for_the_resource_they_name_or_their_own_client);

async fn a_sign_in_for_an_api_gives_a_token_only_that_api_takes(db: TestDb) {
    let p = provider(&db, |_| {}).await;
    let web = credentials(&create_client(
        &db,
        &p.app,
        &[
            "--name",
            "Shop",
            "--redirect-uri",
            REDIRECT_URI,
            "--scope",
            "openid,email,offline_access,orders:read",
        ],
    ));
    let orders_api = credentials(&create_client(
        &db,
        &p.app,
        &[
            "--name",
            "Orders API",
            "--grant-type",
            "client_credentials",
            "--scope",
            "x",
        ],
    ));
    cli_json(
        &db,
        &p.app,
        &[
            "resource",
            "add",
            "--identifier",
            ORDERS,
            "--scope",
            "orders:read",
            "--introspection-client",
            &orders_api.0,
        ],
    );
    let rp = p.rp(&web.0, Some(&web.1));
    let browser = Browser::new(&p.app.base_url);

    // An unregistered resource is refused at the client's redirect URI, with `iss`.
    let unknown = authorize_scopes(&rp, &["email"], &[("resource", "https://unknown.example")]);
    let answer = callback(&browser.get(&unknown.url).await);
    assert_eq!(answer["error"], "invalid_target", "{answer:?}");
    assert_eq!(answer["iss"], p.app.base_url.trim_end_matches('/'));

    let scopes = ["email", "offline_access", "orders:read"];
    let request = authorize_scopes(&rp, &scopes, &[("resource", ORDERS)]);
    let consent = sign_in(&p, &browser, &request.url, "cy@example.com").await;
    let code = callback(&allow(&browser, &consent).await)["code"].clone();
    let exchange = |resource: Option<&'static str>| {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", request.verifier.secret().as_str()),
        ];
        form.extend(resource.map(|r| ("resource", r)));
        form
    };
    // Another resource than the one authorized is refused, and does not spend the code.
    let other = exchange(Some("https://unknown.example"));
    assert_eq!(refused(&p, &web, &other).await, "invalid_target");
    let (status, tokens) = p.token(auth(&web), &exchange(Some(ORDERS))).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(tokens["scope"], "orders:read");
    assert!(
        tokens["id_token"].is_string(),
        "the sign-in still gives an ID token"
    );
    let access = tokens["access_token"].as_str().expect("access").to_owned();
    assert_eq!(jwt_payload(&access)["aud"], ORDERS);
    assert_eq!(
        p.introspect(auth(&orders_api), &access).await["active"],
        true
    );
    assert_eq!(p.introspect(auth(&web), &access).await["active"], false);
    let userinfo = p
        .app
        .http
        .get(p.app.url("/userinfo"))
        .bearer_auth(&access)
        .send()
        .await
        .expect("userinfo");
    assert_eq!(
        userinfo.status(),
        StatusCode::UNAUTHORIZED,
        "a token for the API is the API's"
    );

    // Refreshing keeps the audience; asking for an unknown one fails and rotates nothing.
    let refresh = tokens["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_owned();
    let unknown = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh.as_str()),
        ("resource", "https://unknown.example"),
    ];
    assert_eq!(refused(&p, &web, &unknown).await, "invalid_target");
    let (status, refreshed) = p
        .token(
            auth(&web),
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{refreshed}");
    let access = refreshed["access_token"].as_str().expect("access");
    assert_eq!(jwt_payload(access)["aud"], ORDERS);
    p.app.stop().await;
}
on_both_databases!(a_sign_in_for_an_api_gives_a_token_only_that_api_takes);

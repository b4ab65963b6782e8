//! A team's OpenID applications on the console, over HTTP with the real binary: registered
//! from the form (bad input shown again with the error, what was typed kept, HTML escaped),
//! the secret on the page authenticating at the token endpoint's neighbours, rotated with and
//! without a grace period; a member answered 403 on every page and form, someone from another
//! team 404, and an application of another team named in a URL 404 like an unknown one.

use reqwest::StatusCode;

use crate::browser::{Browser, Page};
use crate::harness::{TestDb, latchkey, stderr};
use crate::oidc::{Provider, REDIRECT_URI, cli_env, create_client, provider};
use crate::on_both_databases;
use crate::teams::{act, join, register};

const NEW: &str = "/dashboard/applications/new";

/// The value of the read-only field labelled `label` on an application's page.
fn value_of(page: &Page, label: &str) -> String {
    let marker = format!(">{label}</label>");
    let at = page
        .body
        .find(&marker)
        .unwrap_or_else(|| panic!("no {label}: {}", page.body));
    let rest = &page.body[at..];
    let start = rest.find("value=\"").expect("a value") + "value=\"".len();
    rest[start..]
        .split('"')
        .next()
        .unwrap_or_default()
        .replace("&#x2F;", "/")
}

/// Whether `id` and `secret` authenticate at the introspection endpoint.
async fn authenticates(p: &Provider, id: &str, secret: &str) -> bool {
    let (status, body) = p
        .post(&p.app.url("/introspect"), (id, secret), &[("token", "x")])
        .await;
    match status {
        StatusCode::OK => true,
        StatusCode::UNAUTHORIZED => false,
        other => panic!("introspection answered {other}: {body}"),
    }
}

/// Registers an application from the form; returns the answer.
async fn register_app(browser: &Browser, team: &str, name: &str, redirect: &str) -> Page {
    act(
        browser,
        NEW,
        &[
            ("team", team),
            ("preset", "zendesk"),
            ("name", name),
            ("redirect_uris", redirect),
            ("scopes", "openid email profile"),
            ("app_type", "confidential"),
            ("pkce", "required"),
            ("id_token_alg", "RS256"),
        ],
    )
    .await
}

on_both_databases!(an_administrator_registers_rotates_and_removes_an_application_on_the_page);
async fn an_administrator_registers_rotates_and_removes_an_application_on_the_page(db: TestDb) {
    let p = provider(&db, |_| {}).await;
    let alice = register(&p, "alice@acme.test").await;
    let form = alice.get(&format!("{NEW}?preset=zendesk")).await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.body);
    let team = form.field("team");
    assert!(
        form.body.contains("openid email profile"),
        "the preset fills the scopes"
    );

    // Bad redirect URIs: the form again, the error by the field, what was typed kept.
    let long = format!("https://desk.example.com/{}", "a".repeat(10 * 1024));
    for (uri, says) in [
        ("https://desk.example.com/cb#top", "has a fragment"),
        ("http://desk.example.com/cb", "must use https"),
        (long.as_str(), "is longer than"),
    ] {
        let refused = register_app(&alice, &team, "Desk", uri).await;
        assert_eq!(
            refused.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{uri:.50}"
        );
        assert!(refused.body.contains(says), "{uri:.50}: {}", refused.body);
        assert!(refused.body.contains("id=\"app-redirect-error\""));
        assert!(refused.body.contains("aria-invalid=\"true\""));
    }

    // A name with HTML in it is shown as text.
    let created = register_app(
        &alice,
        &team,
        "<b>Desk</b> & Co",
        "https://desk.example.com/callback",
    )
    .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    assert!(!created.body.contains("<b>Desk</b>"), "{}", created.body);
    assert!(created.body.contains("&lt;b&gt;Desk"));
    let id = value_of(&created, "Client ID");
    let first = value_of(&created, "Client secret");
    assert_eq!(
        value_of(&created, "Auto discovery: Issuer URL"),
        p.app.base_url
    );
    assert_eq!(value_of(&created, "Scopes"), "openid,email,profile");
    assert!(authenticates(&p, &id, &first).await);
    let page = format!("/dashboard/applications/{id}");
    let shown = alice.get(&page).await;
    assert_eq!(shown.status, StatusCode::OK);
    assert!(
        !shown.body.contains(&first),
        "the secret is shown once only"
    );

    // A new secret, the old one kept an hour: both work; another, with none: only the newest.
    let rotated = act(
        &alice,
        &format!("{page}/secret"),
        &[("team", &team), ("grace", "1h")],
    )
    .await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    let second = value_of(&rotated, "Client secret");
    assert_ne!(second, first);
    assert!(authenticates(&p, &id, &first).await && authenticates(&p, &id, &second).await);
    let again = act(
        &alice,
        &format!("{page}/secret"),
        &[("team", &team), ("grace", "none")],
    )
    .await;
    let third = value_of(&again, "Client secret");
    assert!(!authenticates(&p, &id, &first).await);
    assert!(!authenticates(&p, &id, &second).await);
    assert!(authenticates(&p, &id, &third).await);

    // An edit keeps the secret; a removal needs the box ticked, then ends the application.
    let edited = act(
        &alice,
        &page,
        &[
            ("team", &team),
            ("name", "Desk"),
            (
                "redirect_uris",
                "https://desk.example.com/callback\nhttps://desk.example.com/other",
            ),
            ("scopes", "openid email"),
            ("pkce", "required"),
            ("id_token_alg", "RS256"),
        ],
    )
    .await;
    assert_eq!(edited.status, StatusCode::SEE_OTHER, "{}", edited.body);
    let after = alice.get(&page).await.body.replace("&#x2F;", "/");
    assert!(after.contains("https://desk.example.com/other"), "{after}");
    assert!(authenticates(&p, &id, &third).await);
    // A refused edit is shown again with the error by its field, and changes nothing.
    let refused = act(
        &alice,
        &page,
        &[
            ("team", &team),
            ("name", "Renamed"),
            ("redirect_uris", "https://desk.example.com/callback"),
            ("post_logout_redirect_uris", "http://desk.example.com/bye"),
        ],
    )
    .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused.body.contains("id=\"app-logout-error\""),
        "{}",
        refused.body
    );
    assert!(
        refused.body.contains("value=\"Renamed\""),
        "what was typed is kept"
    );
    assert!(!alice.get(&page).await.body.contains("Renamed"));
    let unconfirmed = act(&alice, &format!("{page}/remove"), &[("team", &team)]).await;
    assert_eq!(unconfirmed.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(authenticates(&p, &id, &third).await);
    let removed = act(
        &alice,
        &format!("{page}/remove"),
        &[("team", &team), ("confirm", "yes")],
    )
    .await;
    assert_eq!(removed.status, StatusCode::SEE_OTHER, "{}", removed.body);
    assert!(!authenticates(&p, &id, &third).await);
    assert_eq!(alice.get(&page).await.status, StatusCode::NOT_FOUND);

    // Each change is in the team's audit log.
    let log = alice.get("/dashboard/settings/team").await.body;
    for action in [
        "application.registered",
        "application.secret_rotated",
        "application.changed",
        "application.removed",
    ] {
        assert!(log.contains(action), "{action} in the audit log");
    }
}

on_both_databases!(members_get_403_and_other_teams_404_on_every_page_and_form);
async fn members_get_403_and_other_teams_404_on_every_page_and_form(db: TestDb) {
    let p = provider(&db, |_| {}).await;
    let alice = register(&p, "alice@acme.test").await;
    let team = alice
        .get(&format!("{NEW}?preset=custom"))
        .await
        .field("team");
    let created = register_app(&alice, &team, "Desk", "https://desk.example.com/cb").await;
    let id = value_of(&created, "Client ID");
    let secret = value_of(&created, "Client secret");
    let link = act(
        &alice,
        "/dashboard/settings/team/join-links",
        &[
            ("team", &team),
            ("ttl_hours", "1"),
            ("max_uses", "1"),
            ("role", "member"),
        ],
    )
    .await;
    let marker = "id=\"new-link\" type=\"url\" value=\"";
    let start = link.body.find(marker).expect("a join link") + marker.len();
    let url = link.body[start..]
        .split('"')
        .next()
        .unwrap()
        .replace("&#x2F;", "/");
    let (bob, _) = join(&p, &url, "bob@acme.test").await;
    // Carol has a team of her own, with an application.
    let carol = register(&p, "carol@globex.test").await;
    let globex = carol
        .get(&format!("{NEW}?preset=custom"))
        .await
        .field("team");
    let theirs = register_app(
        &carol,
        &globex,
        "Globex desk",
        "https://globex.example.com/cb",
    )
    .await;
    let their_id = value_of(&theirs, "Client ID");

    let page = format!("/dashboard/applications/{id}");
    let forms: Vec<(String, Vec<(&str, &str)>)> = vec![
        (
            NEW.to_owned(),
            vec![
                ("name", "Taken"),
                ("redirect_uris", "https://evil.example.com/cb"),
            ],
        ),
        (
            page.clone(),
            vec![
                ("name", "Taken"),
                ("redirect_uris", "https://evil.example.com/cb"),
            ],
        ),
        (format!("{page}/secret"), vec![("grace", "7d")]),
        (format!("{page}/remove"), vec![("confirm", "yes")]),
    ];
    for (who, browser, expected) in [
        ("member", &bob, StatusCode::FORBIDDEN),
        ("outsider", &carol, StatusCode::NOT_FOUND),
    ] {
        for path in ["/dashboard/applications", NEW, page.as_str()] {
            let shown = browser.get(&format!("{path}?team={team}")).await;
            assert_eq!(shown.status, expected, "{who} GET {path}");
            assert!(
                !shown.body.contains(&id) || path == page,
                "{who} sees no client id"
            );
        }
        for (path, fields) in &forms {
            let mut all = fields.clone();
            all.push(("team", &team));
            let answer = act(browser, path, &all).await;
            assert_eq!(
                answer.status, expected,
                "{who} POST {path}: {}",
                answer.body
            );
        }
    }
    let member_page = bob
        .get(&format!("/dashboard/applications?team={team}"))
        .await;
    assert!(member_page.body.contains("Only administrators can do this"));

    // Alice names Globex's application in her own team's URLs: as unknown as a made-up id.
    for path in [
        format!("/dashboard/applications/{their_id}?team={team}"),
        format!("/dashboard/applications/no-such-app?team={team}"),
    ] {
        let answer = alice.get(&path).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{path}");
        assert!(!answer.body.contains("Globex desk"));
    }
    for path in [
        format!("/dashboard/applications/{their_id}/remove"),
        format!("/dashboard/applications/{their_id}/secret"),
    ] {
        let answer = act(
            &alice,
            &path,
            &[("team", &team), ("confirm", "yes"), ("grace", "none")],
        )
        .await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{path}");
    }
    // Nothing was changed by anyone: both secrets still work, both applications are listed.
    assert!(authenticates(&p, &id, &secret).await);
    let listed = carol.get("/dashboard/applications").await;
    assert!(listed.body.contains("Globex desk"), "{}", listed.body);
}

on_both_databases!(the_operator_rotates_any_clients_secret_from_the_command_line);
async fn the_operator_rotates_any_clients_secret_from_the_command_line(db: TestDb) {
    let p = provider(&db, |_| {}).await;
    let created = create_client(
        &db,
        &p.app,
        &["--name", "Backend", "--redirect-uri", REDIRECT_URI],
    );
    let id = created["client_id"].as_str().unwrap().to_owned();
    let first = created["client_secret"].as_str().unwrap().to_owned();
    let rotate = |grace: &str| {
        let args = ["client", "rotate-secret", id.as_str(), "--grace", grace];
        crate::harness::cli_json(&db, &p.app, &args)
    };

    let kept = rotate("1d");
    let second = kept["client_secret"].as_str().unwrap().to_owned();
    assert!(kept["previous_secret_until"].is_string(), "{kept}");
    assert!(authenticates(&p, &id, &first).await && authenticates(&p, &id, &second).await);
    let now = rotate("none");
    let third = now["client_secret"].as_str().unwrap().to_owned();
    assert!(now["previous_secret_until"].is_null(), "{now}");
    // The server trusts its copy of a client for a few seconds (as it does a deleted one).
    tokio::time::sleep(latchkey_oidc::client::CLIENT_CACHE_TTL + std::time::Duration::from_secs(1))
        .await;
    assert!(!authenticates(&p, &id, &first).await);
    assert!(!authenticates(&p, &id, &second).await);
    assert!(authenticates(&p, &id, &third).await);

    // A wrong grace is refused, saying what to give.
    let args = ["client", "rotate-secret", id.as_str(), "--grace", "2d"];
    let refused = latchkey(db.dir.path(), &cli_env(&db, &p.app), &args);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("none, 1h, 1d or 7d"),
        "{}",
        stderr(&refused)
    );
    assert!(authenticates(&p, &id, &third).await);
}

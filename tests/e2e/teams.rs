//! Teams: sign-up creates a team, join links lead through the magic link, administrators
//! manage members, every action lands once in the audit log, and team-bound clients admit
//! only their team. Who may do what is checked for every action: an administrator can, a
//! member gets 403, and someone from another team 404.

use std::collections::HashMap;

use reqwest::StatusCode;
use serde_json::Value;

use crate::browser::{Browser, Page};
use crate::harness::{TestDb, latchkey, stderr};
use crate::oidc::{
    Provider, REDIRECT_URI, Request, allow, authorize_scopes, callback, cli_env, create_client,
    jwt_payload, provider,
};
use crate::on_both_databases;

const SETTINGS: &str = "/dashboard/settings/team";

/// Runs the real CLI with `--json` and returns its answer, or panics with its stderr.
fn cli(p: &Provider, db: &TestDb, args: &[&str]) -> Value {
    crate::harness::cli_json(db, &p.app, args)
}

/// Signs up in a new browser; the person lands on the dashboard.
pub(crate) async fn register(p: &Provider, email: &str) -> Browser {
    let browser = Browser::new(&p.app.base_url);
    let asked = browser.register(email).await;
    assert_eq!(asked.location(), Some("/login/sent"), "{}", asked.body);
    let mail = p.smtp.mail_to(email).await;
    let done = browser.follow_link(&mail.link()).await;
    assert_eq!(done.location(), Some("/dashboard"), "{}", done.body);
    browser
}

/// Opens a join link, gives an address, and completes the magic link sent there.
pub(crate) async fn join(p: &Provider, url: &str, email: &str) -> (Browser, Page) {
    let browser = Browser::new(&p.app.base_url);
    let asked = browser.submit(url, url, &[("email", email)]).await;
    assert_eq!(asked.location(), Some("/login/sent"), "{}", asked.body);
    let mail = p.smtp.mail_to(email).await;
    let done = browser.follow_link(&mail.link()).await;
    (browser, done)
}

/// Posts a team form with the browser's CSRF token (read from its dashboard, so it works for
/// people who cannot open the team's page).
pub(crate) async fn act(browser: &Browser, path: &str, fields: &[(&str, &str)]) -> Page {
    let dashboard = browser.get("/dashboard").await;
    let csrf = dashboard.field("csrf");
    let mut all = fields.to_vec();
    all.push(("csrf", &csrf));
    browser.post(path, &all).await
}

/// A join link made by Alice with the CLI, lasting `ttl`.
fn join_link(p: &Provider, db: &TestDb, team: &str, ttl: &str) -> Value {
    cli(
        p,
        db,
        &[
            "join-link",
            "create",
            "--team",
            team,
            "--created-by",
            "alice@acme.test",
            "--ttl",
            ttl,
        ],
    )
}

fn members(p: &Provider, db: &TestDb, team: &str) -> Vec<Value> {
    cli(p, db, &["team", "members", "--team", team])
        .as_array()
        .expect("array")
        .clone()
}

fn member<'a>(members: &'a [Value], email: &str) -> Option<&'a Value> {
    members.iter().find(|m| m["email"] == email)
}

fn input_value(page: &Page, id: &str) -> String {
    let marker = format!("id=\"{id}\" type=\"url\" value=\"");
    let start = page
        .body
        .find(&marker)
        .unwrap_or_else(|| panic!("no {id}: {}", page.body))
        + marker.len();
    // Tera escapes `/` in attribute values, as a browser unescapes it.
    page.body[start..]
        .split('"')
        .next()
        .unwrap_or_default()
        .replace("&#x2F;", "/")
}

fn audit_counts(events: &[Value]) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for event in events {
        *counts
            .entry(event["action"].as_str().unwrap_or_default().to_owned())
            .or_default() += 1;
    }
    counts
}

on_both_databases!(administrators_manage_their_team_through_join_links);
async fn administrators_manage_their_team_through_join_links(db: TestDb) {
    let p = provider(&db, |_| {}).await;
    // Signing up creates a team named after the address's domain, with the person as its
    // administrator.
    let alice = register(&p, "alice@acme.test").await;
    let dashboard = alice.get("/dashboard").await;
    assert!(
        dashboard
            .body
            .contains("<strong>acme.test</strong> as administrator"),
        "{}",
        dashboard.body
    );
    let settings = alice.get(SETTINGS).await;
    assert_eq!(settings.status, StatusCode::OK, "{}", settings.body);
    let team = settings.field("team");
    let listed = members(&p, &db, &team);
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["role"], "administrator");
    let alice_id = listed[0]["user_id"].as_str().expect("id").to_owned();

    // A join link from the page: shown once, for at most two people.
    let created = act(
        &alice,
        "/dashboard/settings/team/join-links",
        &[
            ("team", &team),
            ("ttl_hours", "72"),
            ("max_uses", "2"),
            ("role", "member"),
        ],
    )
    .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    let web_link = input_value(&created, "new-link");
    assert!(
        web_link.starts_with(&format!("{}/join/", p.app.base_url)),
        "{web_link}"
    );

    // Lifetimes: 72h is allowed, a second more is refused, and so is a creator who is not
    // an administrator of the team.
    let cli_link = join_link(&p, &db, &team, "72h");
    let expires =
        chrono::DateTime::parse_from_rfc3339(cli_link["expires_at"].as_str().expect("expires_at"))
            .expect("RFC 3339");
    let hours = (expires.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_minutes();
    assert!(
        (71 * 60..=72 * 60).contains(&hours),
        "expires in {hours} minutes"
    );
    for (args, message) in [
        (
            vec!["--ttl", "259201s", "--created-by", "alice@acme.test"],
            "at most 72h",
        ),
        (
            vec!["--ttl", "soon", "--created-by", "alice@acme.test"],
            "is not a duration like 10m",
        ),
        (vec!["--created-by", "nobody@acme.test"], "is not a member"),
        (
            vec!["--role", "owner", "--created-by", "alice@acme.test"],
            "is not a role",
        ),
    ] {
        let mut all = vec!["join-link", "create", "--team", &team];
        all.extend(args);
        let output = latchkey(db.dir.path(), &cli_env(&db, &p.app), &all);
        assert!(!output.status.success(), "{all:?} is refused");
        assert!(
            stderr(&output).contains(message),
            "{all:?}: {}",
            stderr(&output)
        );
    }

    // Opening the link names the team; asking for the mail adds nobody; completing the
    // magic link sent to the address does.
    let page = Browser::new(&p.app.base_url).get(&web_link).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Join acme.test"), "{}", page.body);
    let bob = Browser::new(&p.app.base_url);
    let asked = bob
        .submit(&web_link, &web_link, &[("email", "bob@elsewhere.test")])
        .await;
    assert_eq!(asked.location(), Some("/login/sent"));
    let mail = p.smtp.mail_to("bob@elsewhere.test").await;
    assert!(
        mail.subject.starts_with("Join your team at"),
        "a join link's mail says what it is for: {}",
        mail.subject
    );
    assert!(
        mail.text.contains("join your team") && !mail.text.contains("acme.test"),
        "the team's name, chosen by its administrators, stays out of the mail: {}",
        mail.text
    );
    assert!(
        member(&members(&p, &db, &team), "bob@elsewhere.test").is_none(),
        "the link alone grants nothing"
    );
    let confirm = bob.get(&mail.link()).await;
    assert!(
        confirm.body.contains("join the team acme.test"),
        "{}",
        confirm.body
    );
    let joined = bob.follow_link(&mail.link()).await;
    assert_eq!(joined.location(), Some("/dashboard"), "{}", joined.body);
    let listed = members(&p, &db, &team);
    let bob_row = member(&listed, "bob@elsewhere.test").expect("bob joined");
    assert_eq!(bob_row["role"], "member");
    let bob_id = bob_row["user_id"].as_str().expect("id").to_owned();

    // Someone from another team.
    let carol = register(&p, "carol@other.test").await;
    let link_id = alice.get(SETTINGS).await.field("link");

    // The permission matrix: every action, by a member (403) and by an outsider (404).
    let actions: Vec<(&str, Vec<(&str, &str)>)> = vec![
        (
            "/dashboard/settings/team/rename",
            vec![("name", "Taken over")],
        ),
        (
            "/dashboard/settings/team/join-links",
            vec![("ttl_hours", "1")],
        ),
        (
            "/dashboard/settings/team/join-links/revoke",
            vec![("link", &link_id)],
        ),
        (
            "/dashboard/settings/team/members/role",
            vec![("user", &alice_id), ("role", "member")],
        ),
        (
            "/dashboard/settings/team/members/remove",
            vec![("user", &alice_id)],
        ),
    ];
    for (who, browser, expected) in [
        ("member", &bob, StatusCode::FORBIDDEN),
        ("outsider", &carol, StatusCode::NOT_FOUND),
    ] {
        for (path, fields) in &actions {
            let mut all = fields.clone();
            all.push(("team", &team));
            let answer = act(browser, path, &all).await;
            assert_eq!(answer.status, expected, "{who} {path}: {}", answer.body);
        }
    }
    let outsider_view = carol.get(&format!("{SETTINGS}?team={team}")).await;
    assert_eq!(outsider_view.status, StatusCode::NOT_FOUND);
    assert!(!outsider_view.body.contains("alice@acme.test"));
    let member_view = bob.get(SETTINGS).await;
    assert_eq!(member_view.status, StatusCode::OK);
    assert!(
        member_view.body.contains("alice@acme.test"),
        "members see who is in the team"
    );
    assert!(
        !member_view.body.contains("Audit log") && !member_view.body.contains("members/remove")
    );
    // Nor do the console's pages for administrators open to a member, or to someone outside.
    for (who, browser, expected) in [
        ("bob", &bob, StatusCode::FORBIDDEN),
        ("carol", &carol, StatusCode::NOT_FOUND),
    ] {
        let audit = browser
            .get(&format!("/dashboard/settings/team/audit?team={team}"))
            .await;
        assert_eq!(audit.status, expected, "{who}: {}", audit.body);
        assert!(
            !audit.body.contains("alice@acme.test"),
            "{who}: {}",
            audit.body
        );
    }

    // The last administrator can neither step down nor leave.
    for (path, fields) in [
        (
            "/dashboard/settings/team/members/role",
            vec![("user", alice_id.as_str()), ("role", "member")],
        ),
        (
            "/dashboard/settings/team/members/remove",
            vec![("user", alice_id.as_str())],
        ),
    ] {
        let mut all = fields;
        all.push(("team", &team));
        let answer = act(&alice, path, &all).await;
        assert_eq!(
            answer.status,
            StatusCode::CONFLICT,
            "{path}: {}",
            answer.body
        );
        assert!(answer.body.contains("at least one administrator"));
    }

    // Roles change both ways.
    for role in ["administrator", "member"] {
        let changed = act(
            &alice,
            "/dashboard/settings/team/members/role",
            &[("team", &team), ("user", &bob_id), ("role", role)],
        )
        .await;
        assert_eq!(changed.status, StatusCode::SEE_OTHER, "{}", changed.body);
        assert_eq!(
            member(&members(&p, &db, &team), "bob@elsewhere.test").expect("bob")["role"],
            role
        );
    }

    // A revoked link stops at once; revoking it again records nothing more.
    let cli_url = cli_link["url"].as_str().expect("url").to_owned();
    let cli_link_id = cli_link["id"].as_str().expect("id").to_owned();
    for _ in 0..2 {
        let revoked = act(
            &alice,
            "/dashboard/settings/team/join-links/revoke",
            &[("team", &team), ("link", &cli_link_id)],
        )
        .await;
        assert_eq!(revoked.status, StatusCode::SEE_OTHER, "{}", revoked.body);
    }
    let gone = Browser::new(&p.app.base_url).get(&cli_url).await;
    assert_eq!(gone.status, StatusCode::GONE);
    assert!(gone.body.contains("withdrawn"), "{}", gone.body);

    // An expired link says so.
    let short = join_link(&p, &db, &team, "1s");
    p.app.clock.advance(chrono::TimeDelta::milliseconds(1500));
    let expired = Browser::new(&p.app.base_url)
        .get(short["url"].as_str().expect("url"))
        .await;
    assert_eq!(expired.status, StatusCode::GONE);
    assert!(expired.body.contains("expired"), "{}", expired.body);

    // The web link allows two people: Dave is the second, Erin finds it used up.
    let (_, done) = join(&p, &web_link, "dave@elsewhere.test").await;
    assert_eq!(done.location(), Some("/dashboard"), "{}", done.body);
    let used_up = Browser::new(&p.app.base_url).get(&web_link).await;
    assert_eq!(used_up.status, StatusCode::GONE);
    assert!(used_up.body.contains("used up"), "{}", used_up.body);

    // Removing a member.
    let dave_id = member(&members(&p, &db, &team), "dave@elsewhere.test").expect("dave")["user_id"]
        .as_str()
        .expect("id")
        .to_owned();
    let removed = act(
        &alice,
        "/dashboard/settings/team/members/remove",
        &[("team", &team), ("user", &dave_id)],
    )
    .await;
    assert_eq!(removed.status, StatusCode::SEE_OTHER, "{}", removed.body);
    assert!(member(&members(&p, &db, &team), "dave@elsewhere.test").is_none());

    // Every action above left exactly one event, newest first; the join names the member,
    // the link and its creator.
    let events = cli(&p, &db, &["audit", "--team", &team]);
    let events = events.as_array().expect("array");
    let counts = audit_counts(events);
    let expected = [
        ("team.created", 1),
        ("join_link.created", 3),
        ("join_link.revoked", 1),
        ("member.joined", 2),
        ("member.role_changed", 2),
        ("member.removed", 1),
        ("member.signed_in", 3),
    ];
    for (action, count) in expected {
        assert_eq!(
            counts.get(action).copied().unwrap_or(0),
            count,
            "{action}: {counts:?}"
        );
    }
    assert_eq!(counts.len(), expected.len(), "no other events: {counts:?}");
    let times: Vec<&str> = events
        .iter()
        .map(|e| e["at"].as_str().expect("at"))
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {times:?}"
    );
    let bob_joined = events
        .iter()
        .find(|e| e["action"] == "member.joined" && e["subject"] == "bob@elsewhere.test")
        .expect("bob's join");
    assert_eq!(bob_joined["actor"], "bob@elsewhere.test");
    assert_eq!(
        bob_joined["details"]["join_link_created_by"],
        "alice@acme.test"
    );
    assert!(bob_joined["details"]["join_link_id"].is_string());
    assert!(!bob_joined["ip"].as_str().unwrap_or_default().is_empty());
    let member_events = cli(&p, &db, &["audit", "--team", &team, "--action", "member."]);
    assert!(member_events.as_array().expect("array").iter().all(|e| {
        e["action"]
            .as_str()
            .unwrap_or_default()
            .starts_with("member.")
    }));
    // Administrators read it on the team page and the audit page too, as sentences with
    // readable details, never raw JSON.
    for path in [SETTINGS, "/dashboard/settings/team/audit"] {
        let page = alice.get(&format!("{path}?action=member.removed")).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        assert!(
            page.body
                .contains("alice@acme.test removed dave@elsewhere.test from the team")
                && !page.body.contains("<code>member.joined</code></p>")
                && !page.body.contains("{&quot;"),
            "{}",
            page.body
        );
    }
    p.app.stop().await;
}

/// Consent to the `team` scope is for the team it was given in (I4): after switching teams, a
/// client that was allowed to see one team is asked about before it learns of the other.
async fn consent_to_the_team_scope_is_for_one_team(db: TestDb) {
    let p = provider(&db, |_| {}).await;
    let alice = register(&p, "alice@acme.test").await;
    let acme = alice.get(SETTINGS).await.field("team");
    let link = cli(
        &p,
        &db,
        &[
            "join-link",
            "create",
            "--team",
            &acme,
            "--created-by",
            "alice@acme.test",
        ],
    );
    let carol = register(&p, "carol@other.test").await;
    let own = carol.get(SETTINGS).await.field("team");
    let joined = carol
        .submit(
            link["url"].as_str().expect("url"),
            link["url"].as_str().expect("url"),
            &[("email", "carol@other.test")],
        )
        .await;
    assert_eq!(joined.location(), Some("/login/sent"), "{}", joined.body);
    let mail = p
        .smtp
        .nth_mail_to("carol@other.test", 2, std::time::Duration::from_secs(10))
        .await;
    carol.follow_link(&mail.link()).await;
    let client = create_client(
        &db,
        &p.app,
        &[
            "--name",
            "Wiki",
            "--redirect-uri",
            REDIRECT_URI,
            "--scope",
            "openid,email,team",
        ],
    );
    let (id, secret) = (
        client["client_id"].as_str().expect("id").to_owned(),
        client["client_secret"].as_str().expect("secret").to_owned(),
    );
    let rp = p.rp(&id, Some(&secret));
    let team_claim = async |params: &std::collections::HashMap<String, String>,
                            request: &Request| {
        let tokens = p.exchange((&id, &secret), &params["code"], request).await;
        jwt_payload(tokens["id_token"].as_str().expect("id_token"))["team_id"].clone()
    };
    let switch_to = async |team: &str| {
        let switched = act(&carol, "/dashboard/team", &[("team", team)]).await;
        assert_eq!(switched.status, StatusCode::SEE_OTHER, "{}", switched.body);
    };

    // Working in Acme (the join put her there): asked once, then remembered.
    let request = authorize_scopes(&rp, &["email", "team"], &[]);
    let consent = carol.get(&request.url).await;
    let params = callback(&allow(&carol, &consent).await);
    assert_eq!(team_claim(&params, &request).await, acme.as_str());
    let request = authorize_scopes(&rp, &["email", "team"], &[]);
    let params = callback(&carol.get(&request.url).await);
    assert_eq!(
        team_claim(&params, &request).await,
        acme.as_str(),
        "remembered for Acme"
    );

    // In her own team, the client has not been allowed to know about it: asked again.
    switch_to(&own).await;
    let request = authorize_scopes(&rp, &["email", "team"], &[]);
    let consent = carol.get(&request.url).await;
    assert_eq!(
        consent.status,
        StatusCode::OK,
        "the consent page, not a silent code"
    );
    let params = callback(&allow(&carol, &consent).await);
    assert_eq!(team_claim(&params, &request).await, own.as_str());
    // Back in Acme, what she allowed there still stands.
    switch_to(&acme).await;
    let request = authorize_scopes(&rp, &["email", "team"], &[]);
    let params = callback(&carol.get(&request.url).await);
    assert_eq!(team_claim(&params, &request).await, acme.as_str());
    p.app.stop().await;
}
on_both_databases!(consent_to_the_team_scope_is_for_one_team);

on_both_databases!(team_bound_clients_admit_only_members_and_removal_ends_access);
async fn team_bound_clients_admit_only_members_and_removal_ends_access(db: TestDb) {
    let p = provider(&db, |_| {}).await;
    let alice = register(&p, "alice@acme.test").await;
    let team = alice.get(SETTINGS).await.field("team");
    let link = cli(
        &p,
        &db,
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
    let client = create_client(
        &db,
        &p.app,
        &[
            "--name",
            "Helpdesk",
            "--team",
            &team,
            "--redirect-uri",
            REDIRECT_URI,
            "--scope",
            "openid,email,team,offline_access",
        ],
    );
    let (id, secret) = (
        client["client_id"].as_str().expect("id").to_owned(),
        client["client_secret"].as_str().expect("secret").to_owned(),
    );
    let events = cli(
        &p,
        &db,
        &["audit", "--team", &team, "--action", "client.created"],
    );
    assert_eq!(events.as_array().expect("array").len(), 1, "{events}");
    let rp = p.rp(&id, Some(&secret));

    // Someone outside the team is sent back to the client with access_denied (and iss).
    let request = authorize_scopes(&rp, &["email", "team"], &[]);
    let refused = callback(&carol.get(&request.url).await);
    assert_eq!(refused["error"], "access_denied");
    assert_eq!(refused["state"], *request.state.secret());
    assert_eq!(refused["iss"], p.app.base_url);

    // A member gets the team's claims in the ID token and at userinfo.
    let request = authorize_scopes(&rp, &["email", "team", "offline_access"], &[]);
    let consent = bob.get(&request.url).await;
    let params = callback(&allow(&bob, &consent).await);
    let tokens = p.exchange((&id, &secret), &params["code"], &request).await;
    let id_token = jwt_payload(tokens["id_token"].as_str().expect("id_token"));
    assert_eq!(id_token["team_id"], team);
    assert_eq!(id_token["team_name"], "acme.test");
    assert_eq!(id_token["team_role"], "member");
    let access = tokens["access_token"].as_str().expect("access").to_owned();
    let refresh = tokens["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_owned();
    let userinfo = p
        .app
        .http
        .get(p.app.url("/userinfo"))
        .bearer_auth(&access)
        .send()
        .await
        .expect("userinfo");
    assert_eq!(userinfo.status(), StatusCode::OK);
    let info: Value = userinfo.json().await.expect("json");
    assert_eq!(info["team_id"], team);
    assert_eq!(info["team_role"], "member");

    // A second sign-in without offline_access: its access token has no grant row behind it.
    let request = authorize_scopes(&rp, &["email", "team"], &[]);
    let params = callback(&bob.get(&request.url).await);
    let short_lived = p.exchange((&id, &secret), &params["code"], &request).await;
    assert!(short_lived.get("refresh_token").is_none());
    let access_only = short_lived["access_token"]
        .as_str()
        .expect("access")
        .to_owned();
    assert_eq!(
        p.introspect((&id, &secret), &access_only).await["active"],
        true
    );

    // Removing Bob ends his access at once: the refresh token, both access tokens, and his
    // session's hold on the team.
    let bob_id = id_token["sub"].as_str().expect("sub").to_owned();
    let removed = act(
        &alice,
        "/dashboard/settings/team/members/remove",
        &[("team", &team), ("user", &bob_id)],
    )
    .await;
    assert_eq!(removed.status, StatusCode::SEE_OTHER, "{}", removed.body);
    let (status, body) = p
        .token(
            (&id, &secret),
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "invalid_grant");
    let userinfo = p
        .app
        .http
        .get(p.app.url("/userinfo"))
        .bearer_auth(&access)
        .send()
        .await
        .expect("userinfo");
    assert_eq!(userinfo.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(p.introspect((&id, &secret), &access).await["active"], false);
    assert_eq!(
        p.introspect((&id, &secret), &access_only).await["active"],
        false
    );
    assert!(bob.get("/dashboard").await.body.contains("not in a team"));
    let request = authorize_scopes(&rp, &["email", "team"], &[]);
    assert_eq!(
        callback(&bob.get(&request.url).await)["error"],
        "access_denied"
    );
    p.app.stop().await;
}

on_both_databases!(concurrent_join_redemptions_never_exceed_the_maximum);
async fn concurrent_join_redemptions_never_exceed_the_maximum(db: TestDb) {
    let p = provider(&db, |cfg| cfg.http.rate_limit_per_ip = 1000).await;
    let _alice = register(&p, "alice@acme.test").await;
    let team = cli(
        &p,
        &db,
        &[
            "team",
            "create",
            "--name",
            "Five seats",
            "--admin",
            "owner@acme.test",
        ],
    )["team_id"]
        .as_str()
        .expect("team_id")
        .to_owned();
    let link = cli(
        &p,
        &db,
        &[
            "join-link",
            "create",
            "--team",
            &team,
            "--created-by",
            "owner@acme.test",
            "--max-uses",
            "5",
        ],
    );
    let url = link["url"].as_str().expect("url").to_owned();
    // Twenty people ask for their mail first, then all confirm at once.
    let mut ready = Vec::new();
    for n in 0..20 {
        let email = format!("person{n}@crowd.test");
        let browser = Browser::new(&p.app.base_url);
        let asked = browser.submit(&url, &url, &[("email", &email)]).await;
        assert_eq!(asked.location(), Some("/login/sent"), "{}", asked.body);
        let mail = p.smtp.mail_to(&email).await;
        let confirm = browser.get(&mail.link()).await;
        assert_eq!(confirm.status, StatusCode::OK, "{}", confirm.body);
        ready.push((browser, confirm.field("token"), confirm.field("csrf")));
    }
    let mut tasks = tokio::task::JoinSet::new();
    for (browser, token, csrf) in ready {
        tasks.spawn(async move {
            browser
                .post("/login/verify", &[("token", &token), ("csrf", &csrf)])
                .await
                .status
        });
    }
    let mut outcomes = HashMap::new();
    while let Some(status) = tasks.join_next().await {
        *outcomes.entry(status.expect("task")).or_insert(0) += 1;
    }
    assert_eq!(
        outcomes.get(&StatusCode::SEE_OTHER),
        Some(&5),
        "{outcomes:?}"
    );
    assert_eq!(outcomes.get(&StatusCode::GONE), Some(&15), "{outcomes:?}");
    let listed = members(&p, &db, &team);
    assert_eq!(listed.len(), 6, "the owner and five: {listed:?}");
    let joined = cli(
        &p,
        &db,
        &["audit", "--team", &team, "--action", "member.joined"],
    );
    assert_eq!(joined.as_array().expect("array").len(), 5);
    p.app.stop().await;
}

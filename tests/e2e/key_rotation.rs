//! The key lifecycle across the CLI and replicas: next → active → retired → unpublished.

use std::time::Duration;

use chrono::{TimeDelta, Utc};
use latchkey_keys::SigningAlgorithm;
use latchkey_server::duration::Ttl;

use crate::harness::{TestApp, TestDb, config, eventually, latchkey, master_key, stderr, stdout};
use crate::on_both_databases;

/// Runs `latchkey keys COMMAND --json` on the test's database with the same key settings as
/// the providers (an operator's CLI reads the same configuration as the servers).
fn keys_json(
    db: &TestDb,
    master_key: &str,
    command: &str,
    publish_ahead: &str,
) -> Vec<serde_json::Value> {
    let output = latchkey(
        db.dir.path(),
        &[
            ("LATCHKEY_DATABASE_URL", &db.url),
            ("LATCHKEY_KEYS__MASTER_KEY", master_key),
            ("LATCHKEY_KEYS__PUBLISH_AHEAD", publish_ahead),
            ("LATCHKEY_KEYS__JWKS_CACHE", "1s"),
            ("LATCHKEY_KEYS__RETIRED_TTL", "3s"),
            ("LATCHKEY_LOGIN__MAGIC_LINK_TTL", "2s"),
            ("LATCHKEY_TOKENS__ACCESS_TOKEN_TTL", "2s"),
            ("LATCHKEY_TOKENS__ID_TOKEN_TTL", "2s"),
            ("LATCHKEY_TOKENS__CODE_TTL", "2s"),
        ],
        &["keys", command, "--json"],
    );
    assert!(
        output.status.success(),
        "keys {command}: {}",
        stderr(&output)
    );
    serde_json::from_str(&stdout(&output)).expect("stdout is one JSON array")
}

fn fast_rotation(db: &TestDb, master_key: &str) -> latchkey_server::config::Config {
    let mut cfg = config(db, master_key);
    cfg.keys.jwks_cache = Ttl::parse("1s").unwrap();
    cfg.keys.publish_ahead = Ttl::parse("1s").unwrap();
    cfg.keys.retired_ttl = Ttl::parse("3s").unwrap();
    // Nothing a retired key signed may outlive it: links and tokens live less than
    // keys.retired_ttl.
    cfg.login.magic_link_ttl = Ttl::parse("2s").unwrap();
    cfg.tokens.access_token_ttl = Ttl::parse("2s").unwrap();
    cfg.tokens.id_token_ttl = Ttl::parse("2s").unwrap();
    cfg.tokens.code_ttl = Ttl::parse("2s").unwrap();
    cfg
}

async fn keys_list_shows_each_algorithms_active_and_next_key(db: TestDb) {
    let key = master_key();
    let app = TestApp::spawn(config(&db, &key)).await;
    let listed = keys_json(&db, &key, "list", "1d");
    assert_eq!(listed.len(), 4);
    for alg in ["ES256", "RS256"] {
        let states: Vec<&str> = listed
            .iter()
            .filter(|k| k["algorithm"] == alg)
            .map(|k| k["state"].as_str().unwrap())
            .collect();
        assert_eq!(
            states.iter().filter(|s| **s == "active").count(),
            1,
            "{alg}: {states:?}"
        );
        assert_eq!(
            states.iter().filter(|s| **s == "next").count(),
            1,
            "{alg}: {states:?}"
        );
    }
    let active = listed
        .iter()
        .find(|k| k["state"] == "active" && k["algorithm"] == "ES256")
        .unwrap();
    let next = listed
        .iter()
        .find(|k| k["state"] == "next" && k["algorithm"] == "ES256")
        .unwrap();
    assert_eq!(
        active["retires_at"], next["activates_at"],
        "the active key retires when the next one activates"
    );
    for field in ["created_at", "activates_at"] {
        chrono::DateTime::parse_from_rfc3339(active[field].as_str().unwrap())
            .expect("RFC 3339 time");
    }
    assert_eq!(
        Some(active["kid"].as_str().unwrap()),
        app.ring()
            .active(SigningAlgorithm::Es256, Utc::now())
            .map(|k| k.kid.as_str()),
        "the listed active key is the one that signs"
    );
    let mut published: Vec<String> = listed
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect();
    published.sort();
    assert_eq!(
        app.published_kids().await,
        published,
        "next keys are published before they sign"
    );
    app.stop().await;
}
on_both_databases!(keys_list_shows_each_algorithms_active_and_next_key);

async fn two_replicas_serve_one_jwks_and_follow_a_rotation_made_through_the_cli(db: TestDb) {
    let key = master_key();
    let a = TestApp::spawn(fast_rotation(&db, &key)).await;
    let b = TestApp::spawn(fast_rotation(&db, &key)).await;
    assert_eq!(
        a.published_kids().await,
        b.published_kids().await,
        "replicas publish the same keys"
    );
    let now = Utc::now();
    let active_a = a
        .ring()
        .active(SigningAlgorithm::Es256, now)
        .map(|k| k.kid.clone());
    assert_eq!(
        active_a,
        b.ring()
            .active(SigningAlgorithm::Es256, now)
            .map(|k| k.kid.clone())
    );

    // Let the next keys be public for keys.publish_ahead, so the rotation takes effect at once.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let changed = keys_json(&db, &key, "rotate", "1s");
    let promoted = changed
        .iter()
        .find(|k| k["algorithm"] == "ES256" && k["state"] == "active")
        .unwrap_or_else(|| panic!("the ES256 next key became active: {changed:?}"))["kid"]
        .as_str()
        .unwrap()
        .to_owned();
    let created = changed
        .iter()
        .find(|k| k["algorithm"] == "ES256" && k["state"] == "next")
        .unwrap_or_else(|| panic!("a new ES256 next key was published: {changed:?}"))["kid"]
        .as_str()
        .unwrap()
        .to_owned();

    // Within the JWKS cache period both replicas publish the new key and sign with the promoted one.
    for replica in [&a, &b] {
        let followed = eventually(Duration::from_secs(2), || async {
            replica.published_kids().await.contains(&created)
                && replica
                    .ring()
                    .active(SigningAlgorithm::Es256, Utc::now())
                    .map(|k| k.kid.clone())
                    .as_ref()
                    == Some(&promoted)
        })
        .await;
        assert!(
            followed,
            "replica {} did not follow the rotation within the cache period",
            replica.addr
        );
    }
    // Each replica reloads on its own one-second timer, so for an instant one may already have
    // dropped a retired key that the other still shows: they agree within the cache period.
    let agree = eventually(Duration::from_secs(2), || async {
        a.published_kids().await == b.published_kids().await
    })
    .await;
    assert!(agree, "the replicas publish the same keys");

    // A token signed by one replica verifies against the other's JWKS.
    let now = Utc::now();
    let claims = serde_json::json!({"iss": "t", "aud": "t", "exp": (now + TimeDelta::minutes(1)).timestamp()});
    let token = a
        .ring()
        .sign(SigningAlgorithm::Es256, "JWT", &claims, now)
        .unwrap();
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.kid.as_deref(), Some(promoted.as_str()));
    let b_jwks: jsonwebtoken::jwk::JwkSet = serde_json::from_value(b.jwks().await).unwrap();
    let jwk = b_jwks
        .find(&promoted)
        .expect("replica b publishes the key replica a signs with");
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.set_audience(&["t"]);
    jsonwebtoken::decode::<serde_json::Value>(
        &token,
        &jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap(),
        &validation,
    )
    .expect("verifies with the other replica's JWKS");

    // The retired key stays published for keys.retired_ttl, then leaves every replica's JWKS.
    let retired = active_a.unwrap();
    assert!(
        a.published_kids().await.contains(&retired),
        "a just-retired key is still published"
    );
    for replica in [&a, &b] {
        let dropped = eventually(Duration::from_secs(6), || async {
            !replica.published_kids().await.contains(&retired)
        })
        .await;
        assert!(
            dropped,
            "the retired key left replica {}'s JWKS after keys.retired_ttl",
            replica.addr
        );
    }
    a.stop().await;
    b.stop().await;
}
on_both_databases!(two_replicas_serve_one_jwks_and_follow_a_rotation_made_through_the_cli);

async fn a_rotation_waits_until_the_next_key_has_been_published_for_publish_ahead(db: TestDb) {
    let key = master_key();
    let mut cfg = config(&db, &key);
    cfg.keys.publish_ahead = Ttl::parse("1h").unwrap();
    let app = TestApp::spawn(cfg).await;
    let changed = keys_json(&db, &key, "rotate", "1h");
    let waiting = changed
        .iter()
        .find(|k| k["algorithm"] == "ES256" && k["state"] == "next" && k["retires_at"].is_string())
        .unwrap_or_else(|| panic!("the promoted key waits as next: {changed:?}"));
    let activates =
        chrono::DateTime::parse_from_rfc3339(waiting["activates_at"].as_str().unwrap()).unwrap();
    let created =
        chrono::DateTime::parse_from_rfc3339(waiting["created_at"].as_str().unwrap()).unwrap();
    assert_eq!(
        activates - created,
        TimeDelta::hours(1),
        "it activates once it has been public for an hour"
    );
    let still_active = app
        .ring()
        .active(SigningAlgorithm::Es256, Utc::now())
        .unwrap()
        .kid
        .clone();
    assert_ne!(
        still_active,
        waiting["kid"].as_str().unwrap(),
        "it does not sign before then"
    );
    app.stop().await;
}
on_both_databases!(a_rotation_waits_until_the_next_key_has_been_published_for_publish_ahead);

#[tokio::test]
async fn keys_sealed_under_another_master_key_stop_startup_with_a_clear_message() {
    let db = TestDb::sqlite();
    let app = TestApp::spawn(config(&db, &master_key())).await;
    app.stop().await;
    let settings = config(&db, &master_key()).check().unwrap();
    let error = match latchkey_server::serve::start(&settings).await {
        Ok(_) => panic!("a provider must not start with keys it cannot open"),
        Err(error) => error.to_string(),
    };
    assert!(
        error.contains("another master key") && error.contains("keys.master_key"),
        "{error}"
    );
}

#[tokio::test]
async fn private_keys_are_stored_sealed() {
    use latchkey_keys::entities::signing_key;
    use sea_orm::EntityTrait;
    let db = TestDb::sqlite();
    let app = TestApp::spawn(config(&db, &master_key())).await;
    app.stop().await;
    let connection = sea_orm::Database::connect(&db.url).await.unwrap();
    let rows = signing_key::Entity::find().all(&connection).await.unwrap();
    assert_eq!(rows.len(), 4);
    for row in rows {
        let as_text = String::from_utf8_lossy(&row.sealed_private_key);
        assert!(!as_text.contains("PRIVATE KEY"), "no PEM at rest");
        // PKCS#8 DER starts with a SEQUENCE tag (0x30); a sealed key starts with a random nonce
        // and is 12 + 16 bytes longer than the DER it seals.
        assert!(row.sealed_private_key.len() > 28);
        assert!(
            !row.public_jwk.contains("\"d\""),
            "the stored JWK is public only"
        );
    }
}

#[test]
fn listing_keys_needs_no_master_key_and_creates_none() {
    let db = TestDb::sqlite();
    let output = latchkey(
        db.dir.path(),
        &[("LATCHKEY_DATABASE_URL", &db.url)],
        &["keys", "list"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("no signing keys yet"),
        "{}",
        stdout(&output)
    );
    assert!(
        !db.dir.path().join("var/master.key").exists(),
        "listing must not generate a master key"
    );
}

/// The master key is changed without losing anything (I2): with the new key and the old one
/// configured, `keys rotate-master` seals every signing key, waiting mail and connection client
/// secret anew, after which
/// the new key alone opens everything and the old one nothing.
#[tokio::test]
async fn the_master_key_is_changed_with_rotate_master() {
    let db = TestDb::sqlite();
    let (old, new) = (master_key(), master_key());
    let mut cfg = config(&db, &old);
    // Mail cannot leave, so one waits in the outbox, sealed under the old key.
    let smtp = crate::smtp::SmtpSink::down().await;
    cfg.mail.smtp_url = smtp.url();
    let app = TestApp::spawn(cfg).await;
    crate::browser::Browser::new(&app.base_url)
        .register("waiting@example.com")
        .await;
    // A team's identity provider, its client secret sealed under the old key.
    let op = crate::upstream::UpstreamOp::start(serde_json::json!({})).await;
    let team = crate::browser_sign_on::create_team(&db, &app, "admin@acme.example");
    let connection = crate::upstream::add_connection(&db, &app, &old, &op, &team, &[]).await;
    let connection = connection["connection_id"].as_str().expect("id").to_owned();
    app.stop().await;

    let rotate = |keys: &[(&str, &str)]| {
        let mut env = vec![("LATCHKEY_DATABASE_URL", db.url.as_str())];
        env.extend_from_slice(keys);
        latchkey(db.dir.path(), &env, &["keys", "rotate-master", "--json"])
    };
    let alone = rotate(&[("LATCHKEY_KEYS__MASTER_KEY", &new)]);
    assert!(!alone.status.success());
    assert!(
        stderr(&alone).contains("keys.previous_master_key"),
        "{}",
        stderr(&alone)
    );
    let done = rotate(&[
        ("LATCHKEY_KEYS__MASTER_KEY", &new),
        ("LATCHKEY_KEYS__PREVIOUS_MASTER_KEY", &old),
    ]);
    assert!(done.status.success(), "{}", stderr(&done));
    let counts: serde_json::Value = serde_json::from_str(&stdout(&done)).expect("json");
    assert_eq!(counts["signing_keys"], 4, "{counts}");
    assert_eq!(counts["mails"], 1, "{counts}");
    assert_eq!(counts["connection_secrets"], 1, "{counts}");

    // The new key alone opens the client secret: the sign-in goes to the provider.
    let app = TestApp::spawn(config(&db, &new)).await;
    let browser = crate::browser::Browser::new(&app.base_url);
    let sent = crate::upstream::start(&browser, &[("connection", &connection)]).await;
    assert_eq!(sent.status, reqwest::StatusCode::SEE_OTHER, "{}", sent.body);
    assert!(
        sent.location().is_some_and(|to| to.starts_with(&op.issuer)),
        "{:?}",
        sent.location()
    );
    app.stop().await;
    let settings = config(&db, &old).check().expect("settings");
    assert!(
        latchkey_server::serve::start(&settings).await.is_err(),
        "the old key opens nothing any more"
    );
}

/// What the JWKS publishes is derived from the sealed private key (I11): a public key swapped
/// in the table stops start-up rather than being published.
#[tokio::test]
async fn a_published_key_that_does_not_match_its_private_key_stops_startup() {
    use latchkey_keys::entities::signing_key;
    use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait};
    let db = TestDb::sqlite();
    let key = master_key();
    let app = TestApp::spawn(config(&db, &key)).await;
    app.stop().await;
    let connection = sea_orm::Database::connect(&db.url).await.expect("db");
    let rows = signing_key::Entity::find()
        .all(&connection)
        .await
        .expect("rows");
    let same_algorithm = rows
        .iter()
        .find(|r| r.kid != rows[0].kid && r.algorithm == rows[0].algorithm)
        .expect("two keys of one algorithm");
    let mut swapped: signing_key::ActiveModel = rows[0].clone().into();
    swapped.public_jwk = Set(same_algorithm.public_jwk.clone());
    swapped.update(&connection).await.expect("update");
    let settings = config(&db, &key).check().expect("settings");
    let error = match latchkey_server::serve::start(&settings).await {
        Ok(_) => panic!("a swapped public key must not be published"),
        Err(error) => error.to_string(),
    };
    assert!(error.contains("does not match"), "{error}");
}

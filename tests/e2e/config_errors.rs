//! A provider that is misconfigured refuses to start and says which key to fix and how.

use crate::harness::{TestDb, latchkey, stderr, write_file};

fn refuses(env: &[(&str, &str)], args: &[&str], expected: &[&str]) {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = latchkey(dir.path(), env, args);
    let message = stderr(&output);
    assert!(
        !output.status.success(),
        "latchkey {args:?} with {env:?} should fail, printed: {message}"
    );
    for fragment in expected {
        assert!(
            message.contains(fragment),
            "expected {fragment:?} in the error, got: {message}"
        );
    }
    assert!(
        !message.contains("panicked"),
        "a configuration error must not panic: {message}"
    );
}

#[test]
fn an_issuer_that_is_not_an_absolute_url_is_refused() {
    refuses(
        &[("LATCHKEY_ISSUER", "id.example.com")],
        &["migrate"],
        &["issuer", "not an absolute URL"],
    );
    refuses(
        &[("LATCHKEY_ISSUER", "https://id.example.com/?tenant=1")],
        &["migrate"],
        &["issuer", "query"],
    );
    // Over plain http, cookies cannot be Secure: only this machine may be reached that way.
    refuses(
        &[("LATCHKEY_ISSUER", "http://id.example.com")],
        &["migrate"],
        &["issuer", "use https", "issuer_insecure_ok"],
    );
}

#[test]
fn a_listen_address_that_is_not_a_socket_address_is_refused() {
    refuses(
        &[("LATCHKEY_LISTEN", "localhost")],
        &["serve"],
        &["listen", "not a socket address"],
    );
}

#[test]
fn a_database_pool_of_one_and_a_long_shutdown_delay_are_refused() {
    refuses(
        &[("LATCHKEY_DATABASE_MAX_CONNECTIONS", "1")],
        &["migrate"],
        &["database_max_connections", "from 2 to 1000"],
    );
    refuses(
        &[("LATCHKEY_HTTP__SHUTDOWN_DELAY", "5m")],
        &["migrate"],
        &["http.shutdown_delay", "at most 60s"],
    );
}

#[test]
fn connection_limits_and_the_assertion_audience_outside_their_ranges_are_refused() {
    refuses(
        &[("LATCHKEY_HTTP__IDLE_TIMEOUT", "0s")],
        &["migrate"],
        &["http.idle_timeout", "from 1s to 10m"],
    );
    refuses(
        &[("LATCHKEY_HTTP__MAX_CONNECTIONS_PER_IP", "0")],
        &["migrate"],
        &["http.max_connections_per_ip", "from 1 to 10000"],
    );
    refuses(
        &[(
            "LATCHKEY_OAUTH__CLIENT_ASSERTION_AUDIENCE",
            "token-endpoint",
        )],
        &["migrate"],
        &[
            "oauth.client_assertion_audience",
            "not issuer-or-endpoint",
            "FAPI 2.0",
        ],
    );
}

#[test]
fn a_trusted_proxy_that_is_not_an_address_or_cidr_is_refused() {
    refuses(
        &[(
            "LATCHKEY_HTTP__TRUSTED_PROXIES",
            r#"["10.0.0.0/8", "proxy.internal"]"#,
        )],
        &["serve"],
        &[
            "http.trusted_proxies",
            "\"proxy.internal\" is not an address or CIDR",
        ],
    );
}

#[test]
fn an_unreachable_database_is_named_with_the_drivers_reason_and_no_password() {
    refuses(
        &[(
            "LATCHKEY_DATABASE_URL",
            "postgres://latchkey:hunter2@127.0.0.1:1/latchkey",
        )],
        &["migrate"],
        &[
            "database_url",
            "cannot connect to postgres://latchkey:***@127.0.0.1:1/latchkey",
        ],
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let output = latchkey(
        dir.path(),
        &[(
            "LATCHKEY_DATABASE_URL",
            "postgres://latchkey:hunter2@127.0.0.1:1/latchkey",
        )],
        &["migrate"],
    );
    assert!(
        !stderr(&output).contains("hunter2"),
        "the password must not be printed"
    );
    refuses(
        &[("LATCHKEY_DATABASE_URL", "mysql://localhost/latchkey")],
        &["migrate"],
        &["database_url", "sqlite://"],
    );
}

#[test]
fn a_bad_duration_or_unknown_key_in_the_file_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad_duration = write_file(
        dir.path(),
        "duration.toml",
        "[keys]\nrotation_period = \"soon\"\n",
    );
    refuses(
        &[],
        &["--config", bad_duration.to_str().unwrap(), "migrate"],
        &["rotation_period", "10m, 72h, 30d or 2s"],
    );

    let typo = write_file(
        dir.path(),
        "typo.toml",
        "[keys]\nrotaton_period = \"30d\"\n",
    );
    refuses(
        &[],
        &["migrate", "--config", typo.to_str().unwrap()],
        &["unknown field", "rotaton_period"],
    );

    refuses(
        &[],
        &["--config", "/nonexistent/latchkey.toml", "migrate"],
        &["/nonexistent/latchkey.toml", "does not exist"],
    );
}

#[test]
fn a_master_key_that_is_not_32_bytes_of_base64_is_refused() {
    refuses(
        &[("LATCHKEY_KEYS__MASTER_KEY", "c2hvcnQ=")],
        &["migrate"],
        &["keys.master_key", "32"],
    );
}

#[test]
fn keys_published_for_less_than_the_jwks_cache_period_are_refused() {
    refuses(
        &[
            ("LATCHKEY_KEYS__PUBLISH_AHEAD", "1m"),
            ("LATCHKEY_KEYS__JWKS_CACHE", "5m"),
        ],
        &["migrate"],
        &["keys.publish_ahead", "keys.jwks_cache"],
    );
}

#[test]
fn the_repository_configuration_file_documents_valid_defaults() {
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/../../config/latchkey.toml");
    let db = TestDb::sqlite();
    let output = latchkey(
        db.dir.path(),
        &[("LATCHKEY_DATABASE_URL", &db.url)],
        &["--config", file, "migrate", "--json"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let printed: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("one JSON value on stdout");
    assert_eq!(printed["migrated"], true);
}

#[test]
fn help_describes_every_command() {
    let dir = tempfile::tempdir().expect("tempdir");
    let help = crate::harness::stdout(&latchkey(dir.path(), &[], &["--help"]));
    for command in ["serve", "migrate", "keys", "--config", "--json"] {
        assert!(
            help.contains(command),
            "--help should mention {command}: {help}"
        );
    }
    let keys_help = crate::harness::stdout(&latchkey(dir.path(), &[], &["keys", "--help"]));
    assert!(
        keys_help.contains("list") && keys_help.contains("rotate"),
        "{keys_help}"
    );
}

#[test]
fn a_retired_key_must_outlive_every_link_it_signed() {
    refuses(
        &[
            ("LATCHKEY_KEYS__RETIRED_TTL", "5m"),
            ("LATCHKEY_LOGIN__MAGIC_LINK_TTL", "10m"),
        ],
        &["migrate"],
        &["keys.retired_ttl", "login.magic_link_ttl"],
    );
}

#[test]
fn a_master_key_file_others_may_read_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("var")).expect("var");
    let key = write_file(
        &dir.path().join("var"),
        "master.key",
        &crate::harness::master_key(),
    );
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let env = [("LATCHKEY_DATABASE_URL", "sqlite://var/latchkey.db?mode=rwc")];
    let output = latchkey(dir.path(), &env, &["keys", "rotate"]);
    let message = stderr(&output);
    assert!(!output.status.success(), "{message}");
    assert!(message.contains("chmod 600"), "{message}");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let output = latchkey(dir.path(), &env, &["keys", "rotate"]);
    assert!(output.status.success(), "{}", stderr(&output));
}

/// The master key from a mounted secret: read at start, and refused when missing, bad, or
/// given twice.
#[test]
fn the_master_key_may_come_from_a_file() {
    let db = TestDb::sqlite();
    let key = crate::harness::master_key();
    let secret = write_file(db.dir.path(), "master-key", &format!("{key}\n"));
    let secret = secret.to_str().expect("path");
    let from_file = latchkey(
        db.dir.path(),
        &[
            ("LATCHKEY_DATABASE_URL", db.url.as_str()),
            ("LATCHKEY_KEYS__MASTER_KEY_FILE", secret),
        ],
        &["keys", "rotate", "--json"],
    );
    assert!(from_file.status.success(), "{}", stderr(&from_file));
    let bad = write_file(db.dir.path(), "bad-key", "c2hvcnQ=");
    refuses(
        &[(
            "LATCHKEY_KEYS__MASTER_KEY_FILE",
            bad.to_str().expect("path"),
        )],
        &["migrate"],
        &["keys.master_key", "32"],
    );
    refuses(
        &[("LATCHKEY_KEYS__MASTER_KEY_FILE", "/nonexistent/master-key")],
        &["migrate"],
        &["keys.master_key_file", "/nonexistent/master-key"],
    );
    refuses(
        &[
            ("LATCHKEY_KEYS__MASTER_KEY_FILE", secret),
            ("LATCHKEY_KEYS__MASTER_KEY", key.as_str()),
        ],
        &["migrate"],
        &["not both"],
    );
    // The key being replaced, from a file too: what it sealed still opens.
    let new_key = crate::harness::master_key();
    let rotated = latchkey(
        db.dir.path(),
        &[
            ("LATCHKEY_DATABASE_URL", db.url.as_str()),
            ("LATCHKEY_KEYS__MASTER_KEY", new_key.as_str()),
            ("LATCHKEY_KEYS__PREVIOUS_MASTER_KEY_FILE", secret),
        ],
        &["keys", "rotate-master", "--json"],
    );
    assert!(rotated.status.success(), "{}", stderr(&rotated));
    refuses(
        &[
            ("LATCHKEY_KEYS__MASTER_KEY", new_key.as_str()),
            (
                "LATCHKEY_KEYS__PREVIOUS_MASTER_KEY_FILE",
                "/nonexistent/old-key",
            ),
        ],
        &["migrate"],
        &["keys.previous_master_key_file", "/nonexistent/old-key"],
    );
    let empty = write_file(db.dir.path(), "empty-key", "\n");
    refuses(
        &[
            ("LATCHKEY_KEYS__MASTER_KEY", new_key.as_str()),
            (
                "LATCHKEY_KEYS__PREVIOUS_MASTER_KEY_FILE",
                empty.to_str().expect("path"),
            ),
        ],
        &["migrate"],
        &["keys.previous_master_key_file", "is empty"],
    );
}

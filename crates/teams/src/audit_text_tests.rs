#![allow(clippy::unwrap_used)]

use chrono::TimeZone;
use serde_json::json;

use super::*;

fn event(action: &str, actor: &str, subject: &str, details: Value) -> AuditEvent {
    AuditEvent {
        id: "01".into(),
        at: Utc.with_ymd_and_hms(2026, 12, 7, 18, 33, 11).unwrap(),
        action: action.into(),
        actor: actor.into(),
        actor_id: None,
        subject: subject.into(),
        subject_id: None,
        details,
        ip: String::new(),
        user_agent: String::new(),
    }
}

#[test]
fn a_role_change_reads_as_who_made_whom_what() {
    let e = event(
        "member.role_changed",
        "lead@acme.example",
        "ann@acme.example",
        json!({ "from": "member", "to": "administrator" }),
    );
    let readable = e.readable();
    assert_eq!(
        readable.sentence,
        "lead@acme.example made ann@acme.example an administrator"
    );
    assert_eq!(
        readable.details,
        vec![
            Detail {
                label: "From".into(),
                value: "member".into()
            },
            Detail {
                label: "To".into(),
                value: "administrator".into()
            },
        ]
    );
}

#[test]
fn ids_are_left_out_and_times_read_as_dates() {
    let e = event(
        "team.created",
        "lead@acme.example",
        "Acme",
        json!({
            "name": "Acme",
            "administrator": "lead@acme.example",
            "administrator_id": "01a2b3",
            "at": "2026-12-07T18:33:11Z",
        }),
    );
    let readable = e.readable();
    assert_eq!(readable.sentence, "lead@acme.example created the team Acme");
    let text = format!("{:?}", readable.details);
    assert!(!text.contains("01a2b3"), "{text}");
    assert!(text.contains("7 Dec 2026, 18:33 UTC"), "{text}");
    assert!(!text.contains("2026-12-07T"), "{text}");
}

#[test]
fn sign_ins_say_how() {
    let by_mail = event(
        "member.signed_in",
        "a@x",
        "a@x",
        json!({ "method": "login" }),
    );
    assert_eq!(
        by_mail.readable().sentence,
        "a@x signed in with a link sent by email"
    );
    let by_jwt = event(
        "member.signed_in",
        "a@x",
        "a@x",
        json!({ "via": "jwt", "issuer": "https://helpdesk.example", "role": "member" }),
    );
    assert_eq!(
        by_jwt.readable().sentence,
        "a@x signed in through the integration https://helpdesk.example"
    );
}

#[test]
fn nested_values_read_as_words_not_json() {
    let e = event(
        "saml_sp.added",
        "lead@acme.example",
        "Genesys",
        json!({
            "entity_id": "urn:genesys",
            "attributes": [{ "name": "email", "claim": "email" }, { "name": "Org", "literal": "acme" }],
            "encrypts": false,
            "audience": null,
            "acs_urls": [],
        }),
    );
    let readable = e.readable();
    assert_eq!(
        readable.sentence,
        "lead@acme.example added the SAML application Genesys"
    );
    let values: Vec<&str> = readable.details.iter().map(|d| d.value.as_str()).collect();
    assert!(
        values.contains(&"email = email, Org = “acme”"),
        "{values:?}"
    );
    assert!(values.contains(&"no"), "{values:?}");
    assert!(values.contains(&"none"), "{values:?}");
    assert!(
        values.iter().all(|v| !v.contains('{') && !v.contains('"')),
        "{values:?}"
    );
}

#[test]
fn an_unknown_action_still_reads_as_a_sentence() {
    let e = event(
        "scim.token_created",
        "lead@acme.example",
        "token 1234",
        json!({}),
    );
    assert_eq!(
        e.readable().sentence,
        "lead@acme.example: scim token created (token 1234)"
    );
}

//! The audit log as people read it: each event as one sentence ("lead@acme.example made
//! ann@acme.example an administrator") and its details as labelled values, never raw JSON.
//! The stored event is unchanged (`latchkey audit --json` prints it as it is); this is only
//! how pages say it. An action this file does not know still reads as a sentence.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::audit::AuditEvent;

/// An event as a page shows it.
#[derive(Clone, Debug, Serialize)]
pub struct ReadableEvent {
    pub sentence: String,
    pub details: Vec<Detail>,
}

/// One of an event's details: what it is, and its value in words.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Detail {
    pub label: String,
    pub value: String,
}

impl AuditEvent {
    /// The event in a sentence, with its details readable.
    pub fn readable(&self) -> ReadableEvent {
        ReadableEvent {
            sentence: sentence(self),
            details: details(&self.details),
        }
    }
}

/// A detail's text, or `fallback` when it is absent.
fn text<'a>(details: &'a Value, key: &str, fallback: &'a str) -> String {
    match details.get(key) {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::Null) | None => fallback.to_owned(),
        Some(other) => words(other),
    }
}

fn sentence(e: &AuditEvent) -> String {
    let (who, whom, d) = (e.actor.as_str(), e.subject.as_str(), &e.details);
    match e.action.as_str() {
        "team.created" => format!("{who} created the team {}", text(d, "name", whom)),
        "team.renamed" => format!(
            "{who} renamed the team from “{}” to “{}”",
            text(d, "from", "?"),
            text(d, "to", "?")
        ),
        "member.joined" => format!(
            "{whom} joined the team with a join link, as {}",
            a_role(&text(d, "role", "member"))
        ),
        "member.role_changed" => format!("{who} made {whom} {}", a_role(&text(d, "to", "member"))),
        "member.removed" => format!("{who} removed {whom} from the team"),
        "member.left" => format!("{whom} left the team"),
        "member.signed_in" => format!("{whom} signed in{}", how_signed_in(d)),
        "member.provisioned" => format!("{who} added {whom} to the team"),
        "member.linked" => format!("{who} linked the account of {whom}"),
        "join_link.created" => format!(
            "{who} created a join link for {}s, valid until {}",
            text(d, "role", "member"),
            text(d, "expires_at", "?")
        ),
        "join_link.revoked" => format!("{who} revoked {whom}"),
        "issuer.added" => format!("{who} trusted the issuer {whom}"),
        "issuer.removed" => format!("{who} stopped trusting the issuer {whom}"),
        "connection.added" => format!("{who} added the identity provider {whom}"),
        "connection.removed" => format!("{who} removed the identity provider {whom}"),
        "connection.domain_proven" => format!(
            "{who} proved the domain {} for {whom}",
            text(d, "domain", "?")
        ),
        "connection.domain_unproven" => format!(
            "{who} found the domain {} of {whom} no longer proven",
            text(d, "domain", "?")
        ),
        "saml_sp.added" => format!("{who} added the SAML application {whom}"),
        "saml_sp.updated" => format!("{who} changed the SAML application {whom}"),
        "saml_sp.removed" => format!("{who} removed the SAML application {whom}"),
        "saml_certificate.added" => format!("{who} published a next SAML signing certificate"),
        "saml_certificate.used" => format!("{who} signed with another SAML certificate"),
        "saml_certificate.retired" => format!("{who} retired a SAML signing certificate"),
        "client.created" => format!("{who} registered the application {whom}"),
        "client.deleted" => format!("{who} removed the application {whom}"),
        "key.rotated" => format!("{who} rotated the signing keys"),
        other => match whom {
            "" => format!("{who}: {}", other.replace(['.', '_'], " ")),
            _ => format!("{who}: {} ({whom})", other.replace(['.', '_'], " ")),
        },
    }
}

/// "an administrator" or "a member".
fn a_role(role: &str) -> String {
    match role {
        "administrator" => "an administrator".to_owned(),
        "member" => "a member".to_owned(),
        other => format!("“{other}”"),
    }
}

fn how_signed_in(d: &Value) -> String {
    match (d.get("via").and_then(Value::as_str), d.get("method")) {
        (Some("jwt"), _) => format!(" through the integration {}", text(d, "issuer", "?")),
        (Some("oidc"), _) => format!(
            " with the team's identity provider {}",
            text(d, "connection_name", "")
        )
        .trim_end()
        .to_owned(),
        (_, Some(_)) => " with a link sent by email".to_owned(),
        _ => String::new(),
    }
}

/// The details worth reading: ids are left out (the sentence names what they identify).
fn details(value: &Value) -> Vec<Detail> {
    let Value::Object(map) = value else {
        return Vec::new();
    };
    map.iter()
        .filter(|(key, value)| !is_id(key) && !value.is_null())
        .map(|(key, value)| Detail {
            label: label(key),
            value: words(value),
        })
        .collect()
}

fn is_id(key: &str) -> bool {
    key == "connection" || (key.ends_with("_id") && key != "client_id" && key != "entity_id")
}

/// A key as a label: `sessions_ended` → "Sessions ended".
fn label(key: &str) -> String {
    let known = match key {
        "via" => Some("Signed in through"),
        "method" => Some("Sign-in link"),
        "txt_name" => Some("TXT record"),
        "require_jti" => Some("jti required"),
        "allow_sha1" => Some("SHA-1 accepted"),
        "idp_initiated" => Some("Sign-on may start here"),
        "acs_urls" => Some("ACS URLs"),
        "name_id_format" => Some("NameID"),
        "fingerprint_sha256" => Some("SHA-256 fingerprint"),
        "not_after" => Some("Valid until"),
        "expires_at" => Some("Expires"),
        "why" => Some("Why"),
        "join_link_created_by" => Some("Join link created by"),
        _ => None,
    };
    if let Some(known) = known {
        return known.to_owned();
    }
    let spaced = key.replace('_', " ");
    let mut chars = spaced.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => spaced,
    }
}

/// A value in words: times as people read them, yes or no, lists separated by commas.
fn words(value: &Value) -> String {
    match value {
        Value::String(s) => match DateTime::parse_from_rfc3339(s) {
            Ok(at) => readable_time(at.with_timezone(&Utc)),
            Err(_) => s.clone(),
        },
        Value::Bool(true) => "yes".to_owned(),
        Value::Bool(false) => "no".to_owned(),
        Value::Null => "none".to_owned(),
        Value::Number(n) => n.to_string(),
        Value::Array(items) if items.is_empty() => "none".to_owned(),
        Value::Array(items) => items.iter().map(words).collect::<Vec<_>>().join(", "),
        Value::Object(map) => object_words(map),
    }
}

/// An attribute (`{"name", "claim" | "literal"}`) as `NAME = claim`; any other object as
/// `key: value` pairs.
fn object_words(map: &Map<String, Value>) -> String {
    if let Some(Value::String(name)) = map.get("name") {
        if let Some(Value::String(claim)) = map.get("claim") {
            return format!("{name} = {claim}");
        }
        if let Some(Value::String(literal)) = map.get("literal") {
            return format!("{name} = “{literal}”");
        }
    }
    map.iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| format!("{}: {}", label(k).to_lowercase(), words(v)))
        .collect::<Vec<_>>()
        .join("; ")
}

/// A time as people read it: "7 Dec 2026, 18:33 UTC".
pub fn readable_time(at: DateTime<Utc>) -> String {
    at.format("%-d %b %Y, %H:%M UTC").to_string()
}

#[cfg(test)]
#[path = "audit_text_tests.rs"]
mod tests;

//! The `Response` Latchkey posts to a service provider: its assertion written from a
//! template (every value escaped), signed with RSA-SHA256 and exclusive canonicalization
//! (the assertion, the response or both), and encrypted to the SP when it asked.

use chrono::{DateTime, TimeDelta, Utc};
use quick_xml::escape::escape;

use crate::cert::IdpCredential;
use crate::xml_signature::{after_issuer, sign_at};
use crate::{AttributeFormat, Encryption, NameIdFormat, SamlError, Signing};

const RSA_OAEP: &str = "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p";
/// How long an assertion may be presented: the SP reads it at once, from an auto-posted form.
pub const ASSERTION_LIFETIME: TimeDelta = TimeDelta::minutes(5);
/// How far back `NotBefore` reaches, for an SP whose clock runs behind.
const CLOCK_SKEW: TimeDelta = TimeDelta::seconds(30);
/// The person signed in with a link or code sent to their address, or their team's own
/// identity provider; SAML names no class for either.
const AUTHN_CONTEXT: &str = "urn:oasis:names:tc:SAML:2.0:ac:classes:unspecified";

/// What an assertion says of whom, for which SP.
pub struct Issue<'a> {
    /// This identity provider's entity ID.
    pub issuer: &'a str,
    /// The SP's audience: its entity ID unless it was given another.
    pub audience: &'a str,
    /// Where the response goes: a registered ACS URL.
    pub destination: &'a str,
    /// The request answered; none for a sign-on started at the identity provider.
    pub in_response_to: Option<&'a str>,
    pub name_id_format: NameIdFormat,
    pub name_id: &'a str,
    pub session_index: &'a str,
    pub authenticated_at: DateTime<Utc>,
    pub session_expires_at: DateTime<Utc>,
    /// The attributes, in order; empty values are left out.
    pub attributes: &'a [SentAttribute],
    pub sign: Signing,
    /// The SP's encryption certificate (PEM) and cipher, when assertions are encrypted.
    pub encrypt_to: Option<(&'a str, Encryption)>,
    pub now: DateTime<Utc>,
}

/// One attribute as the assertion states it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentAttribute {
    pub name: String,
    pub format: AttributeFormat,
    pub value: String,
}

/// A response ready to post: its XML.
pub fn build(issue: &Issue<'_>, credential: &IdpCredential) -> Result<String, SamlError> {
    let (mut xml, response_id, assertion_id) = template(issue);
    let cert = credential.cert_base64();
    let sign = |xml: &str, issuer: usize, id: &str| {
        let at = after_issuer(xml, issuer)
            .ok_or_else(|| SamlError::Signing("the response has no Issuer".to_owned()))?;
        sign_at(xml, at, id, &credential.signer, &cert)
    };
    // The assertion's Issuer is the second, after the response's.
    if issue.sign.assertion() {
        xml = sign(&xml, 2, &assertion_id)?;
    }
    if let Some((cert, encryption)) = issue.encrypt_to {
        xml = saml_rs::crypto::encrypt_assertion(&xml, cert, encryption.uri(), RSA_OAEP, "saml")
            .map_err(|e| SamlError::Signing(format!("encrypting the assertion: {e}")))?;
    }
    if issue.sign.response() {
        xml = sign(&xml, 1, &response_id)?;
    }
    Ok(xml)
}

/// A signed `Response` that carries no assertion, only why: `second_level` is a status of
/// SAML Core §3.2.2.2 (`NoPassive`, `InvalidNameIDPolicy`…) under `Responder` or `Requester`.
pub fn build_status(
    issuer: &str,
    destination: &str,
    in_response_to: Option<&str>,
    (top_level, second_level): (&str, &str),
    now: DateTime<Utc>,
    credential: &IdpCredential,
) -> Result<String, SamlError> {
    let in_response_to = in_response_to
        .map(|id| format!(" InResponseTo=\"{}\"", escape(id)))
        .unwrap_or_default();
    let id = new_id();
    let xml = format!(
        concat!(
            "<samlp:Response xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" ID=\"{id}\" Version=\"2.0\" IssueInstant=\"{now}\" Destination=\"{destination}\"{in_response_to}>",
            "<saml:Issuer>{issuer}</saml:Issuer>",
            "<samlp:Status><samlp:StatusCode Value=\"urn:oasis:names:tc:SAML:2.0:status:{top}\"><samlp:StatusCode Value=\"urn:oasis:names:tc:SAML:2.0:status:{second}\"/></samlp:StatusCode></samlp:Status>",
            "</samlp:Response>"
        ),
        id = id,
        now = instant(now),
        destination = escape(destination),
        in_response_to = in_response_to,
        issuer = escape(issuer),
        top = top_level,
        second = second_level,
    );
    let at = after_issuer(&xml, 1)
        .ok_or_else(|| SamlError::Signing("the response has no Issuer".to_owned()))?;
    sign_at(&xml, at, &id, &credential.signer, &credential.cert_base64())
}

/// A new XML ID: an NCName, unguessable.
pub fn new_id() -> String {
    format!("_{}", uuid::Uuid::new_v4().simple())
}

pub(crate) fn instant(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The response, unsigned, with its ID and its assertion's.
fn template(issue: &Issue<'_>) -> (String, String, String) {
    let (response_id, assertion_id) = (new_id(), new_id());
    let now = instant(issue.now);
    let expires = instant(issue.now + ASSERTION_LIFETIME);
    let in_response_to = issue
        .in_response_to
        .map(|id| format!(" InResponseTo=\"{}\"", escape(id)))
        .unwrap_or_default();
    let attributes: String = issue
        .attributes
        .iter()
        .filter(|attribute| !attribute.value.is_empty())
        .map(|attribute| {
            format!(
                "<saml:Attribute Name=\"{}\" NameFormat=\"{}\"><saml:AttributeValue xsi:type=\"xs:string\">{}</saml:AttributeValue></saml:Attribute>",
                escape(attribute.name.as_str()),
                attribute.format.urn(),
                escape(attribute.value.as_str())
            )
        })
        .collect();
    let attribute_statement = if attributes.is_empty() {
        String::new()
    } else {
        format!("<saml:AttributeStatement>{attributes}</saml:AttributeStatement>")
    };
    // The assertion declares its own namespaces, so it stands alone once encrypted.
    let xml = format!(
        concat!(
            "<samlp:Response xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" ID=\"{response_id}\" Version=\"2.0\" IssueInstant=\"{now}\" Destination=\"{destination}\"{in_response_to}>",
            "<saml:Issuer>{issuer}</saml:Issuer>",
            "<samlp:Status><samlp:StatusCode Value=\"urn:oasis:names:tc:SAML:2.0:status:Success\"/></samlp:Status>",
            "<saml:Assertion xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" xmlns:xs=\"http://www.w3.org/2001/XMLSchema\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" ID=\"{assertion_id}\" Version=\"2.0\" IssueInstant=\"{now}\">",
            "<saml:Issuer>{issuer}</saml:Issuer>",
            "<saml:Subject><saml:NameID Format=\"{format}\">{name_id}</saml:NameID>",
            "<saml:SubjectConfirmation Method=\"urn:oasis:names:tc:SAML:2.0:cm:bearer\"><saml:SubjectConfirmationData NotOnOrAfter=\"{expires}\" Recipient=\"{destination}\"{in_response_to}/></saml:SubjectConfirmation></saml:Subject>",
            "<saml:Conditions NotBefore=\"{not_before}\" NotOnOrAfter=\"{expires}\"><saml:AudienceRestriction><saml:Audience>{audience}</saml:Audience></saml:AudienceRestriction></saml:Conditions>",
            "<saml:AuthnStatement AuthnInstant=\"{authn_instant}\" SessionIndex=\"{session_index}\" SessionNotOnOrAfter=\"{session_expires}\"><saml:AuthnContext><saml:AuthnContextClassRef>{context}</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>",
            "{attribute_statement}",
            "</saml:Assertion></samlp:Response>"
        ),
        response_id = response_id,
        assertion_id = assertion_id,
        now = now,
        destination = escape(issue.destination),
        in_response_to = in_response_to,
        issuer = escape(issue.issuer),
        format = issue.name_id_format.urn(),
        name_id = escape(issue.name_id),
        expires = expires,
        not_before = instant(issue.now - CLOCK_SKEW),
        audience = escape(issue.audience),
        authn_instant = instant(issue.authenticated_at),
        session_index = escape(issue.session_index),
        session_expires = instant(issue.session_expires_at),
        context = AUTHN_CONTEXT,
        attribute_statement = attribute_statement,
    );
    (xml, response_id, assertion_id)
}

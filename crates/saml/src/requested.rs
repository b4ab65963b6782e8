//! The attributes an SP's metadata asks for (`RequestedAttribute` in its
//! `AttributeConsumingService`) that Latchkey can fill: the common names of the person's
//! address and names, as LDAP OIDs (the Shibboleth SP's defaults), as the claim URIs of
//! Microsoft's identity providers, and as plain words. Any other name is left out: the SP is
//! sent only what it asked for and Latchkey knows.

use crate::Claim;
use crate::attributes::{Attribute, AttributeFormat, AttributeValue};

/// URIs, compared exactly.
const BY_URI: &[(&str, Claim)] = &[
    // mail, givenName, sn, displayName, cn (RFC 4519, inetOrgPerson).
    ("urn:oid:0.9.2342.19200300.100.1.3", Claim::Email),
    ("urn:oid:2.5.4.42", Claim::GivenName),
    ("urn:oid:2.5.4.4", Claim::FamilyName),
    ("urn:oid:2.16.840.1.113730.3.1.241", Claim::Name),
    ("urn:oid:2.5.4.3", Claim::Name),
    (
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
        Claim::Email,
    ),
    (
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname",
        Claim::GivenName,
    ),
    (
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname",
        Claim::FamilyName,
    ),
    // Entra ID and AD FS send the user principal name here, which SPs use as a username:
    // the address is what Latchkey has of that kind, not the display name.
    (
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
        Claim::Email,
    ),
];

/// Plain names, compared without case.
const BY_WORD: &[(&str, Claim)] = &[
    ("email", Claim::Email),
    ("mail", Claim::Email),
    ("emailaddress", Claim::Email),
    ("givenname", Claim::GivenName),
    ("firstname", Claim::GivenName),
    ("sn", Claim::FamilyName),
    ("surname", Claim::FamilyName),
    ("lastname", Claim::FamilyName),
    ("displayname", Claim::Name),
    ("cn", Claim::Name),
];

fn claim_of(name: &str) -> Option<Claim> {
    BY_URI
        .iter()
        .find(|(uri, _)| *uri == name)
        .or_else(|| {
            BY_WORD
                .iter()
                .find(|(word, _)| word.eq_ignore_ascii_case(name))
        })
        .map(|(_, claim)| *claim)
}

/// What to send for a `RequestedAttribute`: under its `Name` and `NameFormat`, the claim its
/// name (or, failing that, its `FriendlyName`) is known for.
pub(crate) fn requested(
    name: &str,
    name_format: Option<&str>,
    friendly_name: Option<&str>,
) -> Option<Attribute> {
    let claim = claim_of(name).or_else(|| friendly_name.and_then(claim_of))?;
    let mut attribute = Attribute::new(name, AttributeValue::Claim(claim));
    if let Some(format) = name_format.and_then(AttributeFormat::from_urn) {
        attribute.format = format;
    }
    Some(attribute)
}

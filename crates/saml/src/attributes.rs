//! What an assertion says of the person besides the NameID: each attribute is a claim of theirs
//! or a fixed value the administrator gave (Genesys Cloud reads `OrganizationName`), under the
//! name the SP reads and with the `NameFormat` it expects.
//!
//! Stored as JSON in the SP's row. Rows written before fixed values and formats existed hold
//! `[name, claim]` pairs; they still read, with the `basic` format they were always sent with,
//! so no registered SP receives anything different until its administrator changes it.

use serde::{Deserialize, Serialize};

use crate::{Claim, SamlError};

/// The prefix of a fixed value: `OrganizationName=literal:acme`.
pub const LITERAL: &str = "literal:";
/// The longest fixed value, in characters.
pub const MAX_LITERAL: usize = 1024;
/// The longest attribute name, in bytes.
pub const MAX_NAME: usize = 256;
/// The most attributes one SP is sent.
pub const MAX_ATTRIBUTES: usize = 50;

/// The `NameFormat` an attribute is sent with (SAML Core §8.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttributeFormat {
    /// The name is a URI (`urn:oid:…`, `http://schemas.xmlsoap.org/…`).
    Uri,
    /// The name is a plain word (`email`, `OrganizationName`).
    Basic,
    Unspecified,
}

impl AttributeFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Uri => "uri",
            Self::Basic => "basic",
            Self::Unspecified => "unspecified",
        }
    }

    pub fn urn(self) -> &'static str {
        match self {
            Self::Uri => "urn:oasis:names:tc:SAML:2.0:attrname-format:uri",
            Self::Basic => "urn:oasis:names:tc:SAML:2.0:attrname-format:basic",
            Self::Unspecified => "urn:oasis:names:tc:SAML:2.0:attrname-format:unspecified",
        }
    }

    pub fn from_urn(urn: &str) -> Option<Self> {
        [Self::Uri, Self::Basic, Self::Unspecified]
            .into_iter()
            .find(|f| f.urn() == urn)
    }

    /// The format a name gets when none is asked for: `uri` for a URI (it has a scheme, so a
    /// `:`), `basic` for the rest, as SAML Core §8.2.2 and the SPs that check it expect.
    pub fn for_name(name: &str) -> Self {
        if name.contains(':') {
            Self::Uri
        } else {
            Self::Basic
        }
    }
}

impl std::str::FromStr for AttributeFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "uri" => Ok(Self::Uri),
            "basic" => Ok(Self::Basic),
            "unspecified" => Ok(Self::Unspecified),
            other => Err(format!(
                "{other:?} is not an attribute format: uri, basic or unspecified"
            )),
        }
    }
}

/// Where an attribute's value comes from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttributeValue {
    /// Something of the person's (or their team's).
    Claim(Claim),
    /// The same value for everyone, as the administrator gave it.
    Literal(String),
}

/// One attribute an SP is sent: `{"name", "claim" | "literal", "format"}` in JSON.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attribute {
    pub name: String,
    #[serde(flatten)]
    pub value: AttributeValue,
    pub format: AttributeFormat,
}

impl Attribute {
    /// An attribute with the format its name calls for.
    pub fn new(name: impl Into<String>, value: AttributeValue) -> Self {
        let name = name.into();
        Self {
            format: AttributeFormat::for_name(&name),
            name,
            value,
        }
    }

    /// Reads `NAME=CLAIM` or `NAME=literal:VALUE`. Whether the name and value are acceptable
    /// is checked when the SP is registered.
    pub fn parse(pair: &str) -> Result<Self, SamlError> {
        let (name, value) = pair
            .split_once('=')
            .ok_or_else(|| SamlError::Attribute(pair.to_owned()))?;
        let value = value.trim();
        let value = match value.strip_prefix(LITERAL) {
            Some(literal) => AttributeValue::Literal(literal.trim().to_owned()),
            None => AttributeValue::Claim(
                value
                    .parse()
                    .map_err(|_| SamlError::Attribute(pair.to_owned()))?,
            ),
        };
        Ok(Self::new(name.trim(), value))
    }
}

/// Reads `NAME=uri|basic|unspecified`.
pub fn parse_attribute_format(pair: &str) -> Result<(String, AttributeFormat), SamlError> {
    let (name, format) = pair
        .split_once('=')
        .ok_or_else(|| SamlError::AttributeFormat(pair.to_owned()))?;
    let format = format
        .trim()
        .parse()
        .map_err(|_| SamlError::AttributeFormat(pair.to_owned()))?;
    Ok((name.trim().to_owned(), format))
}

/// Splits one `--attribute` value given as a comma list. A fixed value takes the rest of the
/// list, commas included (`OrganizationName=literal:Acme, Inc.`), so give it last or alone.
pub fn split_attribute_list(list: &str) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut rest = list;
    loop {
        let end = rest.find(',').unwrap_or(rest.len());
        let piece = &rest[..end];
        let literal = piece
            .split_once('=')
            .is_some_and(|(_, value)| value.trim_start().starts_with(LITERAL));
        if literal || end == rest.len() {
            pieces.push(rest);
            break;
        }
        pieces.push(piece);
        rest = &rest[end + 1..];
    }
    pieces.retain(|piece| !piece.trim().is_empty());
    pieces
}

/// The attributes an SP gets when it names none: what Intercom, Genesys Cloud and most SPs
/// read.
pub fn default_attributes() -> Vec<Attribute> {
    [
        ("email", Claim::Email),
        ("firstName", Claim::GivenName),
        ("lastName", Claim::FamilyName),
        ("displayName", Claim::Name),
    ]
    .into_iter()
    .map(|(name, claim)| Attribute::new(name, AttributeValue::Claim(claim)))
    .collect()
}

/// Checks what an administrator gave: names and values that fit in an assertion and a page,
/// each name once, and a format only for an attribute that is sent.
pub(crate) fn checked(
    mut attributes: Vec<Attribute>,
    formats: &[(String, AttributeFormat)],
) -> Result<Vec<Attribute>, SamlError> {
    if attributes.len() > MAX_ATTRIBUTES {
        return Err(SamlError::TooManyAttributes(MAX_ATTRIBUTES));
    }
    let mut seen = std::collections::HashSet::new();
    for attribute in &attributes {
        let name = &attribute.name;
        let valid = !name.is_empty()
            && name.len() <= MAX_NAME
            && !name.chars().any(|c| c.is_control() || c.is_whitespace());
        if !valid {
            return Err(SamlError::AttributeName(name.clone()));
        }
        if !seen.insert(name.clone()) {
            return Err(SamlError::AttributeTwice(name.clone()));
        }
        if let AttributeValue::Literal(value) = &attribute.value
            && (value.is_empty()
                || value.chars().count() > MAX_LITERAL
                || value.chars().any(char::is_control))
        {
            return Err(SamlError::Literal(name.clone(), MAX_LITERAL));
        }
    }
    for (name, format) in formats {
        let attribute = attributes
            .iter_mut()
            .find(|a| a.name == *name)
            .ok_or_else(|| SamlError::FormatOfUnsent(name.clone()))?;
        attribute.format = *format;
    }
    Ok(attributes)
}

/// An attribute as a row stores it: an object, or a `[name, claim]` pair of a row written
/// before fixed values and formats.
#[derive(Deserialize)]
#[serde(untagged)]
enum Stored {
    Pair(String, Claim),
    Attribute(Attribute),
}

/// The attributes a row's JSON holds; none if it cannot be read.
pub(crate) fn from_stored(json: &str) -> Vec<Attribute> {
    let stored: Vec<Stored> = serde_json::from_str(json).unwrap_or_else(|e| {
        tracing::error!(error = %e, "a SAML service provider's attributes cannot be read");
        Vec::new()
    });
    stored
        .into_iter()
        .map(|stored| match stored {
            Stored::Pair(name, claim) => Attribute {
                name,
                value: AttributeValue::Claim(claim),
                format: AttributeFormat::Basic,
            },
            Stored::Attribute(attribute) => attribute,
        })
        .collect()
}

/// The JSON a row stores.
pub(crate) fn to_stored(attributes: &[Attribute]) -> String {
    serde_json::to_string(attributes).unwrap_or_default()
}

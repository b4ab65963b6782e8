//! SAML messages as the bindings carry them: what a request from an SP is (before and after
//! its checks), where a reply goes, and reading an encoded message within bounds (its size,
//! and what it may inflate to).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use saml_rs::{FormField, LogoutRequest, Received};

/// The largest SAML message read, encoded (a form field or a query parameter).
pub const MAX_MESSAGE: usize = 64 * 1024;
/// The longest `RelayState` kept and returned, in bytes. SAML Bindings §3.4.3 asks senders
/// for at most 80, but SPs put the page the person was going to there (a help-center
/// article, a ticket), and the identity providers they are used with take longer ones.
pub const MAX_RELAY_STATE: usize = 4096;
const DS: &str = "http://www.w3.org/2000/09/xmldsig#";
/// A message as a binding carried it.
pub enum Inbound {
    /// HTTP-Redirect: the raw query string, as sent (its signature covers the encoded bytes).
    Redirect(String),
    /// HTTP-POST: the form's `SAMLRequest` and `RelayState`.
    Post {
        message: String,
        relay_state: Option<String>,
    },
}

impl Inbound {
    /// Whether the message is signed with SHA-1 (its `SigAlg`, or any algorithm of its XML
    /// signature): refused unless the SP is allowed it, for logout messages as for sign-ons.
    pub(crate) fn uses_sha1(&self) -> Result<bool, RequestError> {
        match self {
            Inbound::Redirect(query) => Ok(url::form_urlencoded::parse(query.as_bytes())
                .any(|(k, v)| k == "SigAlg" && is_sha1(&v))),
            Inbound::Post { message, .. } => Ok(posted_signature(message)?.sha1),
        }
    }

    /// Whether the message carries a signature: HTTP-Redirect's `Signature` parameter, or an
    /// XML signature in a posted message. Which key made it, and whether it verifies, is the
    /// reader's to check.
    pub fn is_signed(&self) -> bool {
        match self {
            Inbound::Redirect(query) => {
                url::form_urlencoded::parse(query.as_bytes()).any(|(k, _)| k == "Signature")
            }
            Inbound::Post { message, .. } => decode_base64(message)
                .ok()
                .and_then(|xml| String::from_utf8(xml).ok())
                .is_some_and(|xml| xml.contains("SignatureValue")),
        }
    }
}

/// Why a request from a service provider is refused.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("{0}")]
    Unreadable(String),
    #[error("the request names no issuer")]
    NoIssuer,
    #[error("its signature is missing or does not verify with the service provider's certificate")]
    Signature,
    #[error("the request was refused: {0}")]
    Refused(String),
    #[error("its RelayState is longer than {MAX_RELAY_STATE} bytes")]
    RelayStateTooLong,
    #[error("it is signed with SHA-1, which this service provider is not allowed")]
    Sha1,
}

impl From<saml_rs::SamlError> for RequestError {
    fn from(error: saml_rs::SamlError) -> Self {
        use saml_rs::SamlError as E;
        match error {
            E::SignatureVerification { .. } | E::SignatureMissing => Self::Signature,
            E::Xml(_) | E::Base64(_) | E::Deflate(_) | E::Invalid(_) => {
                Self::Unreadable(error.to_string())
            }
            other => Self::Refused(other.to_string()),
        }
    }
}

/// What an `AuthnRequest` asks, once read and checked.
#[derive(Debug)]
pub struct SignOnRequest {
    pub id: String,
    /// The ACS URL it names, if any: used only when registered.
    pub acs_url: Option<String>,
    pub force_authn: bool,
    pub is_passive: bool,
    pub relay_state: Option<String>,
    /// The registered ACS URL it names by index instead.
    pub acs_index: Option<u16>,
    /// The NameID format it asks for, if any.
    pub name_id_format: Option<String>,
    /// It was signed, and the signature verified with the SP's certificate.
    pub signed: bool,
}

/// What a `LogoutRequest` asks.
pub struct LogoutAsk {
    pub received: Received<LogoutRequest>,
    pub name_id: Option<String>,
    pub session_indexes: Vec<String>,
}

impl LogoutAsk {
    /// The request's ID: kept, so that a replay is refused.
    pub fn id(&self) -> &str {
        self.received.message().id().as_str()
    }
}

/// Where a message goes back to the SP.
pub enum Outgoing {
    Redirect(String),
    Post {
        action: String,
        fields: Vec<(String, String)>,
    },
}

pub(crate) fn form_fields(message: String, relay_state: Option<String>) -> Vec<FormField> {
    let mut fields = vec![FormField::new("SAMLRequest", message)];
    if let Some(relay_state) = relay_state {
        fields.push(FormField::new("RelayState", relay_state));
    }
    fields
}

/// A Redirect query's `RelayState`, bounded; a query that carries it twice is refused (its
/// signature could cover one and the other be used).
pub(crate) fn query_relay_state(query: &str) -> Result<Option<String>, RequestError> {
    let mut found = url::form_urlencoded::parse(query.trim_start_matches('?').as_bytes())
        .filter(|(k, _)| k == "RelayState")
        .map(|(_, v)| v.into_owned());
    let relay_state = found.next();
    if found.next().is_some() {
        return Err(RequestError::Unreadable(
            "it carries RelayState twice".to_owned(),
        ));
    }
    bounded_relay_state(relay_state)
}

/// A `RelayState` of at most [`MAX_RELAY_STATE`] bytes.
pub(crate) fn bounded_relay_state(
    relay_state: Option<String>,
) -> Result<Option<String>, RequestError> {
    match relay_state {
        Some(r) if r.len() > MAX_RELAY_STATE => Err(RequestError::RelayStateTooLong),
        other => Ok(other),
    }
}

/// Whether a posted request carries an XML signature of its own (a `ds:Signature` child of
/// its root: where saml-rs looks for one, and verifies it when present), and whether that
/// signature, or any digest in it, uses SHA-1.
pub(crate) struct PostedSignature {
    pub present: bool,
    pub sha1: bool,
}

pub(crate) fn posted_signature(message: &str) -> Result<PostedSignature, RequestError> {
    let xml = String::from_utf8(decode_base64(message)?)
        .map_err(|_| RequestError::Unreadable("it is not UTF-8".to_owned()))?;
    let document = roxmltree::Document::parse(&xml).map_err(|e| {
        RequestError::Unreadable(format!("not well-formed XML without a DTD ({e})"))
    })?;
    let present = document
        .root_element()
        .children()
        .any(|n| n.has_tag_name((DS, "Signature")));
    // Any SignatureMethod or DigestMethod in the document, not only the root's: a SHA-1
    // algorithm has no business anywhere in a request.
    let sha1 = document
        .descendants()
        .filter(|n| n.has_tag_name((DS, "SignatureMethod")) || n.has_tag_name((DS, "DigestMethod")))
        .filter_map(|n| n.attribute("Algorithm"))
        .any(is_sha1);
    Ok(PostedSignature { present, sha1 })
}

/// An XML-DSig or XML-DSig-more algorithm URI built on SHA-1: `#sha1`, `#rsa-sha1`,
/// `#dsa-sha1`, `#ecdsa-sha1`, `#hmac-sha1`.
pub(crate) fn is_sha1(algorithm: &str) -> bool {
    algorithm
        .rsplit_once('#')
        .is_some_and(|(_, name)| name.eq_ignore_ascii_case("sha1") || name.ends_with("-sha1"))
}

/// The issuer an encoded request names, read before anything else is known of it: which SP
/// sent it decides how the rest is checked. The XML is read with DTDs refused.
pub fn peek_issuer(inbound: &Inbound) -> Result<String, RequestError> {
    let xml = match inbound {
        Inbound::Redirect(query) => {
            let encoded = url::form_urlencoded::parse(query.as_bytes())
                .find(|(k, _)| k == "SAMLRequest")
                .map(|(_, v)| v.into_owned())
                .ok_or_else(|| RequestError::Unreadable("there is no SAMLRequest".to_owned()))?;
            let compressed = decode_base64(&encoded)?;
            inflate(&compressed)?
        }
        Inbound::Post { message, .. } => decode_base64(message)?,
    };
    let xml = String::from_utf8(xml)
        .map_err(|_| RequestError::Unreadable("it is not UTF-8".to_owned()))?;
    let document = roxmltree::Document::parse(&xml).map_err(|e| {
        RequestError::Unreadable(format!("not well-formed XML without a DTD ({e})"))
    })?;
    document
        .root_element()
        .children()
        .find(|n| n.has_tag_name(("urn:oasis:names:tc:SAML:2.0:assertion", "Issuer")))
        .and_then(|n| n.text())
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .ok_or(RequestError::NoIssuer)
}

fn decode_base64(encoded: &str) -> Result<Vec<u8>, RequestError> {
    if encoded.len() > MAX_MESSAGE {
        return Err(RequestError::Unreadable(format!(
            "it is larger than {} KiB",
            MAX_MESSAGE / 1024
        )));
    }
    let compact: String = encoded.chars().filter(|c| !c.is_whitespace()).collect();
    STANDARD
        .decode(compact)
        .map_err(|e| RequestError::Unreadable(format!("not base64 ({e})")))
}

/// Raw DEFLATE, as the Redirect binding carries it, bounded: a small request cannot inflate
/// into a large one.
fn inflate(compressed: &[u8]) -> Result<Vec<u8>, RequestError> {
    use std::io::Read;
    let limit = 4 * MAX_MESSAGE;
    let mut out = Vec::new();
    flate2::read::DeflateDecoder::new(compressed)
        .take(u64::try_from(limit + 1).unwrap_or(u64::MAX))
        .read_to_end(&mut out)
        .map_err(|e| RequestError::Unreadable(format!("not DEFLATE ({e})")))?;
    if out.len() > limit {
        return Err(RequestError::Unreadable(format!(
            "it inflates to more than {} KiB",
            limit / 1024
        )));
    }
    Ok(out)
}

//! Requests as a service provider writes them: XML, then encoded for a binding, and signed
//! (HTTP-Redirect's query signature) with the SP's own RSA key when it has one.

use aws_lc_rs::encoding::AsDer;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};

use super::fixture::{ACS, SP_ENTITY_ID};
use crate::Inbound;

/// An `AuthnRequest`, as the test needs it.
pub struct AuthnRequest {
    pub id: String,
    pub issuer: String,
    pub issued: DateTime<Utc>,
    pub acs_url: Option<String>,
    pub acs_index: Option<u16>,
    pub name_id_format: Option<String>,
    pub force_authn: bool,
    pub is_passive: bool,
}

impl AuthnRequest {
    /// From the test SP, naming its first ACS URL, issued at `issued`.
    pub fn new(id: &str, issued: DateTime<Utc>) -> Self {
        Self {
            id: id.to_owned(),
            issuer: SP_ENTITY_ID.to_owned(),
            issued,
            acs_url: Some(ACS.to_owned()),
            acs_index: None,
            name_id_format: None,
            force_authn: false,
            is_passive: false,
        }
    }

    pub fn xml(&self) -> String {
        let acs = match (&self.acs_url, self.acs_index) {
            (Some(url), _) => format!(
                " AssertionConsumerServiceURL=\"{url}\" ProtocolBinding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST\""
            ),
            (None, Some(index)) => format!(" AssertionConsumerServiceIndex=\"{index}\""),
            (None, None) => String::new(),
        };
        let policy = self
            .name_id_format
            .as_deref()
            .map(|f| format!("<samlp:NameIDPolicy Format=\"{f}\" AllowCreate=\"true\"/>"))
            .unwrap_or_default();
        format!(
            concat!(
                "<samlp:AuthnRequest xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\"",
                " ID=\"{id}\" Version=\"2.0\" IssueInstant=\"{issued}\" Destination=\"{destination}\"{acs}{force}{passive}>",
                "<saml:Issuer>{issuer}</saml:Issuer>{policy}</samlp:AuthnRequest>"
            ),
            id = self.id,
            issued = crate::response::instant(self.issued),
            destination = super::fixture::destination(
                latchkey_core::urls::SAML_SSO,
                latchkey_core::urls::SAML_TEAM_SSO
            ),
            acs = acs,
            force = if self.force_authn {
                " ForceAuthn=\"true\""
            } else {
                ""
            },
            passive = if self.is_passive {
                " IsPassive=\"true\""
            } else {
                ""
            },
            issuer = self.issuer,
            policy = policy,
        )
    }

    /// Over HTTP-POST, unsigned.
    pub fn post(&self, relay_state: Option<&str>) -> Inbound {
        Inbound::Post {
            message: STANDARD.encode(self.xml()),
            relay_state: relay_state.map(str::to_owned),
        }
    }

    /// Over HTTP-Redirect, signed with `key` when given.
    pub fn redirect(&self, relay_state: Option<&str>, key: Option<&SpKey>) -> Inbound {
        redirect("SAMLRequest", &self.xml(), relay_state, key)
    }
}

/// A `LogoutRequest` from the test SP.
pub struct LogoutRequest {
    pub id: String,
    pub issued: DateTime<Utc>,
    pub name_id: String,
    pub session_indexes: Vec<String>,
}

impl LogoutRequest {
    pub fn xml(&self) -> String {
        let indexes: String = self
            .session_indexes
            .iter()
            .map(|i| format!("<samlp:SessionIndex>{i}</samlp:SessionIndex>"))
            .collect();
        format!(
            concat!(
                "<samlp:LogoutRequest xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\"",
                " ID=\"{id}\" Version=\"2.0\" IssueInstant=\"{issued}\" Destination=\"{destination}\">",
                "<saml:Issuer>{issuer}</saml:Issuer><saml:NameID>{name_id}</saml:NameID>{indexes}</samlp:LogoutRequest>"
            ),
            id = self.id,
            issued = crate::response::instant(self.issued),
            destination = super::fixture::destination(
                latchkey_core::urls::SAML_SLO,
                latchkey_core::urls::SAML_TEAM_SLO
            ),
            issuer = SP_ENTITY_ID,
            name_id = self.name_id,
            indexes = indexes,
        )
    }

    pub fn redirect(&self, key: Option<&SpKey>) -> Inbound {
        redirect("SAMLRequest", &self.xml(), None, key)
    }

    pub fn post(&self) -> Inbound {
        Inbound::Post {
            message: STANDARD.encode(self.xml()),
            relay_state: None,
        }
    }
}

/// A service provider's own RSA key and its self-signed certificate.
pub struct SpKey {
    pkcs8_der: Vec<u8>,
    pub cert_pem: String,
}

impl SpKey {
    pub fn generate() -> Self {
        let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
        let pkcs8_der = pair.as_der().unwrap().as_ref().to_vec();
        let cert_pem = crate::cert::IdpCredential::new(
            "sp",
            latchkey_testkit::start_of_test(),
            &pkcs8_der,
            "https://sp.example.test",
        )
        .unwrap()
        .cert_pem;
        Self {
            pkcs8_der,
            cert_pem,
        }
    }

    fn sign(&self, message: &[u8]) -> Vec<u8> {
        let pair = aws_lc_rs::signature::RsaKeyPair::from_pkcs8(&self.pkcs8_der).unwrap();
        let mut signature = vec![0; pair.public_modulus_len()];
        pair.sign(
            &aws_lc_rs::signature::RSA_PKCS1_SHA256,
            &aws_lc_rs::rand::SystemRandom::new(),
            message,
            &mut signature,
        )
        .unwrap();
        signature
    }
}

/// HTTP-Redirect: the message deflated and base64-encoded in the query, and the query
/// signed (SAML Bindings §3.4.4.1) when a key is given.
pub(super) fn redirect(
    field: &str,
    xml: &str,
    relay_state: Option<&str>,
    key: Option<&SpKey>,
) -> Inbound {
    use std::io::Write;
    let mut deflater =
        flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    deflater.write_all(xml.as_bytes()).unwrap();
    let deflated = deflater.finish().unwrap();
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.append_pair(field, &STANDARD.encode(deflated));
    if let Some(relay_state) = relay_state {
        query.append_pair("RelayState", relay_state);
    }
    let Some(key) = key else {
        return Inbound::Redirect(query.finish());
    };
    query.append_pair(
        "SigAlg",
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    );
    let signed = query.finish();
    let signature = STANDARD.encode(key.sign(signed.as_bytes()));
    let signature = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("Signature", &signature)
        .finish();
    Inbound::Redirect(format!("{signed}&{signature}"))
}

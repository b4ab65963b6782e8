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

/// The hash an SP signs with.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Hash {
    Sha256,
    /// What old SPs still send, refused unless allowed.
    Sha1,
}

impl Hash {
    fn signature_method(self) -> &'static str {
        match self {
            Self::Sha256 => "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
            Self::Sha1 => "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
        }
    }

    fn digest_method(self) -> &'static str {
        match self {
            Self::Sha256 => "http://www.w3.org/2001/04/xmlenc#sha256",
            Self::Sha1 => "http://www.w3.org/2000/09/xmldsig#sha1",
        }
    }
}

/// A `RelayState` of `bytes` bytes, as a deep link is: a URL with a long query.
pub fn long_relay_state(bytes: usize) -> String {
    let mut relay_state = "https://sp.example.test/articles/42?q=".to_owned();
    relay_state.extend(std::iter::repeat_n(
        'x',
        bytes.saturating_sub(relay_state.len()),
    ));
    relay_state
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
        let url = self.acs_url.as_deref().map(|url| {
            format!(
                " AssertionConsumerServiceURL=\"{url}\" ProtocolBinding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST\""
            )
        });
        let index = self
            .acs_index
            .map(|index| format!(" AssertionConsumerServiceIndex=\"{index}\""));
        let acs = format!("{}{}", url.unwrap_or_default(), index.unwrap_or_default());
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

    /// Over HTTP-POST, with an enveloped XML signature by `key` (hashed with `hash`).
    pub fn post_signed(&self, relay_state: Option<&str>, key: &SpKey, hash: Hash) -> Inbound {
        let xml = self.xml();
        let at = crate::xml_signature::after_issuer(&xml, 1).unwrap();
        let template = format!(
            concat!(
                "<ds:Signature xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"><ds:SignedInfo>",
                "<ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/>",
                "<ds:SignatureMethod Algorithm=\"{method}\"/><ds:Reference URI=\"#{id}\"><ds:Transforms>",
                "<ds:Transform Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\"/>",
                "<ds:Transform Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/></ds:Transforms>",
                "<ds:DigestMethod Algorithm=\"{digest}\"/><ds:DigestValue></ds:DigestValue></ds:Reference>",
                "</ds:SignedInfo><ds:SignatureValue></ds:SignatureValue></ds:Signature>"
            ),
            method = hash.signature_method(),
            id = self.id,
            digest = hash.digest_method(),
        );
        let templated = format!("{}{template}{}", &xml[..at], &xml[at..]);
        let signer = KeySigner {
            key: key.pkcs8_der.clone(),
            hash,
        };
        let context = bergshamra::DsigContext::new(bergshamra::KeysManager::new())
            .with_hsm_signer(Box::new(signer));
        let signed = bergshamra::sign(&context, &templated).unwrap();
        Inbound::Post {
            message: STANDARD.encode(signed),
            relay_state: relay_state.map(str::to_owned),
        }
    }

    /// Over HTTP-Redirect, signed with `key` when given.
    pub fn redirect(&self, relay_state: Option<&str>, key: Option<&SpKey>) -> Inbound {
        redirect(
            "SAMLRequest",
            &self.xml(),
            relay_state,
            key.map(|k| (k, Hash::Sha256)),
        )
    }

    /// Over HTTP-Redirect, signed with `key` and `hash`.
    pub fn redirect_hashed(&self, relay_state: Option<&str>, key: &SpKey, hash: Hash) -> Inbound {
        redirect("SAMLRequest", &self.xml(), relay_state, Some((key, hash)))
    }
}

/// An SP's key as bergshamra's signer of a request's XML signature.
struct KeySigner {
    key: Vec<u8>,
    hash: Hash,
}

impl kryptering::Signer for KeySigner {
    fn algorithm(&self) -> kryptering::SignatureAlgorithm {
        kryptering::SignatureAlgorithm::RsaPkcs1v15(match self.hash {
            Hash::Sha256 => kryptering::HashAlgorithm::Sha256,
            Hash::Sha1 => kryptering::HashAlgorithm::Sha1,
        })
    }

    fn sign(&self, data: &[u8]) -> kryptering::Result<Vec<u8>> {
        Ok(sign(&self.key, self.hash, data))
    }
}

/// RSA PKCS#1 v1.5 over `message`: SHA-256 with aws-lc-rs, SHA-1 (which aws-lc-rs no longer
/// signs with) with the `rsa` crate over aws-lc-rs's SHA-1 digest.
fn sign(pkcs8_der: &[u8], hash: Hash, message: &[u8]) -> Vec<u8> {
    match hash {
        Hash::Sha256 => {
            let pair = aws_lc_rs::signature::RsaKeyPair::from_pkcs8(pkcs8_der).unwrap();
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
        Hash::Sha1 => {
            use rsa::pkcs8::DecodePrivateKey;
            // RFC 8017 §9.2, note 1: the DER DigestInfo header of a SHA-1 digest.
            const SHA1_DIGEST_INFO: [u8; 15] = [
                0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04,
                0x14,
            ];
            let key = rsa::RsaPrivateKey::from_pkcs8_der(pkcs8_der).unwrap();
            let digest =
                aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, message);
            let padding = rsa::Pkcs1v15Sign {
                hash_len: Some(20),
                prefix: SHA1_DIGEST_INFO.into(),
            };
            key.sign(padding, digest.as_ref()).unwrap()
        }
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
        redirect(
            "SAMLRequest",
            &self.xml(),
            None,
            key.map(|k| (k, Hash::Sha256)),
        )
    }

    /// Over HTTP-Redirect, signed with `key` and `hash`.
    pub fn redirect_hashed(&self, key: &SpKey, hash: Hash) -> Inbound {
        redirect("SAMLRequest", &self.xml(), None, Some((key, hash)))
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
}

/// HTTP-Redirect: the message deflated and base64-encoded in the query, and the query
/// signed (SAML Bindings §3.4.4.1) when a key is given.
pub(super) fn redirect(
    field: &str,
    xml: &str,
    relay_state: Option<&str>,
    key: Option<(&SpKey, Hash)>,
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
    let Some((key, hash)) = key else {
        return Inbound::Redirect(query.finish());
    };
    query.append_pair("SigAlg", hash.signature_method());
    let signed = query.finish();
    let signature = STANDARD.encode(sign(&key.pkcs8_der, hash, signed.as_bytes()));
    let signature = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("Signature", &signature)
        .finish();
    Inbound::Redirect(format!("{signed}&{signature}"))
}

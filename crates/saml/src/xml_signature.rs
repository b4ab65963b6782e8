//! Enveloped XML signatures over an element of a response: RSA-SHA256, exclusive
//! canonicalization, the certificate in `KeyInfo`. The template is SAML's usual one (as
//! saml-rs writes it); bergshamra canonicalizes, digests and assembles the signature, and the
//! RSA signature itself is aws-lc-rs's, with the key parsed once per key rather than once per
//! signature.

use std::sync::Arc;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};

use crate::SamlError;

pub(crate) const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";

/// An RSA key, parsed once, as bergshamra's signer.
#[derive(Clone)]
pub(crate) struct RsaSigner(Arc<RsaKeyPair>);

impl RsaSigner {
    pub(crate) fn from_pkcs8(der: &[u8]) -> Result<Self, SamlError> {
        RsaKeyPair::from_pkcs8(der)
            .map(|key| Self(Arc::new(key)))
            .map_err(|e| SamlError::Signing(format!("parsing the RSA key: {e}")))
    }
}

impl kryptering::Signer for RsaSigner {
    fn algorithm(&self) -> kryptering::SignatureAlgorithm {
        kryptering::SignatureAlgorithm::RsaPkcs1v15(kryptering::HashAlgorithm::Sha256)
    }

    fn sign(&self, data: &[u8]) -> kryptering::Result<Vec<u8>> {
        let mut signature = vec![0; self.0.public_modulus_len()];
        self.0
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                data,
                &mut signature,
            )
            .map_err(|_| kryptering::Error::Crypto("RSA signing failed".to_owned()))?;
        Ok(signature)
    }
}

/// Signs the element whose `ID` is `id`: its signature goes at `at` (just after its `Issuer`,
/// where SAML's schema puts it).
pub(crate) fn sign_at(
    xml: &str,
    at: usize,
    id: &str,
    signer: &RsaSigner,
    cert_base64: &str,
) -> Result<String, SamlError> {
    let template = format!(
        concat!(
            "<ds:Signature xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"><ds:SignedInfo>",
            "<ds:CanonicalizationMethod Algorithm=\"{c14n}\"/><ds:SignatureMethod Algorithm=\"{rsa}\"/>",
            "<ds:Reference URI=\"#{id}\"><ds:Transforms><ds:Transform Algorithm=\"{enveloped}\"/>",
            "<ds:Transform Algorithm=\"{c14n}\"/></ds:Transforms><ds:DigestMethod Algorithm=\"{sha256}\"/>",
            "<ds:DigestValue></ds:DigestValue></ds:Reference></ds:SignedInfo><ds:SignatureValue></ds:SignatureValue>",
            "<ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>",
            "</ds:Signature>"
        ),
        c14n = EXC_C14N,
        rsa = RSA_SHA256,
        id = id,
        enveloped = ENVELOPED,
        sha256 = SHA256,
        cert = cert_base64,
    );
    let at = at.min(xml.len());
    let templated = format!("{}{template}{}", &xml[..at], &xml[at..]);
    let context = bergshamra::DsigContext::new(bergshamra::KeysManager::new())
        .with_hsm_signer(Box::new(signer.clone()));
    bergshamra::sign(&context, &templated).map_err(|e| SamlError::Signing(e.to_string()))
}

/// Where a signature goes in `xml`: after the end of the `n`th (from 1) `Issuer`.
pub(crate) fn after_issuer(xml: &str, n: usize) -> Option<usize> {
    const END: &str = "</saml:Issuer>";
    xml.match_indices(END)
        .nth(n.checked_sub(1)?)
        .map(|(at, _)| at + END.len())
}

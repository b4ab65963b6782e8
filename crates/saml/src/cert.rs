//! Certificates: the service providers' (checked when registered) and the identity
//! provider's own, one per RSA key of the key ring that may sign. The latter is self-signed
//! and made the same on every replica and at every start: its fields come from the key and
//! its activation, and an RSA PKCS#1 v1.5 signature is deterministic.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Datelike, TimeDelta, Utc};

use crate::SamlError;

/// A service provider's certificate, known to parse.
#[derive(Clone, Debug)]
pub struct Certificate {
    pem: String,
}

impl Certificate {
    /// One certificate, or (for an SP's signing certificates, while it rotates them) up to
    /// [`MAX_CERTIFICATES`] one after the other; each must load.
    pub fn from_pem(pem: &str) -> Result<Self, String> {
        let blocks = pem_blocks(pem);
        if blocks.is_empty() {
            return Err("expected a PEM certificate (-----BEGIN CERTIFICATE-----)".to_owned());
        }
        if blocks.len() > MAX_CERTIFICATES {
            return Err(format!(
                "at most {MAX_CERTIFICATES} certificates, one after the other"
            ));
        }
        for block in &blocks {
            saml_rs::crypto::keys::load_certificate(block).map_err(|e| e.to_string())?;
        }
        Ok(Self {
            pem: pem.to_owned(),
        })
    }

    pub fn pem(&self) -> &str {
        &self.pem
    }
}

/// The most certificates one PEM text may hold: an SP's current and next signing keys.
pub const MAX_CERTIFICATES: usize = 4;

/// Each `CERTIFICATE` block of a PEM text.
pub(crate) fn pem_blocks(pem: &str) -> Vec<&str> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let mut blocks = Vec::new();
    let mut rest = pem;
    while let Some(start) = rest.find(BEGIN) {
        let Some(length) = rest[start..].find(END) else {
            break;
        };
        let end = start + length + END.len();
        blocks.push(&rest[start..end]);
        rest = &rest[end..];
    }
    blocks
}

/// A bare base64 certificate (as metadata carries it) as PEM.
pub(crate) fn pem_of_base64(base64: &str) -> String {
    let body: String = base64.chars().filter(|c| !c.is_whitespace()).collect();
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .filter_map(|chunk| std::str::from_utf8(chunk).ok())
        .collect();
    format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        lines.join("\n")
    )
}

/// The base64 body of a PEM certificate, as `X509Certificate` carries it.
pub(crate) fn base64_of_pem(pem: &str) -> String {
    pem.lines()
        .filter(|line| !line.starts_with("-----"))
        .map(str::trim)
        .collect()
}

/// One signing key of the identity provider: its certificate, and the key parsed once.
pub struct IdpCredential {
    pub kid: String,
    pub activates_at: DateTime<Utc>,
    pub cert_pem: String,
    pub(crate) signer: crate::xml_signature::RsaSigner,
    /// PKCS#8 DER, for saml-rs, which signs logout responses with it.
    pub(crate) pkcs8_der: Vec<u8>,
}

impl IdpCredential {
    /// The credential of an RSA key (PKCS#8 DER) activating at `activates_at`.
    pub fn new(
        kid: &str,
        activates_at: DateTime<Utc>,
        pkcs8_der: &[u8],
        issuer: &str,
    ) -> Result<Self, SamlError> {
        let failed = |e: String| SamlError::Signing(format!("key {kid}: {e}"));
        let key_pem = private_key_pem(pkcs8_der);
        let pair = rcgen::KeyPair::from_pem_and_sign_algo(&key_pem, &rcgen::PKCS_RSA_SHA256)
            .map_err(|e| failed(e.to_string()))?;
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new())
            .map_err(|e| failed(e.to_string()))?;
        let mut name = rcgen::DistinguishedName::new();
        let host = url::Url::parse(issuer)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_else(|| "latchkey".to_owned());
        name.push(
            rcgen::DnType::CommonName,
            format!("{host} SAML signing {kid}"),
        );
        name.push(rcgen::DnType::OrganizationName, "Latchkey");
        params.distinguished_name = name;
        // Valid from a fixed day in the past, so a certificate published ahead of its key is
        // already valid where an SP checks, until ten years after the key activates: SAML
        // service providers mostly ignore the dates, and the key ring retires the key. Both
        // are the same on every replica.
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = day(activates_at + TimeDelta::days(3650));
        let cert = params
            .self_signed(&pair)
            .map_err(|e| failed(e.to_string()))?;
        Ok(Self {
            kid: kid.to_owned(),
            activates_at,
            cert_pem: cert.pem(),
            signer: crate::xml_signature::RsaSigner::from_pkcs8(pkcs8_der)?,
            pkcs8_der: pkcs8_der.to_vec(),
        })
    }

    /// The credential of a team certificate, as stored: its PEM and its key.
    pub(crate) fn stored(
        id: &str,
        activates_at: DateTime<Utc>,
        cert_pem: &str,
        pkcs8_der: &[u8],
    ) -> Result<Self, SamlError> {
        Ok(Self {
            kid: id.to_owned(),
            activates_at,
            cert_pem: cert_pem.to_owned(),
            signer: crate::xml_signature::RsaSigner::from_pkcs8(pkcs8_der)?,
            pkcs8_der: pkcs8_der.to_vec(),
        })
    }

    /// The certificate's base64 body, for metadata and `KeyInfo`.
    pub fn cert_base64(&self) -> String {
        base64_of_pem(&self.cert_pem)
    }
}

/// A new team signing certificate: a fresh RSA-2048 key (aws-lc-rs) and a self-signed
/// certificate valid from a day ago (for SPs whose clocks run behind) for `lifetime`.
pub(crate) struct Issued {
    pub cert_pem: String,
    pub pkcs8_der: Vec<u8>,
    pub fingerprint: String,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
}

pub(crate) fn issue(
    subject: &str,
    now: DateTime<Utc>,
    lifetime: TimeDelta,
) -> Result<Issued, SamlError> {
    use aws_lc_rs::encoding::AsDer;
    let failed = |e: String| SamlError::Signing(format!("making a certificate: {e}"));
    let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
        .map_err(|e| failed(e.to_string()))?;
    let pkcs8_der = pair
        .as_der()
        .map_err(|e| failed(e.to_string()))?
        .as_ref()
        .to_vec();
    let key = rcgen::KeyPair::from_pem_and_sign_algo(
        &private_key_pem(&pkcs8_der),
        &rcgen::PKCS_RSA_SHA256,
    )
    .map_err(|e| failed(e.to_string()))?;
    let mut params =
        rcgen::CertificateParams::new(Vec::<String>::new()).map_err(|e| failed(e.to_string()))?;
    let mut name = rcgen::DistinguishedName::new();
    name.push(
        rcgen::DnType::CommonName,
        subject.chars().take(64).collect::<String>(),
    );
    name.push(rcgen::DnType::OrganizationName, "Latchkey");
    params.distinguished_name = name;
    let (not_before, not_after) = (now - TimeDelta::days(1), now + lifetime);
    params.not_before = day(not_before);
    params.not_after = day(not_after);
    let mut serial = [0u8; 16];
    aws_lc_rs::rand::fill(&mut serial).map_err(|e| failed(e.to_string()))?;
    serial[0] &= 0x7f;
    params.serial_number = Some(rcgen::SerialNumber::from_slice(&serial));
    let cert = params
        .self_signed(&key)
        .map_err(|e| failed(e.to_string()))?;
    let fingerprint = latchkey_core::secret::sha256_hex(cert.der());
    Ok(Issued {
        cert_pem: cert.pem(),
        pkcs8_der,
        fingerprint,
        // The dates as the certificate holds them: whole days.
        not_before: at_midnight(not_before),
        not_after: at_midnight(not_after),
    })
}

fn at_midnight(at: DateTime<Utc>) -> DateTime<Utc> {
    at.date_naive()
        .and_hms_opt(0, 0, 0)
        .map_or(at, |midnight| midnight.and_utc())
}

fn day(at: DateTime<Utc>) -> time::OffsetDateTime {
    let month = u8::try_from(at.month()).unwrap_or(1);
    rcgen::date_time_ymd(at.year(), month, u8::try_from(at.day()).unwrap_or(1))
}

/// A PKCS#8 DER private key as PEM.
pub(crate) fn private_key_pem(pkcs8_der: &[u8]) -> String {
    let body = STANDARD.encode(pkcs8_der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .filter_map(|chunk| std::str::from_utf8(chunk).ok())
        .collect();
    format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        lines.join("\n")
    )
}

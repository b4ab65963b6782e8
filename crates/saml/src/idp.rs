//! One identity provider: a team's (its certificates, one of them signing) or the shared one
//! (a snapshot of the key ring). Its metadata, the requests it reads (`read`, through saml-rs,
//! which refuses DTDs, bounds inflation and checks signatures against XML signature
//! wrapping), the responses it signs, and the logout requests it sends (`single_logout`).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use latchkey_keys::KeyRing;
use quick_xml::escape::escape;
use saml_rs::{
    AuthnRequestAgePolicy, AuthnRequestValidationPolicy, CertificatePem, Credentials, EntityId,
    Idp, IdpConfig, IdpValidationPolicy, LogoutPolicy, LogoutSignaturePolicy, MetadataTrustPolicy,
    PrivateKeyPem, ReplayPolicy, RespondSlo, Saml, SamlValidationContext, SloEndpoint,
    SpDescriptor, SsoEndpoint,
};

use crate::cert::{IdpCredential, base64_of_pem};
use crate::identity::{Addresses, Identity};
use crate::messages::{Inbound, LogoutAsk, Outgoing, RequestError};
use crate::response::{self, Issue};
use crate::{NameIdFormat, SamlError, ServiceProvider};

/// How old a request may be when it arrives (beside saml-rs's clock skew).
pub const REQUEST_MAX_AGE: Duration = Duration::from_secs(300);

const MD: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
const POST: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";
const REDIRECT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";

/// The identity provider, for one key ring.
pub struct IdentityProvider {
    entity_id: String,
    sso_url: String,
    slo_url: String,
    /// Every RSA key that may sign, oldest activation first.
    credentials: Vec<IdpCredential>,
    /// The kid of the key that signs.
    signing_kid: String,
    /// Reads requests of SPs that sign theirs (a signature is required), and of those that
    /// do not (a signature is checked only if present).
    strict: Saml<Idp>,
    lax: Saml<Idp>,
    /// Each SP as saml-rs reads it, by `sp_id`, with what it was made from (an update
    /// changes that), so its metadata is not written and parsed again for every request.
    descriptors: std::sync::Mutex<std::collections::HashMap<String, (DescribedAs, Described)>>,
}

/// An SP as saml-rs reads it, and as its lower level (which reads sign-on requests) does.
type Described = (Arc<SpDescriptor>, Arc<saml_rs::raw::ServiceProvider>);

/// The fields of a registration an SP descriptor is made from.
#[derive(PartialEq, Eq)]
struct DescribedAs {
    entity_id: String,
    acs_urls: Vec<String>,
    slo_url: Option<String>,
    signing_cert: Option<String>,
    requires_signed_requests: bool,
}

impl DescribedAs {
    fn of(sp: &ServiceProvider) -> Self {
        Self {
            entity_id: sp.entity_id.clone(),
            acs_urls: sp.acs_urls.clone(),
            slo_url: sp.slo_url.clone(),
            signing_cert: sp.signing_cert.clone(),
            requires_signed_requests: sp.requires_signed_requests,
        }
    }

    fn describes(&self, sp: &ServiceProvider) -> bool {
        self.entity_id == sp.entity_id
            && self.acs_urls == sp.acs_urls
            && self.slo_url == sp.slo_url
            && self.signing_cert == sp.signing_cert
            && self.requires_signed_requests == sp.requires_signed_requests
    }
}

/// The most SP descriptors kept; past it the cache starts again.
const DESCRIPTORS: usize = 1024;

impl IdentityProvider {
    /// The shared identity provider of SPs registered before teams had their own: the key
    /// ring's RSA keys, the newest active one signing.
    pub fn new(
        issuer: &latchkey_core::Issuer,
        ring: &KeyRing,
        now: DateTime<Utc>,
    ) -> Result<Self, SamlError> {
        let credentials = ring
            .rsa_signing_keys()
            .filter_map(|key| {
                let der = key.rsa_pkcs8_der()?;
                Some(IdpCredential::new(
                    &key.kid,
                    key.activates_at,
                    der,
                    issuer.as_str(),
                ))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let signing_kid = credentials
            .iter()
            .rev()
            .find(|c| c.activates_at <= now)
            .map(|c| c.kid.clone())
            .ok_or_else(|| {
                SamlError::Signing("no RSA key is active: run `latchkey keys rotate`".to_owned())
            })?;
        Self::build(Identity::Shared.addresses(issuer), credentials, signing_kid)
    }

    /// A team's identity provider, signing with `signing` (a certificate id), its metadata
    /// publishing every one of `credentials`.
    pub(crate) fn for_team(
        issuer: &latchkey_core::Issuer,
        team_id: &latchkey_core::TeamId,
        credentials: Vec<IdpCredential>,
        signing: &str,
    ) -> Result<Self, SamlError> {
        let addresses = Identity::Team(team_id.clone()).addresses(issuer);
        Self::build(addresses, credentials, signing.to_owned())
    }

    fn build(
        addresses: Addresses,
        credentials: Vec<IdpCredential>,
        signing_kid: String,
    ) -> Result<Self, SamlError> {
        let Addresses {
            idp_entity_id: entity_id,
            sso_url,
            slo_url,
            ..
        } = addresses;
        let signing = credentials
            .iter()
            .find(|c| c.kid == signing_kid)
            .ok_or_else(|| SamlError::Signing(format!("certificate {signing_kid} is gone")))?;
        let key_pem = crate::cert::private_key_pem(&signing.pkcs8_der);
        let engine = |strict: bool| -> Result<Saml<Idp>, SamlError> {
            let failed = |e: saml_rs::SamlError| SamlError::Signing(e.to_string());
            let requests = if strict {
                LogoutSignaturePolicy::RequireSigned
            } else {
                LogoutSignaturePolicy::AllowUnsignedForCompatibility
            };
            let config = IdpConfig::builder(EntityId::try_new(entity_id.clone()).map_err(failed)?)
                .sso_endpoint(SsoEndpoint::redirect(sso_url.clone()).map_err(failed)?)
                .sso_endpoint(SsoEndpoint::post(sso_url.clone()).map_err(failed)?)
                .slo_endpoint(SloEndpoint::redirect(slo_url.clone()).map_err(failed)?)
                .slo_endpoint(SloEndpoint::post(slo_url.clone()).map_err(failed)?)
                .name_id_format(saml_rs::NameIdFormat::EmailAddress)
                .credentials(Credentials {
                    signing_key: Some(PrivateKeyPem::new(key_pem.clone())),
                    signing_certificate: Some(CertificatePem::new(signing.cert_pem.clone())),
                    ..Credentials::default()
                })
                .validation(IdpValidationPolicy {
                    authn_requests: if strict {
                        AuthnRequestValidationPolicy::RequireSigned
                    } else {
                        AuthnRequestValidationPolicy::AllowUnsignedVerifyIfPresent
                    },
                    logout: LogoutPolicy {
                        requests,
                        responses: requests,
                    },
                })
                .build()
                .map_err(failed)?;
            Saml::idp(config).map_err(failed)
        };
        Ok(Self {
            strict: engine(true)?,
            lax: engine(false)?,
            entity_id,
            sso_url,
            slo_url,
            credentials,
            signing_kid,
            descriptors: std::sync::Mutex::default(),
        })
    }

    /// Whether this was built for the key that signs at `now` in `ring`.
    pub fn signs_with(&self, kid: &str) -> bool {
        self.signing_kid == kid
    }

    pub fn entity_id(&self) -> &str {
        &self.entity_id
    }

    /// The certificate that signs now (PEM).
    pub fn signing_certificate(&self) -> &str {
        self.signing().map_or("", |c| c.cert_pem.as_str())
    }

    fn signing(&self) -> Option<&IdpCredential> {
        self.credentials.iter().find(|c| c.kid == self.signing_kid)
    }

    /// The metadata: both bindings of sign-on and logout, the NameID formats, and a
    /// certificate for each key that may sign, so a key published ahead is trusted before it
    /// signs.
    pub fn metadata_xml(&self) -> String {
        let keys: String = self
            .credentials
            .iter()
            .map(|c| {
                format!(
                    "<md:KeyDescriptor use=\"signing\"><ds:KeyInfo><ds:KeyName>{}</ds:KeyName><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>",
                    escape(c.kid.as_str()),
                    c.cert_base64()
                )
            })
            .collect();
        let (slo, sso) = (escape(self.slo_url.as_str()), escape(self.sso_url.as_str()));
        format!(
            concat!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
                "<md:EntityDescriptor xmlns:md=\"{md}\" xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\" entityID=\"{entity}\">",
                "<md:IDPSSODescriptor WantAuthnRequestsSigned=\"false\" protocolSupportEnumeration=\"urn:oasis:names:tc:SAML:2.0:protocol\">",
                "{keys}",
                "<md:SingleLogoutService Binding=\"{redirect}\" Location=\"{slo}\"/>",
                "<md:SingleLogoutService Binding=\"{post}\" Location=\"{slo}\"/>",
                "<md:NameIDFormat>{email}</md:NameIDFormat>",
                "<md:NameIDFormat>{persistent}</md:NameIDFormat>",
                "<md:NameIDFormat>{transient}</md:NameIDFormat>",
                "<md:NameIDFormat>{unspecified}</md:NameIDFormat>",
                "<md:SingleSignOnService Binding=\"{redirect}\" Location=\"{sso}\"/>",
                "<md:SingleSignOnService Binding=\"{post}\" Location=\"{sso}\"/>",
                "</md:IDPSSODescriptor></md:EntityDescriptor>\n"
            ),
            md = MD,
            entity = escape(self.entity_id.as_str()),
            keys = keys,
            redirect = REDIRECT,
            post = POST,
            slo = slo,
            sso = sso,
            email = NameIdFormat::Email.urn(),
            persistent = NameIdFormat::Persistent.urn(),
            transient = NameIdFormat::Transient.urn(),
            unspecified = NameIdFormat::Unspecified.urn(),
        )
    }

    /// The signed `LogoutResponse` to a request, as a redirect URL (`post` false) or as the
    /// action and fields of a form to post.
    pub fn logout_response(
        &self,
        sp: &ServiceProvider,
        ask: &LogoutAsk,
        post: bool,
    ) -> Result<Outgoing, SamlError> {
        let failed = |e: saml_rs::SamlError| SamlError::Signing(e.to_string());
        let descriptor = self
            .descriptor(sp)
            .map_err(|e| SamlError::Signing(e.to_string()))?;
        let options = if post {
            RespondSlo::post()
        } else {
            RespondSlo::redirect()
        };
        let outbound = self
            .engine(sp)
            .respond_slo(&descriptor, &ask.received, options)
            .map_err(failed)?;
        if post {
            let form = outbound.post_form().map_err(failed)?;
            Ok(Outgoing::Post {
                action: form.action().as_str().to_owned(),
                fields: form
                    .fields()
                    .iter()
                    .map(|f| (f.name().to_owned(), f.value().to_owned()))
                    .collect(),
            })
        } else {
            Ok(Outgoing::Redirect(
                outbound.redirect_url().map_err(failed)?.to_owned(),
            ))
        }
    }

    /// A signed (and, for an SP that asked, encrypted) `Response`, base64 for the form.
    pub fn response(&self, issue: &Issue<'_>) -> Result<String, SamlError> {
        let signing = self
            .signing()
            .ok_or_else(|| SamlError::Signing("no signing key".to_owned()))?;
        Ok(STANDARD.encode(response::build(issue, signing)?))
    }

    /// A signed `Response` saying why there is no assertion, base64 for the form.
    pub fn status_response(
        &self,
        destination: &str,
        in_response_to: Option<&str>,
        status: (&str, &str),
        now: DateTime<Utc>,
    ) -> Result<String, SamlError> {
        let signing = self
            .signing()
            .ok_or_else(|| SamlError::Signing("no signing key".to_owned()))?;
        let xml = response::build_status(
            &self.entity_id,
            destination,
            in_response_to,
            status,
            now,
            signing,
        )?;
        Ok(STANDARD.encode(xml))
    }

    fn descriptor(&self, sp: &ServiceProvider) -> Result<Arc<SpDescriptor>, RequestError> {
        Ok(self.described(sp)?.0)
    }

    /// The SP as saml-rs reads it, at both levels, made once per registration.
    fn described(&self, sp: &ServiceProvider) -> Result<Described, RequestError> {
        let mut cache = self
            .descriptors
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((made_from, found)) = cache.get(sp.sp_id.as_str())
            && made_from.describes(sp)
        {
            return Ok(found.clone());
        }
        let descriptor = descriptor(sp)?;
        let raw = saml_rs::raw::ServiceProvider::from_metadata(
            descriptor.metadata_xml(),
            saml_rs::raw::EntitySetting::default(),
        )
        .map_err(|e| RequestError::Refused(format!("the SP's registration: {e}")))?;
        let made = (Arc::new(descriptor), Arc::new(raw));
        if cache.len() >= DESCRIPTORS {
            cache.clear();
        }
        cache.insert(sp.sp_id.to_string(), (DescribedAs::of(sp), made.clone()));
        Ok(made)
    }

    /// Strict for an SP that requires signed requests; otherwise a signature is verified
    /// when there is one.
    /// The engine that reads a logout message from `sp`: the strict one when the SP requires
    /// signatures, and also when the message carries one and the SP has a certificate to
    /// check it with, since saml-rs's lax logout policy would not verify it: a signature
    /// present is verified, as for sign-on requests.
    pub(crate) fn logout_engine(&self, sp: &ServiceProvider, inbound: &Inbound) -> &Saml<Idp> {
        if sp.verifies_signed_requests && inbound.is_signed() {
            &self.strict
        } else {
            self.engine(sp)
        }
    }

    fn engine(&self, sp: &ServiceProvider) -> &Saml<Idp> {
        if sp.requires_signed_requests {
            &self.strict
        } else {
            &self.lax
        }
    }
}

fn validation(now: DateTime<Utc>) -> SamlValidationContext<'static> {
    let now = SystemTime::UNIX_EPOCH
        + Duration::from_millis(u64::try_from(now.timestamp_millis()).unwrap_or(0));
    // Replays are refused by Latchkey's own store, shared by every replica.
    SamlValidationContext::new(now, ReplayPolicy::DisabledForCompatibility).with_authn_request_age(
        AuthnRequestAgePolicy::Bounded {
            max_age: REQUEST_MAX_AGE,
        },
    )
}

/// The SP as saml-rs reads it: metadata written from its registration.
fn descriptor(sp: &ServiceProvider) -> Result<SpDescriptor, RequestError> {
    // Each of the SP's signing certificates verifies its requests, so that it can rotate.
    let key: String = crate::cert::pem_blocks(sp.signing_cert.as_deref().unwrap_or_default())
        .into_iter()
        .map(|pem| {
            format!(
                "<md:KeyDescriptor use=\"signing\"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>",
                base64_of_pem(pem)
            )
        })
        .collect();
    let acs: String = sp
        .acs_urls
        .iter()
        .enumerate()
        .map(|(index, url)| {
            format!(
                "<md:AssertionConsumerService Binding=\"{POST}\" Location=\"{}\" index=\"{index}\"/>",
                escape(url.as_str())
            )
        })
        .collect();
    let slo = sp
        .slo_url
        .as_deref()
        .map(|url| {
            let url = escape(url);
            format!(
                "<md:SingleLogoutService Binding=\"{REDIRECT}\" Location=\"{url}\"/><md:SingleLogoutService Binding=\"{POST}\" Location=\"{url}\"/>"
            )
        })
        .unwrap_or_default();
    let xml = format!(
        "<md:EntityDescriptor xmlns:md=\"{MD}\" xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\" entityID=\"{}\"><md:SPSSODescriptor AuthnRequestsSigned=\"{}\" protocolSupportEnumeration=\"urn:oasis:names:tc:SAML:2.0:protocol\">{key}{slo}<md:NameIDFormat>{}</md:NameIDFormat>{acs}</md:SPSSODescriptor></md:EntityDescriptor>",
        escape(sp.entity_id.as_str()),
        sp.requires_signed_requests,
        sp.name_id_format.urn(),
    );
    let entity = EntityId::try_new(sp.entity_id.clone())
        .map_err(|e| RequestError::Refused(e.to_string()))?;
    SpDescriptor::from_metadata_xml_for(entity, &xml, MetadataTrustPolicy::UnsignedForCompatibility)
        .map_err(|e| RequestError::Refused(format!("the SP's registration: {e}")))
}

/// Requests read from SPs: sign-on and logout.
mod read;

/// Logout requests Latchkey sends (single logout across SPs), and the answers read.
mod single_logout;
pub use single_logout::LogoutAnswer;

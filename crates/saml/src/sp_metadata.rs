//! What a service provider's own metadata says about it: read with DTDs refused (roxmltree
//! does not expand entities and refuses a DOCTYPE unless asked), and bounded in size.

use crate::attributes::Attribute;
use crate::{AcsEndpoint, Encryption, NameIdFormat, SamlError};

const MD: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
const DS: &str = "http://www.w3.org/2000/09/xmldsig#";
const POST: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";
const REDIRECT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
/// The largest metadata document read.
pub const MAX_METADATA: usize = 256 * 1024;

/// The parts of an SP's metadata Latchkey uses.
#[derive(Debug, Default)]
pub struct SpMetadata {
    pub entity_id: String,
    /// Its HTTP-POST assertion consumer services, by their index.
    pub acs_urls: Vec<String>,
    /// Every assertion consumer service, of any binding, with its index.
    pub acs_endpoints: Vec<AcsEndpoint>,
    /// Its `AuthnRequestsSigned`, when it says (absent means false).
    pub authn_requests_signed: Option<bool>,
    pub slo_url: Option<String>,
    /// The first NameID format it lists that Latchkey gives.
    pub name_id_format: Option<NameIdFormat>,
    /// PEM.
    pub signing_cert: Option<String>,
    /// PEM.
    pub encrypt_cert: Option<String>,
    pub encryption: Option<Encryption>,
    /// What its `AttributeConsumingService` asks for that Latchkey can fill, in its order,
    /// with the `NameFormat` it names.
    pub attributes: Vec<Attribute>,
}

impl SpMetadata {
    pub fn parse(xml: &str) -> Result<Self, SamlError> {
        let bad = |why: &str| SamlError::Metadata(why.to_owned());
        if xml.len() > MAX_METADATA {
            return Err(bad("it is larger than 256 KiB"));
        }
        let document = roxmltree::Document::parse(xml).map_err(|e| {
            SamlError::Metadata(format!("it is not well-formed XML without a DTD ({e})"))
        })?;
        let entity = document
            .descendants()
            .find(|n| n.has_tag_name((MD, "EntityDescriptor")))
            .ok_or_else(|| bad("there is no EntityDescriptor"))?;
        let sp = entity
            .children()
            .find(|n| n.has_tag_name((MD, "SPSSODescriptor")))
            .ok_or_else(|| bad("there is no SPSSODescriptor: is this an SP's metadata?"))?;
        // Each with its index (by position when it has none, as an SP registered with URLs
        // alone), in index order.
        let mut acs_endpoints: Vec<AcsEndpoint> = sp
            .children()
            .filter(|n| n.has_tag_name((MD, "AssertionConsumerService")))
            .enumerate()
            .filter_map(|(position, n)| {
                let index = n
                    .attribute("index")
                    .and_then(|i| i.trim().parse().ok())
                    .unwrap_or(u16::try_from(position).unwrap_or(u16::MAX));
                Some(AcsEndpoint {
                    index,
                    binding: n.attribute("Binding")?.to_owned(),
                    url: n.attribute("Location")?.to_owned(),
                })
            })
            .collect();
        acs_endpoints.sort_by_key(|e| e.index);
        let acs_urls = acs_endpoints
            .iter()
            .filter(|e| e.is_post())
            .map(|e| e.url.clone())
            .collect();
        let authn_requests_signed = sp
            .attribute("AuthnRequestsSigned")
            .map(|v| matches!(v.trim(), "true" | "1"));
        let slo_url = [REDIRECT, POST].iter().find_map(|binding| {
            sp.children()
                .filter(|n| n.has_tag_name((MD, "SingleLogoutService")))
                .find(|n| n.attribute("Binding") == Some(*binding))
                .and_then(|n| n.attribute("Location"))
                .map(str::to_owned)
        });
        let name_id_format = sp
            .children()
            .filter(|n| n.has_tag_name((MD, "NameIDFormat")))
            .find_map(|n| n.text().and_then(|t| NameIdFormat::from_urn(t.trim())));
        // A key without `use` verifies requests; assertions are encrypted only to a key the
        // SP marks for encryption, as it then expects them encrypted.
        let keys = |usage: &'static str| {
            sp.children()
                .filter(|n| n.has_tag_name((MD, "KeyDescriptor")))
                .filter(move |n| match n.attribute("use") {
                    None => usage == "signing",
                    Some(u) => u == usage,
                })
                .filter_map(|n| {
                    let cert = n
                        .descendants()
                        .find(|c| c.has_tag_name((DS, "X509Certificate")))?
                        .text()?;
                    let encryption = n
                        .children()
                        .filter(|c| c.has_tag_name((MD, "EncryptionMethod")))
                        .find_map(|c| c.attribute("Algorithm").and_then(Encryption::from_uri));
                    Some((crate::cert::pem_of_base64(cert), encryption))
                })
        };
        // Every signing key (an SP rotating its key lists both), the first encryption key.
        let signing: Vec<String> = keys("signing")
            .take(crate::cert::MAX_CERTIFICATES)
            .map(|(pem, _)| pem)
            .collect();
        let encrypting = keys("encryption").next();
        let attributes = requested_attributes(sp);
        Ok(Self {
            entity_id: entity
                .attribute("entityID")
                .ok_or_else(|| bad("the EntityDescriptor has no entityID"))?
                .to_owned(),
            acs_urls,
            acs_endpoints,
            authn_requests_signed,
            slo_url,
            name_id_format,
            signing_cert: (!signing.is_empty()).then(|| signing.concat()),
            encryption: encrypting.as_ref().and_then(|(_, e)| *e),
            encrypt_cert: encrypting.map(|(pem, _)| pem),
            attributes,
        })
    }
}

/// The attributes the SP's default `AttributeConsumingService` (the one marked `isDefault`,
/// else the first) requests and Latchkey can fill, each name once.
fn requested_attributes(sp: roxmltree::Node<'_, '_>) -> Vec<Attribute> {
    let services: Vec<_> = sp
        .children()
        .filter(|n| n.has_tag_name((MD, "AttributeConsumingService")))
        .collect();
    let Some(service) = services
        .iter()
        .find(|n| n.attribute("isDefault") == Some("true"))
        .or(services.first())
    else {
        return Vec::new();
    };
    let mut attributes: Vec<Attribute> = Vec::new();
    for requested in service
        .children()
        .filter(|n| n.has_tag_name((MD, "RequestedAttribute")))
    {
        let Some(name) = requested.attribute("Name") else {
            continue;
        };
        let known = crate::requested::requested(
            name,
            requested.attribute("NameFormat"),
            requested.attribute("FriendlyName"),
        );
        if let Some(attribute) = known
            && !attributes.iter().any(|a| a.name == attribute.name)
        {
            attributes.push(attribute);
        }
    }
    attributes
}

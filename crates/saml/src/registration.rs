//! What an administrator gives to register (or change) a service provider, checked: its
//! entity ID, free within its team; its ACS and logout URLs, https; its audience, its
//! attributes and certificates.

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::cert::Certificate;
use crate::entities::service_provider;
use crate::error::SamlError;
use crate::{AcsEndpoint, Attribute, Encryption, NameIdFormat, NewServiceProvider, Signing};

/// The most ACS URLs one service provider may register.
const MAX_ACS_URLS: usize = 10;
/// The most assertion consumer services of every binding kept from an SP's metadata.
const MAX_ACS_ENDPOINTS: usize = 2 * MAX_ACS_URLS;

/// A registration's fields, checked: what a row stores of them.
pub(crate) struct Checked {
    pub(crate) entity_id: String,
    name: String,
    acs_urls: Vec<String>,
    slo_url: Option<String>,
    name_id_format: NameIdFormat,
    attributes: Vec<Attribute>,
    audience: Option<String>,
    sign: Signing,
    signing_cert: Option<String>,
    encrypt_cert: Option<String>,
    encryption: Encryption,
    idp_initiated: bool,
    requires_signed_requests: bool,
    allow_sha1: bool,
    acs_endpoints: Vec<AcsEndpoint>,
}

impl Checked {
    /// `row` with these fields (its id, team, key and creation kept).
    pub(crate) fn into_row(self, row: service_provider::Model) -> service_provider::Model {
        service_provider::Model {
            entity_id: self.entity_id,
            name: self.name,
            acs_urls: serde_json::to_string(&self.acs_urls).unwrap_or_default(),
            slo_url: self.slo_url,
            name_id_format: self.name_id_format.as_str().to_owned(),
            attributes: crate::attributes::to_stored(&self.attributes),
            audience: self.audience,
            sign: self.sign.as_str().to_owned(),
            signing_cert: self.signing_cert,
            encrypt_cert: self.encrypt_cert,
            encryption: self.encryption.as_str().to_owned(),
            idp_initiated: self.idp_initiated,
            requests_signed: self.requires_signed_requests,
            allow_sha1: self.allow_sha1,
            acs_endpoints: serde_json::to_string(&self.acs_endpoints)
                .unwrap_or_else(|_| "[]".to_owned()),
            ..row
        }
    }
}

/// Checks every field of a registration, as given or as changed.
pub(crate) fn check(new: NewServiceProvider) -> Result<Checked, SamlError> {
    let entity_id = new.entity_id.trim().to_owned();
    if !is_identifier(&entity_id) {
        return Err(SamlError::EntityId);
    }
    let audience = match new.audience.as_deref().map(str::trim) {
        Some(audience) if !is_identifier(audience) => return Err(SamlError::Audience),
        audience => audience.map(str::to_owned),
    };
    let acs_urls = checked_urls(&new.acs_urls)?;
    let slo_url = match new.slo_url.as_deref().map(str::trim) {
        Some(url) if !url.is_empty() => Some(checked_url(url)?),
        _ => None,
    };
    let name = new
        .name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .unwrap_or(entity_id.as_str())
        .chars()
        .take(200)
        .collect::<String>();
    if name.chars().any(char::is_control) {
        return Err(SamlError::Name);
    }
    // AES-CBC alone is open to padding oracles: the response is signed over it.
    let sign = match (&new.encrypt_cert, new.encryption) {
        (Some(_), crate::Encryption::Aes256Cbc) if !new.sign.response() => Signing::Both,
        _ => new.sign,
    };
    let attributes = if new.attributes.is_empty() {
        crate::default_attributes()
    } else {
        new.attributes
    };
    let attributes = crate::attributes::checked(attributes, &new.attribute_formats)?;
    // Each certificate is parsed now, so a wrong file is said at once.
    for (pem, what) in [
        (&new.signing_cert, "signing"),
        (&new.encrypt_cert, "encryption"),
    ] {
        if let Some(pem) = pem {
            Certificate::from_pem(pem).map_err(|e| SamlError::Certificate(what, e))?;
        }
    }
    // Assertions are encrypted to one certificate; only request signatures may be checked
    // against several (an SP rotating its key).
    if let Some(pem) = &new.encrypt_cert
        && crate::cert::pem_blocks(pem).len() > 1
    {
        return Err(SamlError::Certificate(
            "encryption",
            "give one certificate: assertions are encrypted to one".to_owned(),
        ));
    }
    // A certificate alone verifies signed requests; requiring them needs one.
    if new.requires_signed_requests && new.signing_cert.is_none() {
        return Err(SamlError::SignedRequestsNeedCertificate);
    }
    let acs_endpoints = checked_endpoints(new.acs_endpoints, &acs_urls)?;
    Ok(Checked {
        entity_id,
        name,
        acs_urls,
        slo_url,
        name_id_format: new.name_id_format,
        attributes,
        audience,
        sign,
        signing_cert: new.signing_cert,
        encrypt_cert: new.encrypt_cert,
        encryption: new.encryption,
        idp_initiated: new.idp_initiated,
        requires_signed_requests: new.requires_signed_requests,
        allow_sha1: new.allow_sha1,
        acs_endpoints,
    })
}

/// An entity ID or audience: 1 to 512 characters, none of them spaces or controls.
fn is_identifier(id: &str) -> bool {
    !id.is_empty() && id.len() <= 512 && !id.chars().any(|c| c.is_control() || c.is_whitespace())
}

/// Refuses an entity ID another SP of the team has (`except` the one being changed). Entity
/// IDs are a team's own: another team's SP of the same name neither blocks nor is reached.
pub(crate) async fn entity_id_free(
    conn: &impl sea_orm::ConnectionTrait,
    team_id: &latchkey_core::TeamId,
    entity_id: &str,
    except: Option<&str>,
) -> Result<(), SamlError> {
    let mut query = service_provider::Entity::find()
        .filter(service_provider::Column::TeamId.eq(team_id.as_str()))
        .filter(service_provider::Column::EntityId.eq(entity_id));
    if let Some(id) = except {
        query = query.filter(service_provider::Column::Id.ne(id));
    }
    match query.one(conn).await? {
        Some(_) => Err(SamlError::EntityIdTaken(entity_id.to_owned())),
        None => Ok(()),
    }
}

fn checked_urls(urls: &[String]) -> Result<Vec<String>, SamlError> {
    let urls: Vec<String> = urls
        .iter()
        .flat_map(|u| u.split(','))
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(checked_url)
        .collect::<Result<_, _>>()?;
    if urls.is_empty() {
        return Err(SamlError::NoAcsUrl);
    }
    if urls.len() > MAX_ACS_URLS {
        return Err(SamlError::TooManyAcsUrls(MAX_ACS_URLS));
    }
    Ok(urls)
}

/// The assertion consumer services of an SP's metadata, each index once; the HTTP-POST ones
/// are checked as ACS URLs are, and must be the ACS URLs registered (answers go to those
/// only). None: the ACS URLs, indexed by position.
fn checked_endpoints(
    endpoints: Vec<AcsEndpoint>,
    acs_urls: &[String],
) -> Result<Vec<AcsEndpoint>, SamlError> {
    if endpoints.is_empty() {
        return Ok(endpoints);
    }
    if endpoints.len() > MAX_ACS_ENDPOINTS {
        return Err(SamlError::TooManyAcsUrls(MAX_ACS_ENDPOINTS));
    }
    let mut indexes = std::collections::HashSet::new();
    for endpoint in &endpoints {
        // Only the HTTP-POST ones are ever posted to; the others are kept to refuse clearly
        // a request that names them.
        let unusable = |text: &str| text.len() > 2048 || text.chars().any(char::is_control);
        if endpoint.is_post() {
            checked_url(&endpoint.url)?;
        } else if unusable(&endpoint.url) || unusable(&endpoint.binding) {
            return Err(SamlError::Url(endpoint.url.clone()));
        }
        if !indexes.insert(endpoint.index) {
            return Err(SamlError::AcsIndexTwice(endpoint.index));
        }
    }
    let posted: std::collections::HashSet<&str> = endpoints
        .iter()
        .filter(|e| e.is_post())
        .map(|e| e.url.as_str())
        .collect();
    if posted != acs_urls.iter().map(String::as_str).collect() {
        return Err(SamlError::AcsEndpointsDisagree);
    }
    Ok(endpoints)
}

/// An https URL, or http on loopback (for development).
fn checked_url(url: &str) -> Result<String, SamlError> {
    let parsed = url::Url::parse(url).map_err(|_| SamlError::Url(url.to_owned()))?;
    let loopback = matches!(
        parsed.host(),
        Some(url::Host::Ipv4(ip)) if ip.is_loopback()
    ) || matches!(parsed.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback())
        || parsed.host_str() == Some("localhost");
    let allowed = parsed.scheme() == "https" || (parsed.scheme() == "http" && loopback);
    // The URL is kept as given, so what the parser would drop is refused.
    let clean = !url.chars().any(|c| c.is_control() || c.is_whitespace());
    if !allowed || !clean || parsed.fragment().is_some() || url.len() > 2048 {
        return Err(SamlError::Url(url.to_owned()));
    }
    Ok(url.to_owned())
}

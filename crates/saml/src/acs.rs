//! Where a sign-on's answer goes: the SP's assertion consumer services as its metadata lists
//! them (each with its `index` and binding), and the one a request names, by URL or by
//! index. Latchkey answers over HTTP-POST only, so an index naming another binding is
//! refused, as is an index or URL the SP never registered: an ACS URL is never taken from a
//! request otherwise.

use serde::{Deserialize, Serialize};

use crate::{Refusal, ServiceProvider, SignOnRequest};

/// The binding Latchkey answers over.
pub(crate) const POST: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";

/// One `AssertionConsumerService` of an SP.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcsEndpoint {
    /// Its `index` in the SP's metadata (for an SP registered with ACS URLs, its position).
    pub index: u16,
    /// Its `Binding` (a URN).
    pub binding: String,
    pub url: String,
}

impl AcsEndpoint {
    /// Answered over HTTP-POST.
    pub fn is_post(&self) -> bool {
        self.binding == POST
    }

    /// The ACS URLs of an SP registered with them alone, indexed by position from 0.
    pub(crate) fn by_position(urls: &[String]) -> Vec<Self> {
        urls.iter()
            .enumerate()
            .map(|(index, url)| Self {
                index: u16::try_from(index).unwrap_or(u16::MAX),
                binding: POST.to_owned(),
                url: url.clone(),
            })
            .collect()
    }
}

/// A binding's short name, as a page says it: `Artifact`, `PAOS`, … (the URN's last part).
pub(crate) fn binding_name(urn: &str) -> &str {
    match urn.rsplit(':').next() {
        Some("HTTP-Artifact") => "Artifact",
        Some(name) if !name.is_empty() => name,
        _ => urn,
    }
}

/// The registered ACS URL a request's answer goes to: the one it names by `index` (looked up
/// by the metadata's index, and answered over HTTP-POST only), or by URL, or else the first.
/// SAML Core §3.4.1 makes the index and the URL exclusive: a request with both is refused.
pub(crate) fn chosen_acs_url(
    sp: &ServiceProvider,
    asked: &SignOnRequest,
) -> Result<String, Refusal> {
    let sp_name = || sp.name.clone();
    let Some(index) = asked.acs_index else {
        return match sp.acs_url(asked.acs_url.as_deref()) {
            Some(url) => Ok(url.to_owned()),
            None => {
                tracing::warn!(sp = %sp.sp_id, asked = ?asked.acs_url, "SAML request names an ACS URL that is not registered");
                Err(Refusal::AcsNotRegistered { sp: sp_name() })
            }
        };
    };
    if asked.acs_url.is_some() {
        tracing::warn!(sp = %sp.sp_id, index, "SAML request names an ACS by both index and URL");
        return Err(Refusal::AcsIndexAndUrl { sp: sp_name() });
    }
    let Some(endpoint) = sp.acs_endpoints.iter().find(|e| e.index == index) else {
        tracing::warn!(sp = %sp.sp_id, index, "SAML request names an ACS index that is not registered");
        return Err(Refusal::AcsIndexNotRegistered {
            sp: sp_name(),
            index,
        });
    };
    if !endpoint.is_post() {
        tracing::warn!(sp = %sp.sp_id, index, binding = %endpoint.binding, "SAML request names an ACS of another binding");
        return Err(Refusal::AcsBinding {
            sp: sp_name(),
            binding: binding_name(&endpoint.binding).to_owned(),
        });
    }
    // The POST endpoints are the registered ACS URLs; one that is not is never posted to.
    sp.acs_url(Some(&endpoint.url))
        .map(str::to_owned)
        .ok_or(Refusal::AcsNotRegistered { sp: sp_name() })
}

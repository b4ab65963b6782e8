//! The SAML section of `/dashboard/integrations`: register a service provider (from its fields
//! or its pasted metadata), change one (its certificates when it rotates them) and remove one.
//! Administrators only; the domain checks the role on every action.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use latchkey_core::urls;
use latchkey_core::{SamlSpId, TeamId};
use latchkey_login::Requester;
use latchkey_saml::{
    Attribute, AttributeFormat, NewServiceProvider, SamlError, ServiceProviderChange, SpMetadata,
};
use latchkey_teams::TeamError;
use serde::Deserialize;

use super::reply::{back_to, refusal};
use crate::state::AppState;
use crate::web::error::PageError;
use crate::web::extract::{SignedInForm, works_in};

/// Where the page shows service providers, and the notice of what was done to them.
const SECTION: &str = "#saml-heading";

/// `POST …/saml`.
#[derive(Deserialize)]
pub(super) struct AddForm {
    #[serde(default)]
    team: TeamId,
    #[serde(default)]
    name: String,
    /// The SP's metadata, pasted: read first, the fields below win over it.
    #[serde(default)]
    metadata: String,
    #[serde(default)]
    entity_id: String,
    /// One per line.
    #[serde(default)]
    acs_urls: String,
    #[serde(default)]
    slo_url: String,
    #[serde(default)]
    audience: String,
    /// One per line: `NAME=CLAIM` or `NAME=literal:VALUE`.
    #[serde(default)]
    attributes: String,
    /// One per line: `NAME=FORMAT`.
    #[serde(default)]
    attribute_formats: String,
    #[serde(default)]
    name_id_format: String,
    #[serde(default)]
    sign: String,
    #[serde(default)]
    signing_cert: String,
    #[serde(default)]
    encrypt_cert: String,
    #[serde(default)]
    encryption: String,
    /// The checkbox: present when ticked.
    #[serde(default)]
    idp_initiated: Option<String>,
    /// The checkbox: present when ticked (the metadata's `AuthnRequestsSigned` also requires).
    #[serde(default)]
    require_signed_requests: Option<String>,
}

/// `POST …/saml/remove`.
#[derive(Deserialize)]
pub(super) struct RemoveForm {
    #[serde(default)]
    team: TeamId,
    #[serde(default)]
    id: SamlSpId,
}

pub(super) fn refused(error: SamlError) -> PageError {
    let (status, title) = match &error {
        SamlError::Team(TeamError::NotFound) | SamlError::NoTeam => {
            (StatusCode::NOT_FOUND, "Team not found")
        }
        SamlError::NotFound(_) => (StatusCode::NOT_FOUND, "No such service provider"),
        SamlError::Team(TeamError::Forbidden) => {
            (StatusCode::FORBIDDEN, "Only administrators can do this")
        }
        SamlError::Database(_) | SamlError::Signing(_) => return PageError::internal(error),
        _ => (StatusCode::BAD_REQUEST, "That could not be done"),
    };
    refusal(status, title, &error)
}

/// `POST /dashboard/integrations/saml`.
pub(super) async fn add(
    State(state): State<AppState>,
    from: Requester,
    SignedInForm { user, form }: SignedInForm<AddForm>,
) -> Result<Response, PageError> {
    works_in(&user.user, &form.team)?;
    let metadata = match form.metadata.trim() {
        "" => SpMetadata::default(),
        xml => SpMetadata::parse(xml).map_err(refused)?,
    };
    let given = |value: &str| Some(value.trim().to_owned()).filter(|v| !v.is_empty());
    let invalid = |message: String| refused(SamlError::Metadata(message));
    let acs_urls: Vec<String> = form
        .acs_urls
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let requires_signed_requests =
        form.require_signed_requests.is_some() || metadata.authn_requests_signed == Some(true);
    let new = NewServiceProvider {
        team_id: form.team.clone(),
        entity_id: given(&form.entity_id).unwrap_or(metadata.entity_id),
        name: given(&form.name),
        // The metadata's endpoints (each with its index) come with its URLs only.
        acs_endpoints: match acs_urls.is_empty() {
            true => metadata.acs_endpoints,
            false => Vec::new(),
        },
        acs_urls: if acs_urls.is_empty() {
            metadata.acs_urls
        } else {
            acs_urls
        },
        requires_signed_requests,
        allow_sha1: false,
        slo_url: given(&form.slo_url).or(metadata.slo_url),
        name_id_format: match given(&form.name_id_format) {
            Some(format) => format.parse().map_err(invalid)?,
            None => metadata.name_id_format.unwrap_or_default(),
        },
        attributes: match attributes_of(&form.attributes).map_err(refused)? {
            given if given.is_empty() => metadata.attributes,
            given => given,
        },
        attribute_formats: formats_of(&form.attribute_formats).map_err(refused)?,
        audience: given(&form.audience),
        sign: match given(&form.sign) {
            Some(sign) => sign.parse().map_err(invalid)?,
            None => Default::default(),
        },
        signing_cert: given(&form.signing_cert).or(metadata.signing_cert),
        encrypt_cert: given(&form.encrypt_cert).or(metadata.encrypt_cert),
        encryption: match given(&form.encryption) {
            Some(encryption) => encryption.parse().map_err(invalid)?,
            None => metadata.encryption.unwrap_or_default(),
        },
        idp_initiated: form.idp_initiated.is_some(),
    };
    state
        .saml_sps
        .add(new, &user.actor(&from), state.now())
        .await
        .map_err(refused)?;
    Ok(back_to(
        urls::INTEGRATIONS_SAML,
        &form.team,
        "saml-added",
        SECTION,
    ))
}

/// `POST …/saml/update`: what is filled in replaces what is registered; an empty field keeps it.
#[derive(Deserialize)]
pub(super) struct UpdateForm {
    #[serde(default)]
    team: TeamId,
    #[serde(default)]
    id: SamlSpId,
    #[serde(default)]
    name: String,
    /// The SP's metadata, pasted again: its ACS URLs, logout URL and certificates replace the
    /// registered ones; the fields below win over it.
    #[serde(default)]
    metadata: String,
    /// One per line.
    #[serde(default)]
    acs_urls: String,
    #[serde(default)]
    audience: String,
    /// The checkbox: present when ticked, the entity ID is the audience again.
    #[serde(default)]
    no_audience: Option<String>,
    /// One per line, replacing the registered ones.
    #[serde(default)]
    attributes: String,
    /// One per line, for the attributes given or the registered ones.
    #[serde(default)]
    attribute_formats: String,
    #[serde(default)]
    signing_cert: String,
    #[serde(default)]
    encrypt_cert: String,
    /// The checkbox: present when ticked.
    #[serde(default)]
    idp_initiated: Option<String>,
    /// The checkbox: present when ticked (pasted metadata saying `AuthnRequestsSigned="true"`
    /// also requires).
    #[serde(default)]
    require_signed_requests: Option<String>,
}

/// The attributes a form gives, one per line.
fn attributes_of(text: &str) -> Result<Vec<Attribute>, SamlError> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(Attribute::parse)
        .collect()
}

/// The attribute formats a form gives, one per line.
fn formats_of(text: &str) -> Result<Vec<(String, AttributeFormat)>, SamlError> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(latchkey_saml::parse_attribute_format)
        .collect()
}

/// `POST /dashboard/integrations/saml/update`.
pub(super) async fn update(
    State(state): State<AppState>,
    from: Requester,
    SignedInForm { user, form }: SignedInForm<UpdateForm>,
) -> Result<Response, PageError> {
    works_in(&user.user, &form.team)?;
    one_of_the_team(&state, &from, &user, &form.team, &form.id).await?;
    let metadata = match form.metadata.trim() {
        "" => None,
        xml => Some(SpMetadata::parse(xml).map_err(refused)?),
    };
    let given = |value: &str| Some(value.trim().to_owned()).filter(|v| !v.is_empty());
    let acs_urls: Vec<String> = form
        .acs_urls
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let metadata_requires = metadata
        .as_ref()
        .is_some_and(|m| m.authn_requests_signed == Some(true));
    let change = match metadata {
        Some(metadata) => ServiceProviderChange {
            acs_endpoints: Some(metadata.acs_endpoints).filter(|_| !metadata.acs_urls.is_empty()),
            acs_urls: Some(metadata.acs_urls).filter(|urls| !urls.is_empty()),
            slo_url: Some(metadata.slo_url),
            name_id_format: metadata.name_id_format,
            signing_cert: Some(metadata.signing_cert),
            encrypt_cert: Some(metadata.encrypt_cert),
            encryption: metadata.encryption,
            ..Default::default()
        },
        None => ServiceProviderChange::default(),
    };
    let attributes = attributes_of(&form.attributes).map_err(refused)?;
    let change = ServiceProviderChange {
        name: given(&form.name),
        audience: match (given(&form.audience), form.no_audience.is_some()) {
            (Some(audience), _) => Some(Some(audience)),
            (None, true) => Some(None),
            (None, false) => None,
        },
        attributes: Some(attributes).filter(|given| !given.is_empty()),
        attribute_formats: formats_of(&form.attribute_formats).map_err(refused)?,
        // URLs given alone forget the metadata's endpoints.
        acs_endpoints: change.acs_endpoints.filter(|_| acs_urls.is_empty()),
        acs_urls: Some(acs_urls)
            .filter(|urls| !urls.is_empty())
            .or(change.acs_urls),
        requires_signed_requests: Some(form.require_signed_requests.is_some() || metadata_requires),
        signing_cert: given(&form.signing_cert).map(Some).or(change.signing_cert),
        encrypt_cert: given(&form.encrypt_cert).map(Some).or(change.encrypt_cert),
        idp_initiated: Some(form.idp_initiated.is_some()),
        ..change
    };
    let (_, changed) = state
        .saml_sps
        .update(&form.id, change, &user.actor(&from), state.now())
        .await
        .map_err(refused)?;
    let done = if changed.is_empty() {
        "saml-unchanged"
    } else {
        "saml-updated"
    };
    Ok(back_to(urls::INTEGRATIONS_SAML, &form.team, done, SECTION))
}

/// Refuses an SP that is not one of `team`'s: a form names the team it was shown for.
pub(super) async fn one_of_the_team(
    state: &AppState,
    from: &Requester,
    user: &crate::web::extract::CurrentUser,
    team: &TeamId,
    id: &SamlSpId,
) -> Result<(), PageError> {
    let listed = state
        .saml_sps
        .list(Some(team), &user.actor(from))
        .await
        .map_err(refused)?;
    if !listed.iter().any(|sp| sp.sp_id == *id) {
        return Err(refused(SamlError::NotFound(id.to_string())));
    }
    Ok(())
}

/// `POST /dashboard/integrations/saml/remove`.
pub(super) async fn remove(
    State(state): State<AppState>,
    from: Requester,
    SignedInForm { user, form }: SignedInForm<RemoveForm>,
) -> Result<Response, PageError> {
    works_in(&user.user, &form.team)?;
    one_of_the_team(&state, &from, &user, &form.team, &form.id).await?;
    state
        .saml_sps
        .remove(&form.id, &user.actor(&from), state.now())
        .await
        .map_err(refused)?;
    Ok(back_to(
        urls::INTEGRATIONS_SAML,
        &form.team,
        "saml-removed",
        SECTION,
    ))
}

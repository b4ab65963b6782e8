//! Changing a registered service provider: its certificates when the SP rotates them, its
//! URLs, what it is sent. Its id and pairwise key stay, so the persistent NameIDs and
//! SessionIndexes it was given stay the same, as removing and adding it again would not.

use chrono::{DateTime, Utc};
use latchkey_core::SamlSpId;
use latchkey_teams::{Actor, AuditLog, Subject};
use sea_orm::{ActiveModelTrait, EntityTrait};
use serde_json::json;

use crate::attributes::from_stored;
use crate::entities::service_provider;
use crate::error::SamlError;
use crate::registration::{check, entity_id_free};
use crate::registry::admin_error;
use crate::{
    AcsEndpoint, Attribute, AttributeFormat, Encryption, NameIdFormat, NewServiceProvider,
    ServiceProvider, ServiceProviders, Signing,
};

/// What to change; `None` keeps a field as it is.
#[derive(Debug, Default)]
pub struct ServiceProviderChange {
    pub entity_id: Option<String>,
    pub name: Option<String>,
    pub acs_urls: Option<Vec<String>>,
    /// `Some(None)` removes it.
    pub slo_url: Option<Option<String>>,
    pub name_id_format: Option<NameIdFormat>,
    pub attributes: Option<Vec<Attribute>>,
    /// Formats by name, for the attributes given or, without them, the registered ones.
    pub attribute_formats: Vec<(String, AttributeFormat)>,
    /// `Some(None)`: the entity ID is the audience again.
    pub audience: Option<Option<String>>,
    pub sign: Option<Signing>,
    /// PEM; `Some(None)` removes it (the SP's requests are then neither required to be
    /// signed, unless `requires_signed_requests` says so and fails, nor verifiable).
    pub signing_cert: Option<Option<String>>,
    pub requires_signed_requests: Option<bool>,
    pub allow_sha1: Option<bool>,
    /// The assertion consumer services of the SP's metadata. New `acs_urls` without them
    /// forget the ones registered: the URLs are then indexed by position.
    pub acs_endpoints: Option<Vec<AcsEndpoint>>,
    /// PEM; `Some(None)` removes it (assertions are no longer encrypted).
    pub encrypt_cert: Option<Option<String>>,
    pub encryption: Option<Encryption>,
    pub idp_initiated: Option<bool>,
    /// Move an SP registered before teams had their own SAML identity to its team's: its
    /// administrator then gives the SP the team's metadata (or certificate and URLs).
    pub move_to_team_identity: bool,
}

impl ServiceProviders {
    /// Changes a service provider (its team's administrators, or the operator), checked as
    /// a new one is; returns it with the names of the fields that changed.
    pub async fn update(
        &self,
        id: &SamlSpId,
        change: ServiceProviderChange,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<(ServiceProvider, Vec<&'static str>), SamlError> {
        let row = service_provider::Entity::find_by_id(id.as_str())
            .one(self.db().read())
            .await?
            .ok_or_else(|| SamlError::NotFound(id.to_string()))?;
        let current = self.read_row(row.clone());
        let team_id = current.team_id.clone();
        // As stored: an SP registered with URLs alone keeps none.
        let registered_endpoints: Vec<AcsEndpoint> =
            serde_json::from_str(&row.acs_endpoints).unwrap_or_default();
        let acs_endpoints = match (change.acs_endpoints, &change.acs_urls) {
            (Some(endpoints), _) => endpoints,
            (None, Some(_)) => Vec::new(),
            (None, None) => registered_endpoints,
        };
        let forgets_certificate = matches!(change.signing_cert, Some(None));
        let requires_signed_requests = change
            .requires_signed_requests
            .unwrap_or(current.requires_signed_requests && !forgets_certificate);
        let changed_to = NewServiceProvider {
            team_id: team_id.clone(),
            entity_id: change.entity_id.unwrap_or(current.entity_id),
            name: Some(change.name.unwrap_or(current.name)),
            acs_urls: change.acs_urls.unwrap_or(current.acs_urls),
            slo_url: change.slo_url.unwrap_or(current.slo_url),
            name_id_format: change.name_id_format.unwrap_or(current.name_id_format),
            attributes: change.attributes.unwrap_or(current.attributes),
            attribute_formats: change.attribute_formats,
            audience: change.audience.unwrap_or(current.audience),
            sign: change.sign.unwrap_or(current.sign),
            signing_cert: change.signing_cert.unwrap_or(current.signing_cert),
            encrypt_cert: change.encrypt_cert.unwrap_or(current.encrypt_cert),
            encryption: change.encryption.unwrap_or(current.encryption),
            idp_initiated: change.idp_initiated.unwrap_or(current.idp_initiated),
            requires_signed_requests,
            allow_sha1: change.allow_sha1.unwrap_or(current.allow_sha1),
            acs_endpoints,
        };
        let mut updated = check(changed_to)?.into_row(row.clone());
        let txn = latchkey_teams::administer(self.db(), &team_id, actor, now)
            .await
            .map_err(|e| admin_error(e, actor))?;
        if change.move_to_team_identity && row.certificate_id.is_none() {
            let certificate = self.certificates().for_new_sp(&*txn, &team_id, now).await?;
            updated.certificate_id = Some(certificate);
        }
        let changed = changed_fields(&row, &updated);
        if changed.is_empty() {
            return Ok((self.read_row(row), changed));
        }
        if updated.entity_id != row.entity_id {
            entity_id_free(&*txn, &team_id, &updated.entity_id, Some(&row.id)).await?;
            if updated.certificate_id.is_none() {
                shared_entity_id_free(&*txn, &updated.entity_id, &row.id).await?;
            }
        }
        let saved = service_provider::ActiveModel::from(updated)
            .reset_all()
            .update(&*txn)
            .await?;
        let sp = self.read_row(saved);
        AuditLog::record(
            &*txn,
            Some(&team_id),
            "saml_sp.updated",
            actor,
            &Subject::new(sp.sp_id.as_str(), &sp.name),
            changed_details(&sp, &changed),
            now,
        )
        .await?;
        txn.commit().await?;
        self.forget_copies();
        tracing::info!(sp = %sp.sp_id, ?changed, "SAML service provider updated");
        Ok((sp, changed))
    }
}

/// What the audit log says of a change: the fields that changed, with the new audience and
/// attributes when they are among them (what the SP is now told of people).
fn changed_details(sp: &ServiceProvider, changed: &[&'static str]) -> serde_json::Value {
    let mut details = json!({ "entity_id": sp.entity_id, "changed": changed });
    if changed.contains(&"audience") {
        details["audience"] = json!(sp.audience);
    }
    if changed.contains(&"attributes") {
        details["attributes"] = json!(sp.attributes);
    }
    details
}

/// The fields that differ, by the names the CLI and the audit log use.
fn changed_fields(
    before: &service_provider::Model,
    after: &service_provider::Model,
) -> Vec<&'static str> {
    [
        ("entity_id", before.entity_id != after.entity_id),
        ("name", before.name != after.name),
        ("acs_urls", before.acs_urls != after.acs_urls),
        ("slo_url", before.slo_url != after.slo_url),
        (
            "name_id_format",
            before.name_id_format != after.name_id_format,
        ),
        // Read, not compared as text: a row written before formats holds pairs.
        (
            "attributes",
            from_stored(&before.attributes) != from_stored(&after.attributes),
        ),
        ("audience", before.audience != after.audience),
        ("sign", before.sign != after.sign),
        ("signing_cert", before.signing_cert != after.signing_cert),
        ("encrypt_cert", before.encrypt_cert != after.encrypt_cert),
        ("encryption", before.encryption != after.encryption),
        ("idp_initiated", before.idp_initiated != after.idp_initiated),
        ("identity", before.certificate_id != after.certificate_id),
        (
            "requires_signed_requests",
            before.requests_signed != after.requests_signed,
        ),
        ("allow_sha1", before.allow_sha1 != after.allow_sha1),
        ("acs_endpoints", before.acs_endpoints != after.acs_endpoints),
    ]
    .into_iter()
    .filter_map(|(name, changed)| changed.then_some(name))
    .collect()
}

/// On the shared identity SPs are found by entity ID alone, across teams: an SP still there
/// may not take the name of another one there.
async fn shared_entity_id_free(
    conn: &impl sea_orm::ConnectionTrait,
    entity_id: &str,
    sp_id: &str,
) -> Result<(), SamlError> {
    use sea_orm::{ColumnTrait, QueryFilter};
    let taken = service_provider::Entity::find()
        .filter(service_provider::Column::EntityId.eq(entity_id))
        .filter(service_provider::Column::CertificateId.is_null())
        .filter(service_provider::Column::Id.ne(sp_id))
        .one(conn)
        .await?;
    match taken {
        Some(_) => Err(SamlError::EntityIdTaken(entity_id.to_owned())),
        None => Ok(()),
    }
}

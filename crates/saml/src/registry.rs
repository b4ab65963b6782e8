//! A team's SAML service providers: registered (from flags or from the SP's own metadata),
//! listed and removed, each change audited.

use chrono::{DateTime, SecondsFormat, Utc};
use std::time::Duration;

use latchkey_core::batch::BatchWriter;
use latchkey_core::ttl_cache::TtlCache;
use latchkey_core::{Db, SamlSpId, TeamId};
use latchkey_teams::{Actor, AuditLog, Subject, TeamError, Teams};
use sea_orm::{ColumnTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder};
use serde::Serialize;
use serde_json::json;

use crate::certificates::Certificates;
use crate::entities::service_provider;
use crate::error::SamlError;
use crate::identity::Identity;
use crate::pairwise_key::PairwiseKey;
use crate::pending::Requests;
use crate::registration::{check, entity_id_free};
use crate::{AcsEndpoint, Attribute, AttributeFormat, Encryption, NameIdFormat, Signing};
use latchkey_keys::MasterKey;

/// The most service providers one team may register.
const MAX_PER_TEAM: usize = 50;

/// What an administrator gives to register a service provider.
#[derive(Debug, Default)]
pub struct NewServiceProvider {
    pub team_id: TeamId,
    pub entity_id: String,
    pub name: Option<String>,
    pub acs_urls: Vec<String>,
    pub slo_url: Option<String>,
    pub name_id_format: NameIdFormat,
    /// What to send; none: the usual `email`, `firstName`, `lastName`, `displayName`.
    pub attributes: Vec<Attribute>,
    /// Formats given by name, over the ones the attributes have; each names one sent.
    pub attribute_formats: Vec<(String, AttributeFormat)>,
    /// The assertions' `Audience`, when the SP expects another than its entity ID.
    pub audience: Option<String>,
    pub sign: Signing,
    /// The certificate(s) the SP signs its requests with (PEM): a signed request is verified
    /// with them.
    pub signing_cert: Option<String>,
    /// Its requests must be signed (its metadata says `AuthnRequestsSigned="true"`, or the
    /// administrator asks): needs `signing_cert`.
    pub requires_signed_requests: bool,
    /// Request signatures made with SHA-1 are accepted from it (refused otherwise).
    pub allow_sha1: bool,
    /// Its assertion consumer services as its metadata lists them, with their index and
    /// binding; empty: `acs_urls`, indexed by position from 0.
    pub acs_endpoints: Vec<AcsEndpoint>,
    /// The certificate assertions are encrypted to (PEM): when set, they are.
    pub encrypt_cert: Option<String>,
    pub encryption: Encryption,
    /// A sign-on may start at Latchkey (`/saml/init`), unasked by the SP.
    pub idp_initiated: bool,
}

/// A service provider as its administrators see it.
#[derive(Clone, Debug, Serialize)]
pub struct ServiceProvider {
    pub sp_id: SamlSpId,
    pub team_id: TeamId,
    pub entity_id: String,
    pub name: String,
    pub acs_urls: Vec<String>,
    pub slo_url: Option<String>,
    pub name_id_format: NameIdFormat,
    pub attributes: Vec<Attribute>,
    /// The assertions' `Audience` when it is not the entity ID.
    pub audience: Option<String>,
    pub sign: Signing,
    /// Its requests must be signed; otherwise one that is signed is still verified.
    pub requires_signed_requests: bool,
    /// A certificate is registered to verify its signed requests with.
    pub verifies_signed_requests: bool,
    /// SHA-1 request signatures are accepted from it.
    pub allow_sha1: bool,
    /// Every assertion consumer service, by its index: a request naming an index is
    /// answered at the POST one it names.
    pub acs_endpoints: Vec<AcsEndpoint>,
    pub encrypts: bool,
    pub encryption: Encryption,
    /// The identity provider's metadata to give the SP.
    pub metadata_url: String,
    /// The identity provider the SP trusts: its entity ID and endpoints.
    pub idp_entity_id: String,
    pub idp_sso_url: String,
    pub idp_slo_url: String,
    /// The team certificate that signs its responses; none for an SP on the shared identity
    /// (registered before teams had their own), signed with the key ring's RSA keys.
    pub certificate_id: Option<String>,
    /// When that certificate ends, and whether that is within the warning time.
    pub certificate_expires_at: Option<String>,
    pub certificate_expires_soon: bool,
    pub idp_initiated: bool,
    /// Where the SP's people start a sign-on from Latchkey's side, when it allows that.
    pub init_url: Option<String>,
    pub created_at: String,
    #[serde(skip)]
    pub signing_cert: Option<String>,
    #[serde(skip)]
    pub encrypt_cert: Option<String>,
    #[serde(skip)]
    pub(crate) pairwise_key: PairwiseKey,
}

impl ServiceProvider {
    pub(crate) fn from_row(
        row: service_provider::Model,
        issuer: &latchkey_core::Issuer,
        master_key: &MasterKey,
    ) -> Self {
        let acs_urls: Vec<String> = serde_json::from_str(&row.acs_urls).unwrap_or_default();
        let attributes = crate::attributes::from_stored(&row.attributes);
        let team_id = TeamId::from(row.team_id.as_str());
        let identity = match row.certificate_id {
            Some(_) => Identity::Team(team_id.clone()),
            None => Identity::Shared,
        };
        let init_url = row
            .idp_initiated
            .then(|| identity.init_url(issuer, &row.entity_id));
        let addresses = identity.addresses(issuer);
        let pairwise_key = PairwiseKey::opened(&row.id, &row.pairwise_key, master_key);
        let acs_endpoints = match serde_json::from_str::<Vec<AcsEndpoint>>(&row.acs_endpoints) {
            Ok(listed) if !listed.is_empty() => listed,
            _ => AcsEndpoint::by_position(&acs_urls),
        };
        Self {
            sp_id: SamlSpId::from(row.id.as_str()),
            team_id,
            name_id_format: row.name_id_format.parse().unwrap_or_default(),
            sign: row.sign.parse().unwrap_or_default(),
            encryption: row.encryption.parse().unwrap_or_default(),
            requires_signed_requests: row.requests_signed,
            verifies_signed_requests: row.signing_cert.is_some(),
            allow_sha1: row.allow_sha1,
            acs_endpoints,
            encrypts: row.encrypt_cert.is_some(),
            metadata_url: addresses.metadata_url,
            idp_entity_id: addresses.idp_entity_id,
            idp_sso_url: addresses.sso_url,
            idp_slo_url: addresses.slo_url,
            certificate_id: row.certificate_id,
            certificate_expires_at: None,
            certificate_expires_soon: false,
            init_url,
            created_at: row.created_at.to_rfc3339_opts(SecondsFormat::Secs, true),
            entity_id: row.entity_id,
            name: row.name,
            acs_urls,
            slo_url: row.slo_url,
            attributes,
            audience: row.audience,
            signing_cert: row.signing_cert,
            encrypt_cert: row.encrypt_cert,
            pairwise_key,
            idp_initiated: row.idp_initiated,
        }
    }

    /// The identity provider it trusts.
    pub fn identity(&self) -> Identity {
        match self.certificate_id {
            Some(_) => Identity::Team(self.team_id.clone()),
            None => Identity::Shared,
        }
    }

    /// What the assertions' `Audience` says: the audience given, else the entity ID.
    pub fn audience(&self) -> &str {
        self.audience.as_deref().unwrap_or(&self.entity_id)
    }

    /// The registered ACS URL a request names, or the first when it names none. An ACS URL
    /// is never taken from a request otherwise.
    pub fn acs_url(&self, asked: Option<&str>) -> Option<&str> {
        match asked {
            Some(asked) => self
                .acs_urls
                .iter()
                .find(|url| url.as_str() == asked)
                .map(String::as_str),
            None => self.acs_urls.first().map(String::as_str),
        }
    }
}

/// How long a replica trusts its copy of a service provider, as it does a client's: one
/// removed by the CLI or another replica stops being answered within this time (this
/// replica's own pages forget it at once); in exchange a sign-on reads no row for it.
pub const SP_CACHE_TTL: Duration = Duration::from_secs(5);
/// Service providers kept before the cache starts over.
const SP_CACHE_CAPACITY: usize = 10_000;

/// Every team's service providers.
#[derive(Clone)]
pub struct ServiceProviders {
    db: Db,
    issuer: latchkey_core::Issuer,
    certificates: Certificates,
    /// By identity and entity ID (`shared:…`, `team:TEAM:…`), and by `id:` and id. An unknown
    /// one is not kept, so one just registered works at once.
    cache: TtlCache<ServiceProvider>,
    /// The batching writer of sign-ons, on SQLite.
    pub(crate) kept: Option<BatchWriter<Requests>>,
    /// The batching writer of which SPs each session signed in to, on SQLite.
    pub(crate) recorded: Option<BatchWriter<crate::sign_on_records::Records>>,
    /// The records this replica wrote lately, so that signing in to the same SP again in the
    /// same session writes nothing.
    pub(crate) recently_recorded: TtlCache<()>,
}

impl ServiceProviders {
    pub fn new(db: Db, issuer: latchkey_core::Issuer, certificates: Certificates) -> Self {
        Self {
            certificates,
            cache: TtlCache::new(SP_CACHE_TTL, SP_CACHE_CAPACITY),
            kept: (db.backend() == DbBackend::Sqlite)
                .then(|| BatchWriter::start(Requests { db: db.clone() })),
            recorded: (db.backend() == DbBackend::Sqlite)
                .then(|| BatchWriter::start(crate::sign_on_records::Records { db: db.clone() })),
            recently_recorded: TtlCache::new(
                crate::sign_on_records::RECENT,
                crate::sign_on_records::RECENT_CAPACITY,
            ),
            db,
            issuer,
        }
    }

    /// Registers a service provider for a team (its administrators, or the operator).
    pub async fn add(
        &self,
        new: NewServiceProvider,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<ServiceProvider, SamlError> {
        let team_id = new.team_id.clone();
        let checked = check(new)?;
        Teams::require_admin(self.db.read(), &team_id, actor)
            .await
            .map_err(|e| admin_error(e, actor))?;
        let txn = latchkey_teams::administer(&self.db, &team_id, actor, now)
            .await
            .map_err(|e| admin_error(e, actor))?;
        entity_id_free(&*txn, &team_id, &checked.entity_id, None).await?;
        let existing = service_provider::Entity::find()
            .filter(service_provider::Column::TeamId.eq(team_id.as_str()))
            .all(&*txn)
            .await?;
        if existing.len() >= MAX_PER_TEAM {
            return Err(SamlError::TooMany(MAX_PER_TEAM));
        }
        let certificate_id = self.certificates.for_new_sp(&*txn, &team_id, now).await?;
        let id = uuid::Uuid::now_v7().to_string();
        let row = checked.into_row(service_provider::Model {
            pairwise_key: PairwiseKey::new_sealed(&id, self.certificates.master_key())?,
            id,
            team_id: team_id.as_str().to_owned(),
            created_at: now,
            certificate_id: Some(certificate_id),
            ..Default::default()
        });
        service_provider::Entity::insert(service_provider::ActiveModel::from(row.clone()))
            .exec_without_returning(&*txn)
            .await?;
        let added = self.read_row(row);
        AuditLog::record(
            &*txn,
            Some(&team_id),
            "saml_sp.added",
            actor,
            &Subject::new(added.sp_id.as_str(), &added.name),
            json!({
                "entity_id": added.entity_id,
                "acs_urls": added.acs_urls,
                "name_id_format": added.name_id_format,
                "sign": added.sign,
                "requires_signed_requests": added.requires_signed_requests,
                "allow_sha1": added.allow_sha1,
                "encrypts": added.encrypts,
                "idp_initiated": added.idp_initiated,
                "audience": added.audience,
                "attributes": added.attributes,
            }),
            now,
        )
        .await?;
        txn.commit().await?;
        tracing::info!(sp = %added.sp_id, team = %added.team_id, entity_id = %added.entity_id, "SAML service provider added");
        Ok(added)
    }

    /// The service providers of one team (its administrators), or of every team (the operator).
    pub async fn list(
        &self,
        team_id: Option<&TeamId>,
        actor: &Actor,
    ) -> Result<Vec<ServiceProvider>, SamlError> {
        let mut query = service_provider::Entity::find()
            .order_by_asc(service_provider::Column::CreatedAt)
            .order_by_asc(service_provider::Column::Id);
        match team_id {
            Some(team) => {
                Teams::require_admin(self.db.read(), team, actor)
                    .await
                    .map_err(|e| admin_error(e, actor))?;
                query = query.filter(service_provider::Column::TeamId.eq(team.as_str()));
            }
            None if actor.user_id.is_some() => {
                return Err(SamlError::Team(TeamError::Forbidden));
            }
            None => {}
        }
        let rows = query.all(self.db.read()).await?;
        let mut listed: Vec<ServiceProvider> =
            rows.into_iter().map(|row| self.read_row(row)).collect();
        for sp in &mut listed {
            self.describe_certificate(sp).await?;
        }
        Ok(listed)
    }

    /// Removes a service provider; its pending sign-ons go with it.
    pub async fn remove(
        &self,
        id: &SamlSpId,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<ServiceProvider, SamlError> {
        let row = service_provider::Entity::find_by_id(id.as_str())
            .one(self.db.read())
            .await?
            .ok_or_else(|| SamlError::NotFound(id.to_string()))?;
        let team_id = TeamId::from(row.team_id.as_str());
        let txn = latchkey_teams::administer(&self.db, &team_id, actor, now)
            .await
            .map_err(|e| admin_error(e, actor))?;
        crate::entities::pending_request::Entity::delete_many()
            .filter(crate::entities::pending_request::Column::SpId.eq(row.id.as_str()))
            .exec(&*txn)
            .await?;
        let deleted = service_provider::Entity::delete_by_id(row.id.as_str())
            .exec(&*txn)
            .await?;
        if deleted.rows_affected == 0 {
            return Err(SamlError::NotFound(id.to_string()));
        }
        let removed = self.read_row(row);
        AuditLog::record(
            &*txn,
            Some(&team_id),
            "saml_sp.removed",
            actor,
            &Subject::new(removed.sp_id.as_str(), &removed.name),
            json!({ "entity_id": removed.entity_id }),
            now,
        )
        .await?;
        txn.commit().await?;
        self.cache.clear();
        Ok(removed)
    }

    /// The service provider registered under an entity ID with `identity`: a team's own, or
    /// (for SPs registered before teams had their own) the shared one.
    pub async fn by_entity_id(
        &self,
        identity: &Identity,
        entity_id: &str,
    ) -> Result<Option<ServiceProvider>, sea_orm::DbErr> {
        let query = service_provider::Entity::find()
            .filter(service_provider::Column::EntityId.eq(entity_id));
        let (key, query) = match identity {
            Identity::Shared => (
                format!("shared:{entity_id}"),
                query.filter(service_provider::Column::CertificateId.is_null()),
            ),
            Identity::Team(team) => (
                format!("team:{team}:{entity_id}"),
                query
                    .filter(service_provider::Column::TeamId.eq(team.as_str()))
                    .filter(service_provider::Column::CertificateId.is_not_null()),
            ),
        };
        if let Some(sp) = self.cache.get(&key) {
            return Ok(Some(sp));
        }
        let found = query.one(self.db.read()).await?;
        Ok(self.kept(key, found))
    }

    /// The service provider with this id.
    pub async fn by_id(&self, id: &str) -> Result<Option<ServiceProvider>, sea_orm::DbErr> {
        let key = format!("id:{id}");
        if let Some(sp) = self.cache.get(&key) {
            return Ok(Some(sp));
        }
        let found = service_provider::Entity::find_by_id(id)
            .one(self.db.read())
            .await?;
        Ok(self.kept(key, found))
    }

    fn kept(&self, key: String, row: Option<service_provider::Model>) -> Option<ServiceProvider> {
        let sp = self.read_row(row?);
        self.cache.insert(key, sp.clone());
        Some(sp)
    }

    pub(crate) fn db(&self) -> &Db {
        &self.db
    }

    pub(crate) fn requests(&self) -> Requests {
        Requests {
            db: self.db.clone(),
        }
    }

    /// Forgets this replica's copies, after a change.
    pub(crate) fn forget_copies(&self) {
        self.cache.clear();
    }

    pub fn issuer(&self) -> &latchkey_core::Issuer {
        &self.issuer
    }

    pub fn certificates(&self) -> &Certificates {
        &self.certificates
    }

    pub(crate) fn read_row(&self, row: service_provider::Model) -> ServiceProvider {
        ServiceProvider::from_row(row, &self.issuer, self.certificates.master_key())
    }

    /// Fills in when the SP's certificate ends, for its administrators.
    pub async fn describe_certificate(&self, sp: &mut ServiceProvider) -> Result<(), SamlError> {
        let Some(id) = &sp.certificate_id else {
            return Ok(());
        };
        let published = self.certificates.published(&sp.team_id).await?;
        if let Some(row) = published.iter().find(|row| row.id == *id) {
            let now = Utc::now();
            sp.certificate_expires_at =
                Some(row.not_after.to_rfc3339_opts(SecondsFormat::Secs, true));
            sp.certificate_expires_soon = row.not_after < now + crate::certificates::EXPIRY_WARNING;
        }
        Ok(())
    }
}

pub(crate) fn admin_error(error: TeamError, actor: &Actor) -> SamlError {
    match error {
        TeamError::NotFound if actor.user_id.is_none() => SamlError::NoTeam,
        TeamError::Database(e) => SamlError::Database(e),
        other => SamlError::Team(other),
    }
}

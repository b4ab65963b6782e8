//! A team's SAML signing certificates: their own lifecycle, independent of the JWT keys.
//!
//! A certificate lasts years (`saml.certificate_lifetime`). Rollover is the administrator's,
//! as at the identity providers SP administrators know: a next certificate is published in
//! the team's metadata ahead of use (`add`), the team's SPs (or one) are switched to it when
//! their administrators have loaded it (`use_for`), and the old one signs until then and is
//! taken out of the metadata once nothing uses it (`retire`). Expiry is warned about from
//! [`EXPIRY_WARNING`] before. Private keys are sealed under the master key, bound to the
//! certificate's id.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use latchkey_core::ttl_cache::TtlCache;
use latchkey_core::{Db, SamlSpId, TeamId};
use latchkey_keys::MasterKey;
use latchkey_teams::{Actor, AuditLog, Subject, Teams};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::Serialize;
use serde_json::json;

use crate::cert::{IdpCredential, issue};
use crate::entities::{certificate, service_provider};
use crate::error::SamlError;
use crate::registry::admin_error;

/// How long before its end a certificate in use is warned about: on the integrations page,
/// in `saml-sp list` and `saml-cert list`, a log line a day and a metric.
pub const EXPIRY_WARNING: TimeDelta = TimeDelta::days(60);
/// The most certificates a team may have published at once.
const MAX_PUBLISHED: usize = 4;
/// How long a replica trusts its copy of a team's certificates (as it does an SP's).
const CACHE_TTL: Duration = Duration::from_secs(5);

/// A team certificate as its administrators see it.
#[derive(Clone, Debug, Serialize)]
pub struct TeamCertificate {
    pub certificate_id: String,
    pub team_id: TeamId,
    /// SHA-256 of the certificate (DER), hex: what some SPs ask for instead of the PEM.
    pub fingerprint_sha256: String,
    pub not_before: String,
    pub not_after: String,
    pub created_at: String,
    /// `signing` (an SP uses it, or new SPs will), `next` (published, not used yet) or
    /// `retired` (out of the metadata).
    pub state: &'static str,
    /// How many of the team's SPs it signs for.
    pub used_by: usize,
    /// In use, and ending within [`EXPIRY_WARNING`]: publish and switch to a next one.
    pub expires_soon: bool,
    pub cert_pem: String,
}

/// The team certificates of every team.
#[derive(Clone)]
pub struct Certificates {
    db: Db,
    master_key: Arc<MasterKey>,
    lifetime: TimeDelta,
    /// A team's published certificates, oldest first, by team id.
    published: TtlCache<Arc<Vec<certificate::Model>>>,
}

impl Certificates {
    pub fn new(db: Db, master_key: Arc<MasterKey>, lifetime: TimeDelta) -> Self {
        Self {
            db,
            master_key,
            lifetime,
            published: TtlCache::new(CACHE_TTL, 10_000),
        }
    }

    /// The team's certificates in its metadata, oldest first.
    pub(crate) async fn published(
        &self,
        team_id: &TeamId,
    ) -> Result<Arc<Vec<certificate::Model>>, sea_orm::DbErr> {
        if let Some(found) = self.published.get(team_id.as_str()) {
            return Ok(found);
        }
        let rows = Arc::new(published_rows(self.db.read(), team_id).await?);
        self.published
            .insert(team_id.as_str().to_owned(), rows.clone());
        Ok(rows)
    }

    /// The credential of a stored certificate: its key opened.
    pub(crate) fn credential(&self, row: &certificate::Model) -> Result<IdpCredential, SamlError> {
        let sealed = STANDARD
            .decode(&row.sealed_key)
            .map_err(|e| SamlError::Signing(format!("certificate {}: {e}", row.id)))?;
        let der = self
            .master_key
            .open(&row.id, &sealed)
            .map_err(|e| SamlError::Signing(format!("certificate {}: {e}", row.id)))?;
        let since = row.activated_at.unwrap_or(row.created_at);
        IdpCredential::stored(&row.id, since, &row.cert_pem, &der)
    }

    /// The certificate a new SP of the team signs with: the one its SPs were last switched
    /// to; the team's first is made here.
    pub(crate) async fn for_new_sp(
        &self,
        conn: &impl ConnectionTrait,
        team_id: &TeamId,
        now: DateTime<Utc>,
    ) -> Result<String, SamlError> {
        let rows = published_rows(conn, team_id).await?;
        if let Some(row) = rows
            .iter()
            .filter(|row| row.activated_at.is_some())
            .max_by_key(|row| row.activated_at)
        {
            return Ok(row.id.clone());
        }
        // One published before the team's first SP (to paste into a vendor's form first)
        // signs for it.
        if let Some(row) = rows.into_iter().next() {
            let id = row.id.clone();
            let mut active = certificate::ActiveModel::from(row);
            active.activated_at = sea_orm::ActiveValue::Set(Some(now));
            sea_orm::ActiveModelTrait::update(active, conn).await?;
            self.published.forget(team_id.as_str());
            return Ok(id);
        }
        let name = team_name(conn, team_id).await?;
        let row = self.issued(team_id, &name, now, Some(now))?;
        let id = row.id.clone();
        certificate::Entity::insert(certificate::ActiveModel::from(row))
            .exec_without_returning(conn)
            .await?;
        self.published.forget(team_id.as_str());
        Ok(id)
    }

    /// Publishes a next certificate in the team's metadata; nothing signs with it until
    /// [`Certificates::use_for`].
    pub async fn add(
        &self,
        team_id: &TeamId,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<TeamCertificate, SamlError> {
        Teams::require_admin(self.db.read(), team_id, actor)
            .await
            .map_err(|e| admin_error(e, actor))?;
        let txn = latchkey_teams::administer(&self.db, team_id, actor, now)
            .await
            .map_err(|e| admin_error(e, actor))?;
        let published = published_rows(&*txn, team_id).await?;
        if published.len() >= MAX_PUBLISHED {
            return Err(SamlError::TooManyCertificates(MAX_PUBLISHED));
        }
        let name = team_name(&*txn, team_id).await?;
        let row = self.issued(team_id, &name, now, None)?;
        certificate::Entity::insert(certificate::ActiveModel::from(row.clone()))
            .exec_without_returning(&*txn)
            .await?;
        record(
            &*txn,
            team_id,
            "saml_certificate.added",
            actor,
            &row,
            json!({}),
            now,
        )
        .await?;
        txn.commit().await?;
        self.published.forget(team_id.as_str());
        tracing::info!(team = %team_id, certificate = %row.id, not_after = %row.not_after, "SAML certificate published");
        Ok(view(row, 0, false, now))
    }

    /// Switches the team's SPs (or the one `sp` names) to a published certificate; switching
    /// the team also makes it the one new SPs get. Returns it and how many SPs changed.
    pub async fn use_for(
        &self,
        team_id: &TeamId,
        certificate_id: &str,
        sp: Option<&SamlSpId>,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<(TeamCertificate, u64), SamlError> {
        let txn = latchkey_teams::administer(&self.db, team_id, actor, now)
            .await
            .map_err(|e| admin_error(e, actor))?;
        let published = published_rows(&*txn, team_id).await?;
        let Some(row) = published.into_iter().find(|row| row.id == certificate_id) else {
            return Err(SamlError::CertificateNotPublished(
                certificate_id.to_owned(),
            ));
        };
        if row.not_after <= now {
            return Err(SamlError::CertificateExpired(certificate_id.to_owned()));
        }
        let mut switch = service_provider::Entity::update_many()
            .col_expr(
                service_provider::Column::CertificateId,
                Expr::value(row.id.clone()),
            )
            .filter(service_provider::Column::TeamId.eq(team_id.as_str()))
            .filter(service_provider::Column::CertificateId.is_not_null());
        if let Some(sp) = sp {
            switch = switch.filter(service_provider::Column::Id.eq(sp.as_str()));
        }
        let switched = switch.exec(&*txn).await?.rows_affected;
        if let Some(sp) = sp
            && switched == 0
        {
            return Err(SamlError::NotFound(sp.to_string()));
        }
        let row = match sp {
            Some(_) => row,
            None => {
                let mut active = certificate::ActiveModel::from(row);
                active.activated_at = sea_orm::ActiveValue::Set(Some(now));
                sea_orm::ActiveModelTrait::update(active, &*txn).await?
            }
        };
        let details = json!({ "sp_id": sp.map(SamlSpId::as_str), "service_providers": switched });
        record(
            &*txn,
            team_id,
            "saml_certificate.used",
            actor,
            &row,
            details,
            now,
        )
        .await?;
        txn.commit().await?;
        self.published.forget(team_id.as_str());
        tracing::info!(team = %team_id, certificate = %row.id, switched, "SAML service providers switched to a certificate");
        let used_by = usage(self.db.read(), team_id).await?;
        let count = used_by.iter().filter(|id| **id == row.id).count();
        Ok((view(row, count, true, now), switched))
    }

    /// Takes a certificate out of its team's metadata; refused while an SP signs with it or
    /// it is the one new SPs get.
    /// `team`, when given, is the team the administrator acts for (a page's form names it): a
    /// certificate of another team is not published there.
    pub async fn retire(
        &self,
        team: Option<&TeamId>,
        certificate_id: &str,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<TeamCertificate, SamlError> {
        let row = certificate::Entity::find_by_id(certificate_id)
            .one(self.db.read())
            .await?
            .filter(|row| row.retired_at.is_none())
            .filter(|row| team.is_none_or(|team| team.as_str() == row.team_id))
            .ok_or_else(|| SamlError::CertificateNotPublished(certificate_id.to_owned()))?;
        let team_id = TeamId::from(row.team_id.as_str());
        let txn = latchkey_teams::administer(&self.db, &team_id, actor, now)
            .await
            .map_err(|e| admin_error(e, actor))?;
        let users = usage(&*txn, &team_id).await?;
        let used_by = users.iter().filter(|id| **id == row.id).count();
        let published = published_rows(&*txn, &team_id).await?;
        let default = published
            .iter()
            .filter(|r| r.activated_at.is_some())
            .max_by_key(|r| r.activated_at)
            .map(|r| r.id.as_str());
        if used_by > 0 || default == Some(row.id.as_str()) {
            return Err(SamlError::CertificateInUse(row.id.clone(), used_by));
        }
        let mut retired = certificate::ActiveModel::from(row);
        retired.retired_at = sea_orm::ActiveValue::Set(Some(now));
        let row = sea_orm::ActiveModelTrait::update(retired, &*txn).await?;
        record(
            &*txn,
            &team_id,
            "saml_certificate.retired",
            actor,
            &row,
            json!({}),
            now,
        )
        .await?;
        txn.commit().await?;
        self.published.forget(team_id.as_str());
        Ok(view(row, 0, false, now))
    }

    /// The team's certificates, retired ones included, oldest first.
    pub async fn list(
        &self,
        team_id: &TeamId,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Vec<TeamCertificate>, SamlError> {
        Teams::require_admin(self.db.read(), team_id, actor)
            .await
            .map_err(|e| admin_error(e, actor))?;
        let rows = certificate::Entity::find()
            .filter(certificate::Column::TeamId.eq(team_id.as_str()))
            .order_by_asc(certificate::Column::CreatedAt)
            .all(self.db.read())
            .await?;
        let users = usage(self.db.read(), team_id).await?;
        let default = rows
            .iter()
            .filter(|r| r.retired_at.is_none() && r.activated_at.is_some())
            .max_by_key(|r| r.activated_at)
            .map(|r| r.id.clone());
        Ok(rows
            .into_iter()
            .map(|row| {
                let used_by = users.iter().filter(|id| **id == row.id).count();
                // The team's default signs for the SPs it adds next, even while none uses it.
                let signs = used_by > 0 || default.as_deref() == Some(row.id.as_str());
                view(row, used_by, signs, now)
            })
            .collect())
    }

    /// The certificates in use (by an SP) that end within [`EXPIRY_WARNING`], soonest first.
    pub async fn expiring(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<(TeamId, String, DateTime<Utc>)>, sea_orm::DbErr> {
        let in_use: std::collections::HashSet<String> = service_provider::Entity::find()
            .filter(service_provider::Column::CertificateId.is_not_null())
            .all(self.db.read())
            .await?
            .into_iter()
            .filter_map(|sp| sp.certificate_id)
            .collect();
        let mut ending: Vec<_> = certificate::Entity::find()
            .filter(certificate::Column::RetiredAt.is_null())
            .filter(certificate::Column::NotAfter.lt(now + EXPIRY_WARNING))
            .all(self.db.read())
            .await?
            .into_iter()
            .filter(|row| in_use.contains(&row.id))
            .map(|row| (TeamId::from(row.team_id.as_str()), row.id, row.not_after))
            .collect();
        ending.sort_by_key(|(_, _, not_after)| *not_after);
        Ok(ending)
    }

    /// Says which certificates in use end within [`EXPIRY_WARNING`]: a warning each in the
    /// log, and the metrics `saml_certificates_expiring` (how many) and
    /// `saml_certificate_expiry_seconds` (until the soonest ends, of every in use). Returns
    /// how many end soon.
    pub async fn report_expiring(&self, now: DateTime<Utc>) -> Result<usize, sea_orm::DbErr> {
        let ending = self.expiring(now).await?;
        for (team, certificate, not_after) in &ending {
            tracing::warn!(%team, %certificate, %not_after, "a SAML signing certificate in use ends soon: publish a next one (`latchkey saml-cert add`) and switch to it");
        }
        metrics::gauge!("saml_certificates_expiring").set(ending.len() as f64);
        if let Some((_, _, soonest)) = ending.first() {
            let seconds = (*soonest - now).num_seconds().max(0);
            metrics::gauge!("saml_certificate_expiry_seconds").set(seconds as f64);
        }
        Ok(ending.len())
    }

    /// Seals every team certificate's key under the current master key (`keys
    /// rotate-master`); returns how many.
    pub async fn reseal(&self) -> Result<usize, SamlError> {
        let rows = certificate::Entity::find().all(self.db.read()).await?;
        let count = rows.len();
        for row in rows {
            let failed = |e: latchkey_keys::MasterKeyError| {
                SamlError::Signing(format!("certificate {}: {e}", row.id))
            };
            let sealed = STANDARD
                .decode(&row.sealed_key)
                .map_err(|e| SamlError::Signing(format!("certificate {}: {e}", row.id)))?;
            let der = self.master_key.open(&row.id, &sealed).map_err(failed)?;
            let resealed = STANDARD.encode(self.master_key.seal(&row.id, &der).map_err(failed)?);
            certificate::Entity::update_many()
                .col_expr(certificate::Column::SealedKey, Expr::value(resealed))
                .filter(certificate::Column::Id.eq(row.id.as_str()))
                .exec(&*self.db.write().await)
                .await?;
        }
        Ok(count)
    }

    pub(crate) fn master_key(&self) -> &MasterKey {
        &self.master_key
    }

    /// A new certificate's row, its key sealed.
    fn issued(
        &self,
        team_id: &TeamId,
        team_name: &str,
        now: DateTime<Utc>,
        activated_at: Option<DateTime<Utc>>,
    ) -> Result<certificate::Model, SamlError> {
        let id = uuid::Uuid::now_v7().to_string();
        let issued = issue(&format!("{team_name} SAML"), now, self.lifetime)?;
        let sealed = self
            .master_key
            .seal(&id, &issued.pkcs8_der)
            .map_err(|e| SamlError::Signing(e.to_string()))?;
        Ok(certificate::Model {
            id,
            team_id: team_id.as_str().to_owned(),
            cert_pem: issued.cert_pem,
            sealed_key: STANDARD.encode(sealed),
            fingerprint: issued.fingerprint,
            not_before: issued.not_before,
            not_after: issued.not_after,
            created_at: now,
            activated_at,
            retired_at: None,
        })
    }
}

async fn published_rows(
    conn: &impl ConnectionTrait,
    team_id: &TeamId,
) -> Result<Vec<certificate::Model>, sea_orm::DbErr> {
    certificate::Entity::find()
        .filter(certificate::Column::TeamId.eq(team_id.as_str()))
        .filter(certificate::Column::RetiredAt.is_null())
        .order_by_asc(certificate::Column::CreatedAt)
        .order_by_asc(certificate::Column::Id)
        .all(conn)
        .await
}

/// The certificate of each of the team's SPs that has one.
async fn usage(
    conn: &impl ConnectionTrait,
    team_id: &TeamId,
) -> Result<Vec<String>, sea_orm::DbErr> {
    Ok(service_provider::Entity::find()
        .filter(service_provider::Column::TeamId.eq(team_id.as_str()))
        .all(conn)
        .await?
        .into_iter()
        .filter_map(|sp| sp.certificate_id)
        .collect())
}

async fn team_name(conn: &impl ConnectionTrait, team_id: &TeamId) -> Result<String, SamlError> {
    use latchkey_teams::entities::team;
    Ok(team::Entity::find_by_id(team_id.as_str())
        .one(conn)
        .await?
        .map(|team| team.name)
        .unwrap_or_else(|| team_id.to_string()))
}

async fn record(
    conn: &impl ConnectionTrait,
    team_id: &TeamId,
    action: &str,
    actor: &Actor,
    row: &certificate::Model,
    mut details: serde_json::Value,
    now: DateTime<Utc>,
) -> Result<(), SamlError> {
    details["fingerprint_sha256"] = json!(row.fingerprint);
    details["not_after"] = json!(row.not_after.to_rfc3339_opts(SecondsFormat::Secs, true));
    let subject = Subject::new(row.id.as_str(), "SAML signing certificate");
    AuditLog::record(conn, Some(team_id), action, actor, &subject, details, now).await?;
    Ok(())
}

/// A certificate as its administrators see it: `used_by` SPs sign with it, and it `signs`
/// (for them, or for the team's next SPs).
fn view(
    row: certificate::Model,
    used_by: usize,
    signs: bool,
    now: DateTime<Utc>,
) -> TeamCertificate {
    let at = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
    let state = match (row.retired_at, signs) {
        (Some(_), _) => "retired",
        (None, true) => "signing",
        (None, false) => "next",
    };
    TeamCertificate {
        certificate_id: row.id,
        team_id: TeamId::from(row.team_id.as_str()),
        fingerprint_sha256: row.fingerprint,
        not_before: at(row.not_before),
        not_after: at(row.not_after),
        created_at: at(row.created_at),
        state,
        used_by,
        expires_soon: state == "signing" && row.not_after < now + EXPIRY_WARNING,
        cert_pem: row.cert_pem,
    }
}

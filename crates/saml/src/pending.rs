//! Sign-ons that wait for the person to sign in. Each is stored, so that any replica can
//! finish it, and answered once. The AuthnRequest's ID is kept with it: a request replayed
//! while its row lasts is refused.

use std::collections::HashSet;

use chrono::{DateTime, TimeDelta, Utc};
use latchkey_core::batch::BatchCommit;
use latchkey_core::{Db, SamlRequestId};
use sea_orm::sea_query::{Expr, OnConflict, Query};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryTrait};

use crate::entities::pending_request;
use crate::{NameIdFormat, ServiceProvider, ServiceProviders};

/// How long a sign-on waits: long enough to ask for, and follow, a magic link; longer than a
/// request is accepted, so a replay meets its row.
pub const PENDING_TTL: TimeDelta = TimeDelta::minutes(20);

/// A sign-on to answer once the person is signed in.
#[derive(Clone, Debug)]
pub struct PendingSignOn {
    pub id: SamlRequestId,
    pub sp: ServiceProvider,
    /// The AuthnRequest answered; none for a sign-on started at `/saml/init`.
    pub request_id: Option<String>,
    /// A registered ACS URL.
    pub acs_url: String,
    pub relay_state: Option<String>,
    /// The person must sign in again, whatever session they have.
    pub force_authn: bool,
    /// Nobody is to be asked anything (`IsPassive`): kept here, never read from a URL.
    pub passive: bool,
    /// The request was signed by the SP (none is, for a sign-on started here).
    pub signed: bool,
    /// The NameID format the request asked for; none: the SP's.
    pub name_id_format: Option<NameIdFormat>,
    pub created_at: DateTime<Utc>,
}

/// What a sign-on is kept with: its request's facts.
#[derive(Clone, Copy, Debug, Default)]
pub struct Keep<'a> {
    /// The AuthnRequest's ID; none for a sign-on started here.
    pub request_id: Option<&'a str>,
    /// A registered ACS URL.
    pub acs_url: &'a str,
    pub relay_state: Option<&'a str>,
    pub force_authn: bool,
    pub passive: bool,
    pub signed: bool,
    pub name_id_format: Option<NameIdFormat>,
}

#[derive(Debug, thiserror::Error)]
pub enum HoldError {
    #[error("this request was already received: a replay is refused")]
    Replay,
    #[error("database: {0}")]
    Database(#[from] sea_orm::DbErr),
}

/// Where sign-ons are kept. On SQLite, through a batching writer: a sign-on for a person
/// signed in already writes nothing else, and one statement each was most of its cost.
#[derive(Clone)]
pub(crate) struct Requests {
    pub db: Db,
}

impl BatchCommit for Requests {
    type Item = pending_request::Model;
    /// Stored; false for a replay (its SP and request ID are kept already).
    type Output = bool;
    const WHAT: &'static str = "SAML sign-ons";
    /// Twelve columns: 1,536 parameters, far below SQLite's 32,766.
    const MAX_BATCH: usize = 128;

    /// One statement: `INSERT … ON CONFLICT (sp_id, request_id) DO NOTHING RETURNING id`. A
    /// replay, even of a request in the same batch, is the row not returned.
    async fn commit(&self, rows: Vec<pending_request::Model>) -> Result<Vec<bool>, DbErr> {
        let ids: Vec<String> = rows.iter().map(|row| row.id.clone()).collect();
        let mut insert = pending_request::Entity::insert_many(
            rows.into_iter().map(pending_request::ActiveModel::from),
        )
        .into_query();
        insert
            .on_conflict(
                OnConflict::columns([
                    pending_request::Column::SpId,
                    pending_request::Column::RequestId,
                ])
                .do_nothing()
                .to_owned(),
            )
            .returning(Query::returning().column(pending_request::Column::Id));
        let stored: HashSet<String> = self
            .db
            .write()
            .await
            .query_all(&insert)
            .await?
            .iter()
            .map(|row| row.try_get::<String>("", "id"))
            .collect::<Result<_, _>>()?;
        Ok(ids.iter().map(|id| stored.contains(id)).collect())
    }
}

impl ServiceProviders {
    /// Stores a sign-on for `sp` and returns it; `answered` when it is answered at once (the
    /// person is signed in, or the SP hears a status), so it is kept only to refuse a replay.
    pub async fn hold(
        &self,
        sp: &ServiceProvider,
        keep: Keep<'_>,
        answered: bool,
        now: DateTime<Utc>,
    ) -> Result<PendingSignOn, HoldError> {
        let id = SamlRequestId::generate();
        let row = pending_request::Model {
            id: id.to_string(),
            sp_id: sp.sp_id.to_string(),
            request_id: keep.request_id.map(str::to_owned),
            acs_url: keep.acs_url.to_owned(),
            relay_state: keep.relay_state.map(str::to_owned),
            force_authn: keep.force_authn,
            created_at: now,
            expires_at: now + PENDING_TTL,
            used_at: answered.then_some(now),
            passive: keep.passive,
            signed: keep.signed,
            name_id_format: keep.name_id_format.map(|f| f.as_str().to_owned()),
        };
        let stored = match &self.kept {
            Some(batches) => batches.write(row).await?,
            None => self.requests().commit(vec![row]).await?.first() == Some(&true),
        };
        if !stored {
            return Err(HoldError::Replay);
        }
        Ok(PendingSignOn {
            id,
            sp: sp.clone(),
            request_id: keep.request_id.map(str::to_owned),
            acs_url: keep.acs_url.to_owned(),
            relay_state: keep.relay_state.map(str::to_owned),
            force_authn: keep.force_authn,
            passive: keep.passive,
            signed: keep.signed,
            name_id_format: keep.name_id_format,
            created_at: now,
        })
    }

    /// Keeps a `LogoutRequest`'s ID, as an `AuthnRequest`'s is kept, so that the same request
    /// is refused while it could still be accepted (SAML IDs are unique across messages).
    pub async fn received_logout(
        &self,
        sp: &ServiceProvider,
        request_id: &str,
        slo_url: &str,
        now: DateTime<Utc>,
    ) -> Result<(), HoldError> {
        let keep = Keep {
            request_id: Some(request_id),
            acs_url: slo_url,
            ..Keep::default()
        };
        self.hold(sp, keep, true, now).await.map(|_| ())
    }

    /// The sign-on `id` if it still waits, with its SP.
    pub async fn pending(
        &self,
        id: &SamlRequestId,
        now: DateTime<Utc>,
    ) -> Result<Option<PendingSignOn>, sea_orm::DbErr> {
        let Some(row) = pending_request::Entity::find_by_id(id.as_str())
            .one(self.db().read())
            .await?
            .filter(|row| row.used_at.is_none() && row.expires_at > now)
        else {
            return Ok(None);
        };
        // An ACS URL the SP no longer registers (it was updated since) is not posted to.
        let Some(sp) = self
            .by_id(&row.sp_id)
            .await?
            .filter(|sp| sp.acs_url(Some(&row.acs_url)).is_some())
        else {
            return Ok(None);
        };
        Ok(Some(PendingSignOn {
            id: SamlRequestId::from(row.id),
            sp,
            request_id: row.request_id,
            acs_url: row.acs_url,
            relay_state: row.relay_state,
            force_authn: row.force_authn,
            passive: row.passive,
            signed: row.signed,
            name_id_format: row.name_id_format.and_then(|f| f.parse().ok()),
            created_at: row.created_at,
        }))
    }

    /// Marks the sign-on answered; false when it already was (by another tab or replica).
    pub async fn answer(
        &self,
        id: &SamlRequestId,
        now: DateTime<Utc>,
    ) -> Result<bool, sea_orm::DbErr> {
        let result = pending_request::Entity::update_many()
            .col_expr(pending_request::Column::UsedAt, Expr::value(now))
            .filter(pending_request::Column::Id.eq(id.as_str()))
            .filter(pending_request::Column::UsedAt.is_null())
            .filter(pending_request::Column::ExpiresAt.gt(now))
            .exec(&*self.db().write().await)
            .await?;
        Ok(result.rows_affected == 1)
    }
}

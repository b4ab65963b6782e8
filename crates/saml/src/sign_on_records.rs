//! Which SPs each browser session signed in to, and how each was told of the person: a
//! single logout names the person to each SP as it was given them. Written with every
//! assertion, so on SQLite through a batching writer of its own, as sign-ons are kept
//! (`pending`): one row per session and SP, overwritten when the same session signs in to the
//! same SP again.

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, Utc};
use latchkey_core::batch::BatchCommit;
use latchkey_core::{Db, SamlSpId};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, DbErr, EntityTrait, QueryFilter};

use crate::ServiceProviders;
use crate::entities::sign_on_record;

/// How long a replica remembers a record it wrote: signing in to the same SP again in the
/// same session, as the same person, within this time writes nothing. The row it wrote
/// outlives the session whatever this is (it lasts as long as a session can, from a sign-on
/// after the session began), and only the sweep of expired rows removes it.
pub(crate) const RECENT: std::time::Duration = std::time::Duration::from_secs(600);
/// Records remembered before that memory starts over.
pub(crate) const RECENT_CAPACITY: usize = 100_000;

/// The batching writer's committer.
#[derive(Clone)]
pub(crate) struct Records {
    pub db: Db,
}

impl BatchCommit for Records {
    type Item = sign_on_record::Model;
    type Output = ();
    const WHAT: &'static str = "SAML sign-on records";
    /// Six columns: 768 parameters, far below SQLite's 32,766.
    const MAX_BATCH: usize = 128;

    /// One statement: `INSERT … ON CONFLICT (sid, sp_id) DO UPDATE`, the newest of a batch's
    /// rows for one session and SP alone (one statement may not touch a row twice).
    async fn commit(&self, rows: Vec<sign_on_record::Model>) -> Result<Vec<()>, DbErr> {
        let count = rows.len();
        let mut newest: HashMap<(String, String), sign_on_record::Model> = HashMap::new();
        for row in rows {
            newest.insert((row.sid.clone(), row.sp_id.clone()), row);
        }
        sign_on_record::Entity::insert_many(
            newest.into_values().map(sign_on_record::ActiveModel::from),
        )
        .on_conflict(
            OnConflict::columns([sign_on_record::Column::Sid, sign_on_record::Column::SpId])
                .update_columns([
                    sign_on_record::Column::NameId,
                    sign_on_record::Column::SessionIndex,
                    sign_on_record::Column::CreatedAt,
                    sign_on_record::Column::ExpiresAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(&*self.db.write().await)
        .await?;
        Ok(vec![(); count])
    }
}

/// One SP a session signed in to.
#[derive(Clone, Debug)]
pub(crate) struct SignedOn {
    pub sp_id: String,
    pub name_id: String,
    pub session_index: String,
    pub at: DateTime<Utc>,
}

impl ServiceProviders {
    /// Notes that session `sid` was given an assertion for `sp` naming the person `name_id`
    /// with `session_index`; kept for `lasts` (as long as the session can).
    pub(crate) async fn signed_on(
        &self,
        sp: &SamlSpId,
        sid: &str,
        name_id: &str,
        session_index: &str,
        lasts: TimeDelta,
        now: DateTime<Utc>,
    ) -> Result<(), DbErr> {
        let key = format!("{sid}\u{1f}{sp}\u{1f}{name_id}\u{1f}{session_index}");
        if self.recently_recorded.get(&key).is_some() {
            return Ok(());
        }
        let row = sign_on_record::Model {
            sid: sid.to_owned(),
            sp_id: sp.to_string(),
            name_id: name_id.to_owned(),
            session_index: session_index.to_owned(),
            created_at: now,
            expires_at: now + lasts,
        };
        match &self.recorded {
            Some(batches) => batches.write(row).await?,
            None => self.records().commit(vec![row]).await.map(|_| ())?,
        }
        self.recently_recorded.insert(key, ());
        Ok(())
    }

    /// The sign-ons of these sessions, oldest first.
    pub(crate) async fn sign_ons_of(
        &self,
        sids: &[String],
        now: DateTime<Utc>,
    ) -> Result<Vec<SignedOn>, DbErr> {
        if sids.is_empty() {
            return Ok(Vec::new());
        }
        let mut found: Vec<SignedOn> = sign_on_record::Entity::find()
            .filter(sign_on_record::Column::Sid.is_in(sids.iter().map(String::as_str)))
            .filter(sign_on_record::Column::ExpiresAt.gt(now))
            .all(self.db().read())
            .await?
            .into_iter()
            .map(|row| SignedOn {
                sp_id: row.sp_id,
                name_id: row.name_id,
                session_index: row.session_index,
                at: row.created_at,
            })
            .collect();
        found.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.sp_id.cmp(&b.sp_id)));
        Ok(found)
    }

    pub(crate) fn records(&self) -> Records {
        Records {
            db: self.db().clone(),
        }
    }
}

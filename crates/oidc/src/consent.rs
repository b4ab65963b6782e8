//! What each person allowed each client: remembered, so nobody is asked twice.

use chrono::{DateTime, Utc};
use latchkey_core::UserId;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, EntityTrait};

use crate::entities::consent;
use crate::provider::Provider;
use crate::scope::Scopes;

impl Provider {
    pub(crate) async fn has_consent(
        &self,
        user_id: &UserId,
        client_id: &str,
        scopes: &Scopes,
    ) -> Result<bool, sea_orm::DbErr> {
        let found = consent::Entity::find_by_id((user_id.into(), client_id.to_owned()))
            .one(self.db.read())
            .await?;
        Ok(
            found
                .is_some_and(|c| scopes.is_subset_of(&Scopes::parse(&c.scope).unwrap_or_default())),
        )
    }

    pub(crate) async fn remember_consent(
        &self,
        user_id: &UserId,
        client_id: &str,
        scopes: &Scopes,
        now: DateTime<Utc>,
    ) -> Result<(), sea_orm::DbErr> {
        let earlier = consent::Entity::find_by_id((user_id.into(), client_id.to_owned()))
            .one(self.db.read())
            .await?
            .and_then(|c| Scopes::parse(&c.scope).ok())
            .unwrap_or_default();
        let all = Scopes::from_tokens(earlier.iter().chain(scopes.iter())).unwrap_or_default();
        consent::Entity::insert(consent::ActiveModel {
            user_id: Set(user_id.into()),
            client_id: Set(client_id.to_owned()),
            scope: Set(all.to_string()),
            granted_at: Set(now),
        })
        .on_conflict(
            OnConflict::columns([consent::Column::UserId, consent::Column::ClientId])
                .update_columns([consent::Column::Scope, consent::Column::GrantedAt])
                .to_owned(),
        )
        .exec_without_returning(&*self.db.write().await)
        .await?;
        Ok(())
    }
}

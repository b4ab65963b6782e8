//! What each person allowed each client: remembered, so nobody is asked twice. The `team`
//! scope is remembered for the team it was agreed in: a person who works in several teams
//! is asked again before a client learns about another one.

use chrono::{DateTime, Utc};
use latchkey_core::{TeamId, UserId};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, EntityTrait};

use crate::entities::consent;
use crate::provider::Provider;
use crate::scope::{Scopes, TEAM};

/// The scopes as consent remembers them: `team` becomes `team:<id>` of the team it speaks
/// for.
fn remembered(scopes: &Scopes, team: Option<&TeamId>) -> Scopes {
    let named = scopes.iter().map(|scope| match team {
        Some(team) if scope == TEAM => format!("{TEAM}:{team}"),
        _ => scope.to_owned(),
    });
    let named: Vec<String> = named.collect();
    Scopes::from_tokens(named.iter().map(String::as_str)).unwrap_or_default()
}

impl Provider {
    pub(crate) async fn has_consent(
        &self,
        user_id: &UserId,
        client_id: &str,
        scopes: &Scopes,
        team: Option<&TeamId>,
    ) -> Result<bool, sea_orm::DbErr> {
        let scopes = remembered(scopes, team);
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
        team: Option<&TeamId>,
        now: DateTime<Utc>,
    ) -> Result<(), sea_orm::DbErr> {
        let scopes = remembered(scopes, team);
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

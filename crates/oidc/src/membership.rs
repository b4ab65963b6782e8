//! Ending what a person holds for a team when they leave it or are removed.

use chrono::{DateTime, TimeDelta, Utc};
use latchkey_core::GrantId;
use latchkey_core::{TeamId, UserId};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect,
};

use super::entities::{grant, revoked_token};
use super::provider::Provider;
use crate::revocations::membership_revocation;
use latchkey_login::Sessions;
use latchkey_teams::{Actor, TeamError, Teams};

/// What was ended in the database; [`Provider::forget_membership`] applies it in memory once
/// the transaction has committed.
#[derive(Debug, Default)]
pub struct EndedMembership {
    grants: Vec<String>,
    key: String,
}

impl Provider {
    /// Removes a member (or lets one leave) and, in the same transaction, ends what they hold
    /// for the team; this replica forgets their tokens at once, the others within a second.
    pub async fn remove_member(
        &self,
        teams: &Teams,
        team_id: &TeamId,
        user_id: &UserId,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<(), TeamError> {
        let mut ended = None;
        teams
            .remove_member(team_id, user_id, actor, now, async |txn| {
                ended = Some(self.end_membership(txn, team_id, user_id, now).await?);
                Ok(())
            })
            .await?;
        if let Some(ended) = ended {
            self.forget_membership(&ended, now);
        }
        Ok(())
    }

    /// In the caller's transaction (the one removing the membership): revokes the person's
    /// grants for the team (their refresh tokens stop, and the access tokens from them), marks
    /// every access token issued for the team before now as revoked, and takes the team from
    /// their sessions.
    async fn end_membership<C: ConnectionTrait>(
        &self,
        conn: &C,
        team_id: &TeamId,
        user_id: &UserId,
        now: DateTime<Utc>,
    ) -> Result<EndedMembership, sea_orm::DbErr> {
        let grants: Vec<String> = grant::Entity::find()
            .select_only()
            .column(grant::Column::Id)
            .filter(grant::Column::UserId.eq(user_id))
            .filter(grant::Column::TeamId.eq(team_id))
            .filter(grant::Column::RevokedAt.is_null())
            .into_tuple()
            .all(conn)
            .await?;
        grant::Entity::update_many()
            .col_expr(grant::Column::RevokedAt, Expr::value(now))
            .col_expr(grant::Column::RevokedReason, Expr::value("member_removed"))
            .filter(grant::Column::Id.is_in(grants.iter().map(String::as_str)))
            .filter(grant::Column::RevokedAt.is_null())
            .exec(conn)
            .await?;
        let key = membership_revocation(team_id.as_str(), user_id.as_str());
        revoked_token::Entity::insert(revoked_token::ActiveModel {
            jti: Set(key.clone()),
            revoked_at: Set(now),
            expires_at: Set(now + self.settings.access_token_ttl + TimeDelta::seconds(60)),
        })
        .on_conflict(
            OnConflict::column(revoked_token::Column::Jti)
                .update_columns([
                    revoked_token::Column::RevokedAt,
                    revoked_token::Column::ExpiresAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(conn)
        .await?;
        Sessions::drop_team(conn, user_id, team_id, now).await?;
        Ok(EndedMembership { grants, key })
    }

    /// Applies an ended membership to this replica's view at once (others poll for it).
    fn forget_membership(&self, ended: &EndedMembership, now: DateTime<Utc>) {
        for grant in &ended.grants {
            self.revocations
                .add_grant(&GrantId::from(grant.as_str()), now);
        }
        self.revocations.add_membership(&ended.key, now);
        tracing::info!(
            grants = ended.grants.len(),
            "membership ended; its tokens are revoked"
        );
    }
}

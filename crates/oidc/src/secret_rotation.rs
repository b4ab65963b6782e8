//! A new secret for a team's application, with the old one kept for a grace period the
//! administrator chooses, so the application can be given the new one before the old stops.
//! Only hashes are stored; the new secret is shown once.

use chrono::{DateTime, TimeDelta, Utc};
use latchkey_core::secret::SecretToken;
use latchkey_core::{ClientId, TeamId};
use latchkey_teams::{Actor, administer};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait, IntoActiveModel};
use serde_json::json;

use crate::client::{Client, Clients};
use crate::client_admin::{ApplicationError, TeamApplications, WithSecret, audit, team_row};
use crate::entities::client;
use crate::registration::ClientError;

/// How long the old secret keeps working after a rotation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grace {
    /// It stops at once (a leaked secret).
    None,
    Hour,
    Day,
    Week,
}

impl Grace {
    pub const ALL: [Grace; 4] = [Grace::None, Grace::Hour, Grace::Day, Grace::Week];

    /// The form's value.
    pub fn as_str(self) -> &'static str {
        match self {
            Grace::None => "none",
            Grace::Hour => "1h",
            Grace::Day => "1d",
            Grace::Week => "7d",
        }
    }

    /// What a person reads.
    pub fn label(self) -> &'static str {
        match self {
            Grace::None => "Stop the old secret now",
            Grace::Hour => "Keep the old secret for 1 hour",
            Grace::Day => "Keep the old secret for 1 day",
            Grace::Week => "Keep the old secret for 7 days",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|g| g.as_str() == raw)
    }

    pub fn length(self) -> TimeDelta {
        match self {
            Grace::None => TimeDelta::zero(),
            Grace::Hour => TimeDelta::hours(1),
            Grace::Day => TimeDelta::days(1),
            Grace::Week => TimeDelta::days(7),
        }
    }
}

/// The row with a new secret, the current one kept until the grace period ends; `None` for a
/// client without a secret.
fn rekeyed(
    row: client::Model,
    grace: Grace,
    now: DateTime<Utc>,
) -> Option<(client::ActiveModel, SecretToken, Option<DateTime<Utc>>)> {
    let old_hash = row.secret_hash.clone()?;
    let secret = SecretToken::generate();
    let until = (grace != Grace::None).then(|| now + grace.length());
    let mut change = row.into_active_model();
    change.secret_hash = Set(Some(secret.hash()));
    change.previous_secret_hash = Set(until.map(|_| old_hash));
    change.previous_secret_expires_at = Set(until);
    Some((change, secret, until))
}

impl Clients {
    /// Gives any client with a secret a new one (the operator, at the command line); the
    /// current one stays valid for `grace`. Returns the client, its new secret (shown once)
    /// and when the old one stops, if it still works.
    pub async fn rotate_secret(
        &self,
        id: &ClientId,
        grace: Grace,
        now: DateTime<Utc>,
    ) -> Result<(Client, String, Option<DateTime<Utc>>), ClientError> {
        let db = self.db().write().await;
        let row = client::Entity::find_by_id(id)
            .one(&*db)
            .await?
            .ok_or_else(|| ClientError::NotFound(id.to_string()))?;
        let Some((change, secret, until)) = rekeyed(row, grace, now) else {
            return Err(ClientError::NoSecret(id.to_string()));
        };
        let rotated = Client::from_row(change.update(&*db).await?)?;
        drop(db);
        self.forget(id.as_str());
        Ok((rotated, secret.expose().to_owned(), until))
    }
}

impl TeamApplications {
    /// Gives one of the team's confidential applications a new secret; the current one stays
    /// valid for `grace`. A secret still in an earlier grace period stops now: only the one
    /// just replaced is kept.
    pub async fn rotate_secret(
        &self,
        team: &TeamId,
        id: &str,
        grace: Grace,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<WithSecret, ApplicationError> {
        let txn = administer(self.clients().db(), team, actor, now).await?;
        let row = team_row(&*txn, team, id).await?;
        let Some((change, secret, until)) = rekeyed(row, grace, now) else {
            return Err(ApplicationError::NoSecret);
        };
        let application = Client::from_row(change.update(&*txn).await?)?;
        audit(
            &*txn,
            team,
            "application.secret_rotated",
            actor,
            &application,
            json!({
                "client_id": application.id.as_str(),
                "grace": grace.as_str(),
                "previous_secret_until": until,
            }),
            now,
        )
        .await?;
        txn.commit().await?;
        self.clients().forget(id);
        Ok(WithSecret {
            application,
            secret: Some(secret.expose().to_owned()),
        })
    }
}

//! What a signed-in session may do to the account behind it, beyond itself: rename it, or end
//! every session it has. The rule is `SessionUser::may_change_account`; these are the only ways
//! the web layer does either, so no page can forget it.

use chrono::{DateTime, Utc};
use latchkey_teams::PersonName;

use crate::session::{SessionUser, Sessions};

/// Why a session could not change its account.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// The session speaks for one team only (see `SessionUser::may_change_account`).
    #[error("this session was opened for one team, and cannot change the account for all of them")]
    BoundToTeam,
    #[error("database: {0}")]
    Database(#[from] sea_orm::DbErr),
}

impl Sessions {
    /// Sets the person's name as they chose it (`/dashboard/profile`): from then on no
    /// integration's name claim changes it.
    pub async fn rename_account(
        &self,
        user: &SessionUser,
        name: &PersonName,
        now: DateTime<Utc>,
    ) -> Result<(), AccountError> {
        if !user.may_change_account() {
            return Err(AccountError::BoundToTeam);
        }
        latchkey_teams::set_name(&*self.db().write().await, user.user_id.as_str(), name, now)
            .await?;
        Ok(())
    }

    /// Ends every session of the person ("sign out everywhere"); the caller then revokes their
    /// applications' grants. Returns how many sessions ended.
    pub async fn end_everywhere(
        &self,
        user: &SessionUser,
        now: DateTime<Utc>,
    ) -> Result<u64, AccountError> {
        if !user.may_change_account() {
            return Err(AccountError::BoundToTeam);
        }
        Ok(self.revoke_all(&user.user_id, now).await?)
    }
}

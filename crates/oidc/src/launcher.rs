//! The OpenID half of a member's application launcher (`/apps`): which of their team's
//! applications they may open from Latchkey's side, and where each one starts. An
//! application is listed when it is bound to the team and registered a login URI
//! (`initiate_login_uri`, OpenID Connect Core §4); one of no team, or of another team, never
//! is. The SAML half is `latchkey_saml`'s; the web layer puts the two side by side.

use latchkey_core::{ClientId, Issuer, TeamId, UserId};
use latchkey_teams::{TeamError, Teams};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use crate::client::{Client, ClientError, Clients, GrantType};
use crate::entities::client;
use crate::initiate_login;

/// An application a member can open: its name, and where the browser goes to start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenableApplication {
    pub client_id: ClientId,
    pub name: String,
    /// The login URI with `iss` and `login_hint` added.
    pub launch_url: String,
}

/// Why the launcher could not list a team's applications.
#[derive(Debug, thiserror::Error)]
pub enum LauncherError {
    #[error("not a member of this team")]
    NotMember,
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("database: {0}")]
    Database(#[from] sea_orm::DbErr),
}

impl From<TeamError> for LauncherError {
    fn from(error: TeamError) -> Self {
        match error {
            TeamError::Database(e) => Self::Database(e),
            _ => Self::NotMember,
        }
    }
}

impl Clients {
    /// The OpenID applications of `team` that `user` (a member of it) may open, by name.
    /// Someone outside the team is refused (`NotMember`), whatever the team.
    pub async fn openable_by(
        &self,
        team: &TeamId,
        user: &UserId,
        login_hint: Option<&str>,
        issuer: &Issuer,
    ) -> Result<Vec<OpenableApplication>, LauncherError> {
        Teams::membership_in(self.db().read(), team, user)
            .await?
            .ok_or(LauncherError::NotMember)?;
        let rows = client::Entity::find()
            .filter(client::Column::TeamId.eq(team.as_str()))
            .filter(client::Column::InitiateLoginUri.is_not_null())
            .order_by_asc(client::Column::Name)
            .order_by_asc(client::Column::Id)
            .all(self.db().read())
            .await?;
        let mut openable = Vec::new();
        for row in rows {
            let client = Client::from_row(row)?;
            if !client.allows(GrantType::AuthorizationCode) {
                continue;
            }
            let Some(launch_url) = client
                .initiate_login_uri
                .as_deref()
                .and_then(|uri| initiate_login::launch_url(uri, issuer, login_hint))
            else {
                continue;
            };
            openable.push(OpenableApplication {
                client_id: client.id,
                name: client.name,
                launch_url,
            });
        }
        Ok(openable)
    }
}

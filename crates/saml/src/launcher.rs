//! The SAML half of a member's application launcher (`/apps`): which of their team's service
//! providers they may open from Latchkey's side. An SP is listed when it belongs to the team
//! and allows a sign-on started at Latchkey (`idp_initiated`); its address is the team-aware
//! `/saml/init` (`Identity::init_url`), which signs the person in and posts to the SP's ACS.
//! The OpenID half is `latchkey_oidc`'s; the web layer puts the two side by side.

use latchkey_core::{SamlSpId, TeamId, UserId};
use latchkey_teams::{TeamError, Teams};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use crate::entities::service_provider;
use crate::error::SamlError;
use crate::registry::ServiceProviders;

/// A service provider a member can open: its name, and where the sign-on starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenableServiceProvider {
    pub sp_id: SamlSpId,
    pub name: String,
    pub init_url: String,
}

impl ServiceProviders {
    /// The service providers of `team` that `user` (a member of it) may open, by name.
    /// Someone outside the team is refused (`SamlError::Team(NotFound)`), whatever the team.
    pub async fn openable_by(
        &self,
        team: &TeamId,
        user: &UserId,
    ) -> Result<Vec<OpenableServiceProvider>, SamlError> {
        Teams::membership_in(self.db().read(), team, user)
            .await
            .map_err(|e| match e {
                TeamError::Database(e) => SamlError::Database(e),
                other => SamlError::Team(other),
            })?
            .ok_or(SamlError::Team(TeamError::NotFound))?;
        let rows = service_provider::Entity::find()
            .filter(service_provider::Column::TeamId.eq(team.as_str()))
            .filter(service_provider::Column::IdpInitiated.eq(true))
            .order_by_asc(service_provider::Column::Name)
            .order_by_asc(service_provider::Column::Id)
            .all(self.db().read())
            .await?;
        Ok(rows
            .into_iter()
            .map(|row| self.read_row(row))
            .filter_map(|sp| {
                Some(OpenableServiceProvider {
                    init_url: sp.init_url?,
                    sp_id: sp.sp_id,
                    name: sp.name,
                })
            })
            .collect())
    }
}

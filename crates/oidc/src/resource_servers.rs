//! The APIs access tokens are issued for (RFC 8707 resource indicators, RFC 9068 §3). A token
//! for a resource server names it as `aud` and carries only the scopes it defines, so one API
//! never accepts a token meant for another. Without a `resource`, a token is for the client
//! that asked, and no resource server takes it.

use chrono::{DateTime, Utc};
use latchkey_core::{ClientId, Db, TeamId};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::Serialize;
use url::Url;

use crate::client::Client;
use crate::entities::resource_server;
use crate::error::OAuthError;
use crate::scope::{ScopeError, Scopes, USER_SCOPES};

/// The longest identifier kept (the column's width).
const LONGEST_IDENTIFIER: usize = 512;

/// A resource server to register.
#[derive(Clone, Debug)]
pub struct NewResourceServer {
    pub identifier: String,
    pub name: Option<String>,
    pub scopes: Vec<String>,
    pub team_id: Option<TeamId>,
    pub introspection_client: Option<ClientId>,
}

/// A registered resource server, as the CLI shows it.
#[derive(Clone, Debug, Serialize)]
pub struct ResourceServer {
    pub identifier: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub team_id: Option<String>,
    pub introspection_client_id: Option<String>,
}

/// Why a resource server could not be registered or removed; each says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum ResourceError {
    #[error(
        "--identifier {0:?} must be an absolute URI without a fragment, like https://api.example.com (RFC 8707 §2)"
    )]
    Identifier(String),
    #[error(
        "--identifier must not be the issuer: tokens for Latchkey itself are not resource tokens"
    )]
    IsTheIssuer,
    #[error("give at least one --scope: a resource server's tokens carry only its own scopes")]
    NoScopes,
    #[error("scope {0}")]
    Scope(#[from] ScopeError),
    #[error("--scope {0:?} is an OpenID Connect scope of people's identity, not an API's")]
    UserScope(String),
    #[error("--team {0:?} is not a team id (the id `latchkey team create` prints)")]
    Team(String),
    #[error("--introspection-client {0:?} is not a confidential client of this instance")]
    IntrospectionClient(String),
    #[error("a resource server {0:?} is already registered")]
    Exists(String),
    #[error("no resource server {0:?}")]
    NotFound(String),
    #[error("database: {0}")]
    Database(#[from] sea_orm::DbErr),
}

/// The registry of resource servers.
#[derive(Clone)]
pub struct ResourceServers {
    db: Db,
}

impl ResourceServers {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    pub async fn add(
        &self,
        new: NewResourceServer,
        issuer: &str,
        now: DateTime<Utc>,
    ) -> Result<ResourceServer, ResourceError> {
        let identifier = checked_identifier(&new.identifier)?;
        if identifier.trim_end_matches('/') == issuer.trim_end_matches('/') {
            return Err(ResourceError::IsTheIssuer);
        }
        let scopes = Scopes::from_tokens(new.scopes.iter().flat_map(|s| s.split([' ', ','])))?;
        if scopes.is_empty() {
            return Err(ResourceError::NoScopes);
        }
        if let Some(user_scope) = scopes.iter().find(|s| USER_SCOPES.contains(s)) {
            return Err(ResourceError::UserScope(user_scope.to_owned()));
        }
        if let Some(team) = &new.team_id
            && latchkey_teams::entities::team::Entity::find_by_id(team.as_str())
                .one(self.db.read())
                .await?
                .is_none()
        {
            return Err(ResourceError::Team(team.to_string()));
        }
        if let Some(client) = &new.introspection_client {
            let found = crate::entities::client::Entity::find_by_id(client.as_str())
                .one(self.db.read())
                .await?;
            if !found.is_some_and(|c| c.secret_hash.is_some() || c.auth_method == "private_key_jwt")
            {
                return Err(ResourceError::IntrospectionClient(client.to_string()));
            }
        }
        let row = resource_server::ActiveModel {
            identifier: Set(identifier.clone()),
            name: Set(new
                .name
                .filter(|n| !n.trim().is_empty())
                .unwrap_or_else(|| identifier.clone())),
            scopes: Set(scopes.to_string()),
            team_id: Set(new.team_id.map(TeamId::into_string)),
            introspection_client_id: Set(new.introspection_client.map(ClientId::into_string)),
            created_at: Set(now),
        };
        let writer = self.db.write().await;
        if resource_server::Entity::find_by_id(identifier.as_str())
            .one(&*writer)
            .await?
            .is_some()
        {
            return Err(ResourceError::Exists(identifier));
        }
        let inserted = resource_server::Entity::insert(row)
            .exec_with_returning(&*writer)
            .await?;
        Ok(shown(inserted))
    }

    /// Every resource server, or one team's.
    pub async fn list(&self, team: Option<&TeamId>) -> Result<Vec<ResourceServer>, ResourceError> {
        let mut query =
            resource_server::Entity::find().order_by_asc(resource_server::Column::Identifier);
        if let Some(team) = team {
            query = query.filter(resource_server::Column::TeamId.eq(team.as_str()));
        }
        Ok(query
            .all(self.db.read())
            .await?
            .into_iter()
            .map(shown)
            .collect())
    }

    /// Removes a resource server. Tokens already issued for it keep their `aud` until they
    /// expire; no new ones are issued.
    pub async fn remove(&self, identifier: &str) -> Result<(), ResourceError> {
        let deleted = resource_server::Entity::delete_by_id(identifier)
            .exec(&*self.db.write().await)
            .await?;
        if deleted.rows_affected == 0 {
            return Err(ResourceError::NotFound(identifier.to_owned()));
        }
        Ok(())
    }

    pub(crate) async fn find(
        &self,
        identifier: &str,
    ) -> Result<Option<resource_server::Model>, sea_orm::DbErr> {
        if identifier.len() > LONGEST_IDENTIFIER {
            return Ok(None);
        }
        resource_server::Entity::find_by_id(identifier)
            .one(self.db.read())
            .await
    }

    /// Whom a token for `client` is for, and the scopes it carries: with `resource`, that
    /// resource server (registered, open to the client's team) and the granted scopes it
    /// defines; without, the client itself and every granted scope.
    pub(crate) async fn audience(
        &self,
        client: &Client,
        resource: Option<&str>,
        granted: &Scopes,
    ) -> Result<(String, Scopes), OAuthError> {
        let Some(resource) = resource else {
            return Ok((client.id.to_string(), granted.clone()));
        };
        let server = self.usable_by(client, resource).await?;
        let defined = Scopes::parse(&server.scopes).unwrap_or_default();
        let scopes = granted.intersect(&defined);
        if scopes.is_empty() {
            return Err(OAuthError::invalid_scope(format!(
                "none of the scopes granted is one of resource {resource:?}'s ({defined})"
            )));
        }
        Ok((server.identifier, scopes))
    }

    /// The resource server `resource` names, if `client` may get tokens for it.
    pub(crate) async fn usable_by(
        &self,
        client: &Client,
        resource: &str,
    ) -> Result<resource_server::Model, OAuthError> {
        checked_identifier(resource).map_err(|_| {
            OAuthError::invalid_target(format!(
                "resource {resource:?} is not an absolute URI without a fragment"
            ))
        })?;
        let server = self.find(resource).await?.ok_or_else(|| {
            OAuthError::invalid_target(format!(
                "resource {resource:?} is not a registered resource server"
            ))
        })?;
        if let Some(team) = &server.team_id
            && client.team_id.as_deref() != Some(team.as_str())
        {
            return Err(OAuthError::invalid_target(format!(
                "resource {resource:?} takes tokens only for its own team's clients"
            )));
        }
        Ok(server)
    }

    /// Whether `client` is the one resource server `audience` introspects with.
    pub(crate) async fn introspects_for(
        &self,
        client: &Client,
        audience: &str,
    ) -> Result<bool, sea_orm::DbErr> {
        Ok(self.find(audience).await?.is_some_and(|server| {
            server.introspection_client_id.as_deref() == Some(client.id.as_str())
        }))
    }
}

/// An absolute URI without a fragment (RFC 8707 §2), as given.
fn checked_identifier(raw: &str) -> Result<String, ResourceError> {
    let bad = || ResourceError::Identifier(raw.to_owned());
    if raw.len() > LONGEST_IDENTIFIER || raw.trim() != raw {
        return Err(bad());
    }
    let url = Url::parse(raw).map_err(|_| bad())?;
    if url.fragment().is_some() || url.cannot_be_a_base() && url.scheme() != "urn" {
        return Err(bad());
    }
    if matches!(url.scheme(), "http" | "https") && url.host().is_none() {
        return Err(bad());
    }
    Ok(raw.to_owned())
}

fn shown(row: resource_server::Model) -> ResourceServer {
    ResourceServer {
        scopes: row.scopes.split(' ').map(str::to_owned).collect(),
        identifier: row.identifier,
        name: row.name,
        team_id: row.team_id,
        introspection_client_id: row.introspection_client_id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_absolute_uris_without_fragments() {
        for good in [
            "https://api.example.com",
            "https://api.example.com/orders",
            "urn:example:orders",
        ] {
            assert!(checked_identifier(good).is_ok(), "{good}");
        }
        for bad in [
            "api.example.com",
            "/orders",
            "https://api.example.com/#x",
            " https://api.example.com",
            "",
        ] {
            assert!(checked_identifier(bad).is_err(), "{bad}");
        }
    }
}

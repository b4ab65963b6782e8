//! A team's OpenID applications as its administrators manage them from the console: the same
//! checks as `latchkey client create`, plus the team's walls. Only an administrator of the
//! team acts; an application of another team is never found through this path (it answers
//! as an unknown one does); every change is written with its audit event in one transaction.

use chrono::{DateTime, Utc};
use latchkey_core::TeamId;
use latchkey_keys::SigningAlgorithm;
use latchkey_teams::{Actor, AuditLog, Subject, TeamError, Teams, administer};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder,
};
use serde::Serialize;
use serde_json::json;

use crate::client::{Client, Clients};
use crate::entities::client;
use crate::registration::{ClientError, NewClient, checked_name, json_list};

/// What an administrator sets on an application, at registration and when editing it.
#[derive(Clone, Debug)]
pub struct ApplicationSettings {
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    /// Empty: `openid email profile`.
    pub scopes: Vec<String>,
    /// Signs in without the consent page (the team's own application).
    pub first_party: bool,
    /// Sign-ins without PKCE are accepted (a confidential application only).
    pub pkce_optional: bool,
    pub id_token_alg: SigningAlgorithm,
}

/// A field of the application form, so a page shows the error next to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    Name,
    RedirectUris,
    PostLogoutRedirectUris,
    Scopes,
}

/// Why an application could not be registered, changed or shown.
#[derive(Debug, thiserror::Error)]
pub enum ApplicationError {
    #[error(transparent)]
    Team(#[from] TeamError),
    #[error("there is no such application in this team")]
    NotFound,
    #[error("{message}")]
    Invalid { field: Field, message: String },
    #[error("a public application has no secret to rotate")]
    NoSecret,
    #[error(transparent)]
    Client(ClientError),
    #[error("database: {0}")]
    Database(#[from] sea_orm::DbErr),
}

impl ApplicationError {
    fn invalid(field: Field, message: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            message: message.into(),
        }
    }
}

impl From<ClientError> for ApplicationError {
    fn from(error: ClientError) -> Self {
        match error {
            ClientError::NoName | ClientError::BadName => Self::invalid(
                Field::Name,
                "Give the application a name of 1 to 100 characters.",
            ),
            ClientError::RedirectUriRequired => Self::invalid(
                Field::RedirectUris,
                "Give at least one redirect URI: the address the application receives sign-ins at.",
            ),
            ClientError::RedirectUri(e) => {
                Self::invalid(Field::RedirectUris, format!("This redirect URI {e}."))
            }
            ClientError::Scope(e) => Self::invalid(Field::Scopes, format!("Scope {e}.")),
            ClientError::Database(e) => Self::Database(e),
            other => Self::Client(other),
        }
    }
}

/// An application just registered or given a new secret: the secret is shown now, once.
#[derive(Debug)]
pub struct WithSecret {
    pub application: Client,
    pub secret: Option<String>,
}

/// A team's OpenID applications.
#[derive(Clone)]
pub struct TeamApplications {
    clients: Clients,
}

impl TeamApplications {
    /// Works on the same clients (and cache) the token endpoint reads.
    pub fn new(clients: Clients) -> Self {
        Self { clients }
    }

    pub(crate) fn clients(&self) -> &Clients {
        &self.clients
    }

    /// The team's applications, oldest first (administrators).
    pub async fn list(
        &self,
        team: &TeamId,
        actor: &Actor,
    ) -> Result<Vec<Client>, ApplicationError> {
        let db = self.clients.db().read();
        Teams::require_admin(db, team, actor).await?;
        client::Entity::find()
            .filter(client::Column::TeamId.eq(team.as_str()))
            .order_by_asc(client::Column::CreatedAt)
            .all(db)
            .await?
            .into_iter()
            .map(|row| Client::from_row(row).map_err(ApplicationError::from))
            .collect()
    }

    /// One of the team's applications (administrators); another team's is not found.
    pub async fn get(
        &self,
        team: &TeamId,
        id: &str,
        actor: &Actor,
    ) -> Result<Client, ApplicationError> {
        let db = self.clients.db().read();
        Teams::require_admin(db, team, actor).await?;
        Ok(Client::from_row(team_row(db, team, id).await?)?)
    }

    /// Registers an application of the team: confidential (a secret, sent in the Basic
    /// header) or public (PKCE, no secret).
    pub async fn register(
        &self,
        team: &TeamId,
        settings: ApplicationSettings,
        public: bool,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<WithSecret, ApplicationError> {
        let new = NewClient {
            name: settings.name,
            team_id: Some(team.clone()),
            redirect_uris: settings.redirect_uris,
            post_logout_redirect_uris: settings.post_logout_redirect_uris,
            public,
            scopes: settings.scopes,
            first_party: settings.first_party,
            pkce_optional: settings.pkce_optional,
            id_token_alg: Some(settings.id_token_alg),
            ..NewClient::default()
        };
        // The role first: someone who may not register learns nothing from the checks.
        let txn = administer(self.clients.db(), team, actor, now).await?;
        check_fields(&new)?;
        let (row, secret) = new.into_row(now)?;
        client::Entity::insert(row.clone().into_active_model())
            .exec_without_returning(&*txn)
            .await?;
        let application = Client::from_row(row)?;
        audit(
            &*txn,
            team,
            "application.registered",
            actor,
            &application,
            json!({
                "client_id": application.id.as_str(),
                "type": if public { "public" } else { "confidential" },
                "redirect_uris": application.redirect_uris,
                "scopes": application.scopes.to_vec(),
            }),
            now,
        )
        .await?;
        txn.commit().await?;
        Ok(WithSecret {
            application,
            secret: secret.map(|s| s.expose().to_owned()),
        })
    }

    /// Replaces what an administrator sets on one of the team's applications; its id, type
    /// and secret stay.
    pub async fn update(
        &self,
        team: &TeamId,
        id: &str,
        settings: ApplicationSettings,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Client, ApplicationError> {
        let txn = administer(self.clients.db(), team, actor, now).await?;
        let row = team_row(&*txn, team, id).await?;
        let before = Client::from_row(row.clone())?;
        let public = before.is_public();
        let new = NewClient {
            name: settings.name,
            redirect_uris: settings.redirect_uris,
            post_logout_redirect_uris: settings.post_logout_redirect_uris,
            public,
            scopes: settings.scopes,
            ..NewClient::default()
        };
        check_fields(&new)?;
        let name = checked_name(&new.name)?;
        let scopes = new.checked_scopes(&before.grant_types)?;
        let mut change = row.into_active_model();
        change.name = Set(name);
        change.redirect_uris = Set(json_list(new.redirect_uris));
        change.post_logout_redirect_uris = Set(json_list(new.post_logout_redirect_uris));
        change.scopes = Set(json_list(scopes.to_vec()));
        change.first_party = Set(settings.first_party);
        change.require_pkce = Set(public || !settings.pkce_optional);
        change.id_token_alg = Set(settings.id_token_alg.as_str().to_owned());
        let after = Client::from_row(change.update(&*txn).await?)?;
        audit(
            &*txn,
            team,
            "application.changed",
            actor,
            &after,
            json!({ "client_id": after.id.as_str(), "changed": changes(&before, &after) }),
            now,
        )
        .await?;
        txn.commit().await?;
        self.clients.forget(id);
        Ok(after)
    }

    /// Removes one of the team's applications, with every grant and code issued to it.
    pub async fn remove(
        &self,
        team: &TeamId,
        id: &str,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Client, ApplicationError> {
        let txn = administer(self.clients.db(), team, actor, now).await?;
        let removed = Client::from_row(team_row(&*txn, team, id).await?)?;
        client::Entity::delete_many()
            .filter(client::Column::Id.eq(id))
            .filter(client::Column::TeamId.eq(team.as_str()))
            .exec(&*txn)
            .await?;
        audit(
            &*txn,
            team,
            "application.removed",
            actor,
            &removed,
            json!({ "client_id": removed.id.as_str() }),
            now,
        )
        .await?;
        txn.commit().await?;
        self.clients.forget(id);
        Ok(removed)
    }
}

/// The row of the team's application `id`; another team's, or none, is [`NotFound`].
///
/// [`NotFound`]: ApplicationError::NotFound
pub(crate) async fn team_row<C: ConnectionTrait>(
    conn: &C,
    team: &TeamId,
    id: &str,
) -> Result<client::Model, ApplicationError> {
    if id.is_empty() || id.len() > 64 {
        return Err(ApplicationError::NotFound);
    }
    client::Entity::find_by_id(id)
        .filter(client::Column::TeamId.eq(team.as_str()))
        .one(conn)
        .await?
        .ok_or(ApplicationError::NotFound)
}

/// Writes an event about an application in the team's log.
pub(crate) async fn audit<C: ConnectionTrait>(
    conn: &C,
    team: &TeamId,
    action: &str,
    actor: &Actor,
    application: &Client,
    details: serde_json::Value,
    now: DateTime<Utc>,
) -> Result<(), sea_orm::DbErr> {
    let subject = Subject::new(application.id.as_str(), application.name.as_str());
    AuditLog::record(conn, Some(team), action, actor, &subject, details, now).await
}

/// Checks the fields an administrator types, each under its own name: the name and both
/// lists of URIs, so a page can show the error next to the right one.
fn check_fields(new: &NewClient) -> Result<(), ApplicationError> {
    checked_name(&new.name)?;
    if new.redirect_uris.is_empty() {
        return Err(ClientError::RedirectUriRequired.into());
    }
    new.checked_uris(&new.redirect_uris)?;
    new.checked_uris(&new.post_logout_redirect_uris)
        .map_err(|e| match ApplicationError::from(e) {
            ApplicationError::Invalid { message, .. } => ApplicationError::invalid(
                Field::PostLogoutRedirectUris,
                message.replace("This redirect URI", "This sign-out return URI"),
            ),
            other => other,
        })?;
    Ok(())
}

/// What an edit changed, by field, for the audit log.
fn changes(before: &Client, after: &Client) -> Vec<&'static str> {
    let fields = [
        ("name", before.name != after.name),
        ("redirect_uris", before.redirect_uris != after.redirect_uris),
        (
            "post_logout_redirect_uris",
            before.post_logout_redirect_uris != after.post_logout_redirect_uris,
        ),
        ("scopes", before.scopes.to_vec() != after.scopes.to_vec()),
        ("first_party", before.first_party != after.first_party),
        ("require_pkce", before.require_pkce != after.require_pkce),
        ("id_token_alg", before.id_token_alg != after.id_token_alg),
    ];
    fields
        .into_iter()
        .filter(|(_, changed)| *changed)
        .map(|(field, _)| field)
        .collect()
}

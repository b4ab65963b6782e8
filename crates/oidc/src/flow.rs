//! The authorization request from arrival to code: sign-in, the team it speaks for,
//! consent, and the answer at the client's redirect URI.

use latchkey_core::ClientId;
use latchkey_core::RequestId;
use latchkey_core::TeamId;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use crate::authorize::{
    AuthorizationRequest, AuthorizeError, AuthorizeParams, check_client_and_redirect,
    check_request, error_url,
};
use crate::client::Client;
use crate::entities::authorization_request;
use crate::error::OAuthError;
use crate::provider::Provider;
use crate::scope::Scopes;
use latchkey_login::SessionUser;

/// What happens next with an authorization request.
#[derive(Debug)]
pub enum Next {
    /// Nobody (or not the right person, or not recently enough) is signed in.
    SignIn {
        request_id: String,
        login_hint: Option<String>,
    },
    /// The person must agree to share the scopes with the client.
    Consent {
        request_id: String,
        client_name: String,
        scopes: Scopes,
        /// Who is signed in, shown so nobody consents as someone else by mistake.
        email: String,
    },
    /// Back to the client, with a code or an error.
    Redirect(String),
}

/// The re-authentication an authorization request demands (Core §3.1.2.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SignInDemand {
    /// `prompt=login`: a sign-in after the request.
    pub login: bool,
    /// `max_age`, in seconds.
    pub max_age: Option<i64>,
}

/// Which team an authorization speaks for.
pub(crate) enum TeamFor {
    /// No team: the client is not bound to one and did not ask for the `team` scope.
    Nobody,
    Team(TeamId),
    /// The client is bound to a team the person is not in.
    Outsider,
}

impl Provider {
    /// Checks a new authorization request and says what comes next. The request is kept in
    /// the database only when it must wait for sign-in or consent.
    pub async fn start(
        &self,
        params: AuthorizeParams,
        user: Option<&SessionUser>,
        now: DateTime<Utc>,
    ) -> Result<Next, AuthorizeError> {
        let client = match params.client_id.as_deref() {
            Some(id) => self
                .clients()
                .find(&ClientId::from(id))
                .await
                .map_err(page_failure)?,
            None => None,
        };
        let redirect_uri = check_client_and_redirect(&params, client.as_deref())?;
        let Some(client) = client else {
            return Err(page_failure("client vanished"));
        };
        let mut request = check_request(params, &client, redirect_uri)?;
        if let Some(hint) = request.id_token_hint.take() {
            match self.id_token_subject(&hint, &client.id) {
                Some(subject) => request.hinted_subject = Some(subject),
                None => {
                    return Err(AuthorizeError::Redirect {
                        redirect_uri: request.redirect_uri,
                        state: request.state,
                        error: OAuthError::invalid_request(
                            "id_token_hint is not an ID token issued to this client",
                        ),
                    });
                }
            }
        }
        if let Some(resource) = &request.resource
            && let Err(error) = self.resources.usable_by(&client, resource).await
        {
            return Err(AuthorizeError::Redirect {
                redirect_uri: request.redirect_uri,
                state: request.state,
                error,
            });
        }
        let pending = Pending {
            id: None,
            requested_at: now,
            request: &request,
            client: &client,
        };
        self.next(pending, user, now).await
    }

    /// Continues a kept request after sign-in.
    pub async fn resume(
        &self,
        request_id: &RequestId,
        user: Option<&SessionUser>,
        now: DateTime<Utc>,
    ) -> Result<Next, AuthorizeError> {
        let (row, request, client) = self.pending(request_id, now).await?;
        let pending = Pending::kept(&row, &request, &client);
        self.next(pending, user, now).await
    }

    /// The name of the application a request still waiting is for (the login pages carry its
    /// id along and say where signing in leads); None once it has ended.
    pub async fn pending_client_name(
        &self,
        request_id: &RequestId,
        now: DateTime<Utc>,
    ) -> Option<String> {
        let (_, _, client) = self.pending(request_id, now).await.ok()?;
        Some(client.name.clone())
    }

    /// What a request still waiting demands of the sign-in it waits for (`prompt=login`,
    /// `max_age`): a team's identity provider the person signs in through is asked the same.
    /// None once the request has ended.
    pub async fn pending_sign_in_demand(
        &self,
        request_id: &RequestId,
        now: DateTime<Utc>,
    ) -> Option<SignInDemand> {
        let (_, request, _) = self.pending(request_id, now).await.ok()?;
        Some(SignInDemand {
            login: request.prompt.login,
            max_age: request.max_age,
        })
    }

    /// The person's answer on the consent page. Sign-in requirements are checked again: the
    /// form can be posted by anyone holding a session, not only by whoever saw the page.
    pub async fn decide_consent(
        &self,
        request_id: &RequestId,
        user: &SessionUser,
        allow: bool,
        now: DateTime<Utc>,
    ) -> Result<Next, AuthorizeError> {
        let (row, request, client) = self.pending(request_id, now).await?;
        let pending = Pending::kept(&row, &request, &client);
        if let Some(next) = self.check_person(&pending, user, now).await? {
            return Ok(next);
        }
        if !allow {
            tracing::info!(client = %client.id, user = %user.user_id, "consent refused");
            return self
                .refuse(
                    &pending,
                    OAuthError::access_denied(
                        "the person declined to share the requested information",
                    ),
                    now,
                )
                .await;
        }
        let team = match self.team_for(&client, &request.scopes(), user).await? {
            TeamFor::Team(team) => Some(team),
            TeamFor::Nobody | TeamFor::Outsider => None,
        };
        self.remember_consent(
            &user.user_id,
            &client.id,
            &request.scopes(),
            team.as_ref(),
            now,
        )
        .await
        .map_err(page_failure)?;
        self.issue_code(&pending, user, now).await
    }

    pub(crate) async fn pending(
        &self,
        request_id: &RequestId,
        now: DateTime<Utc>,
    ) -> Result<
        (
            authorization_request::Model,
            AuthorizationRequest,
            Arc<Client>,
        ),
        AuthorizeError,
    > {
        let gone = || {
            AuthorizeError::Page(
                "This sign-in request has ended",
                "It was completed or cancelled, or it waited too long. Go back to the application and start signing in again.".into(),
            )
        };
        if uuid::Uuid::parse_str(request_id).is_err() {
            return Err(gone());
        }
        let row = authorization_request::Entity::find_by_id(request_id)
            .one(self.db.read())
            .await
            .map_err(page_failure)?
            .filter(|r| r.completed_at.is_none() && r.expires_at > now)
            .ok_or_else(gone)?;
        let request: AuthorizationRequest =
            serde_json::from_str(&row.params).map_err(page_failure)?;
        let client = self
            .clients()
            .find(&ClientId::from(request.client_id.as_str()))
            .await
            .map_err(page_failure)?
            .ok_or_else(gone)?;
        Ok((row, request, client))
    }

    /// Keeps a request that must wait, and returns its id.
    pub(crate) async fn keep(
        &self,
        pending: &Pending<'_>,
        now: DateTime<Utc>,
    ) -> Result<String, AuthorizeError> {
        if let Some(id) = pending.id {
            return Ok(id.to_owned());
        }
        let id = uuid::Uuid::now_v7().to_string();
        let params = serde_json::to_string(pending.request).map_err(page_failure)?;
        authorization_request::Entity::insert(authorization_request::ActiveModel {
            id: Set(id.clone()),
            client_id: Set(pending.client.id.to_string()),
            params: Set(params),
            created_at: Set(pending.requested_at),
            expires_at: Set(now + self.settings.request_ttl),
            completed_at: Set(None),
        })
        .exec_without_returning(&*self.db.write().await)
        .await
        .map_err(page_failure)?;
        Ok(id)
    }

    /// Ends the request with an error at the client's redirect URI.
    pub(crate) async fn refuse(
        &self,
        pending: &Pending<'_>,
        error: OAuthError,
        now: DateTime<Utc>,
    ) -> Result<Next, AuthorizeError> {
        if let Some(id) = pending.id {
            complete(&*self.db.write().await, &RequestId::from(id), now)
                .await
                .map_err(page_failure)?;
        }
        Ok(Next::Redirect(self.error_redirect(pending.request, &error)))
    }

    /// Sends the person to sign in, or (with `prompt=none`) tells the client it cannot.
    pub(crate) async fn sign_in(
        &self,
        pending: &Pending<'_>,
        now: DateTime<Utc>,
    ) -> Result<Next, AuthorizeError> {
        if pending.request.prompt.none {
            return self
                .refuse(
                    pending,
                    OAuthError::login_required("nobody is signed in, or not recently enough"),
                    now,
                )
                .await;
        }
        Ok(Next::SignIn {
            request_id: self.keep(pending, now).await?,
            login_hint: pending.request.login_hint.clone(),
        })
    }

    pub(crate) fn error_redirect(
        &self,
        request: &AuthorizationRequest,
        error: &OAuthError,
    ) -> String {
        error_url(
            &request.redirect_uri,
            request.state.as_deref(),
            error,
            self.issuer.as_str(),
        )
    }
}

/// An authorization request on its way: kept in the database (`id`) or not yet.
pub(crate) struct Pending<'a> {
    pub(crate) id: Option<&'a str>,
    pub(crate) requested_at: DateTime<Utc>,
    pub(crate) request: &'a AuthorizationRequest,
    pub(crate) client: &'a Client,
}

impl<'a> Pending<'a> {
    /// A request kept while the person signs in or decides.
    fn kept(
        row: &'a authorization_request::Model,
        request: &'a AuthorizationRequest,
        client: &'a Client,
    ) -> Self {
        Self {
            id: Some(&row.id),
            requested_at: row.created_at,
            request,
            client,
        }
    }
}

/// Marks a pending request completed; false when it already was.
pub(crate) async fn complete<C: ConnectionTrait>(
    conn: &C,
    request_id: &RequestId,
    now: DateTime<Utc>,
) -> Result<bool, sea_orm::DbErr> {
    let done = authorization_request::Entity::update_many()
        .col_expr(authorization_request::Column::CompletedAt, Expr::value(now))
        .filter(authorization_request::Column::Id.eq(request_id))
        .filter(authorization_request::Column::CompletedAt.is_null())
        .exec(conn)
        .await?;
    Ok(done.rows_affected == 1)
}

/// The refusal a team-bound client's outsiders get, at the client's redirect URI.
pub(crate) fn outsider() -> OAuthError {
    OAuthError::access_denied("this application admits only the members of its team")
}

pub(crate) fn ended() -> AuthorizeError {
    AuthorizeError::Page(
        "This sign-in request has ended",
        "It was already completed, perhaps in another tab. Go back to the application and start signing in again.".into(),
    )
}

pub(crate) fn page_failure(error: impl std::fmt::Display) -> AuthorizeError {
    tracing::error!(%error, "authorization request failed");
    AuthorizeError::Failed
}

//! An authorization request once someone is signed in: whether that person may answer it
//! (fresh enough, the person hinted, a session that acts for the client's team), which team
//! it speaks for, and the code issued at the end.

use latchkey_core::{RequestId, TeamId};

use chrono::{DateTime, TimeDelta, Utc};

use crate::authorize::{AuthorizeError, response_url};
use crate::client::Client;
use crate::code::{self, CodeClaims};
use crate::error::OAuthError;
use crate::flow::{Next, Pending, TeamFor, complete, ended, outsider, page_failure};
use crate::provider::Provider;
use crate::scope::{Scopes, TEAM};
use latchkey_login::SessionUser;
use latchkey_teams::Teams;

impl Provider {
    /// Whether the signed-in person may answer this request: signed in recently enough for
    /// `prompt=login` and `max_age` (a sign-in after the request satisfies both), and the
    /// person `id_token_hint` names. `Some` is what to do instead.
    pub(crate) async fn check_person(
        &self,
        pending: &Pending<'_>,
        user: &SessionUser,
        now: DateTime<Utc>,
    ) -> Result<Option<Next>, AuthorizeError> {
        let request = pending.request;
        let fresh = user.signed_in_at >= pending.requested_at;
        let too_old = request
            .max_age
            .is_some_and(|max_age| now - user.signed_in_at > TimeDelta::seconds(max_age));
        if !fresh && (request.prompt.login || too_old) {
            return self.sign_in(pending, now).await.map(Some);
        }
        // A session an integration's token opened speaks for that issuer's team only: any
        // other application needs the person to sign in themselves.
        if !user.acts_for_application_of(pending.client.team_id.as_ref()) {
            if request.prompt.none {
                let error = OAuthError::login_required(
                    "the session was opened by an integration of another team",
                );
                return self.refuse(pending, error, now).await.map(Some);
            }
            return self.sign_in(pending, now).await.map(Some);
        }
        if let Some(hinted) = &request.hinted_subject
            && user.user_id != *hinted.as_str()
        {
            // Someone else is signed in: let the right person sign in, once.
            if !fresh && !request.prompt.none {
                return self.sign_in(pending, now).await.map(Some);
            }
            let error = OAuthError::login_required(
                "the signed-in person is not the one id_token_hint names",
            );
            return self.refuse(pending, error, now).await.map(Some);
        }
        Ok(None)
    }

    pub(crate) async fn next(
        &self,
        pending: Pending<'_>,
        user: Option<&SessionUser>,
        now: DateTime<Utc>,
    ) -> Result<Next, AuthorizeError> {
        let Some(user) = user else {
            return self.sign_in(&pending, now).await;
        };
        if let Some(next) = self.check_person(&pending, user, now).await? {
            return Ok(next);
        }
        let (request, client) = (pending.request, pending.client);
        let scopes = request.scopes();
        let team = match self.team_for(client, &scopes, user).await? {
            TeamFor::Outsider => return self.refuse(&pending, outsider(), now).await,
            TeamFor::Team(team) => Some(team),
            TeamFor::Nobody => None,
        };
        // A public client's redirect can be claimed by another app on the device (RFC 8252
        // §8.6), so it is never approved silently on remembered consent.
        let consented = client.first_party
            || (!client.is_public()
                && self
                    .has_consent(&user.user_id, &client.id, &scopes, team.as_ref())
                    .await
                    .map_err(page_failure)?);
        if request.prompt.consent || !consented {
            if request.prompt.none {
                let error = OAuthError::consent_required(
                    "the person has not agreed to share these scopes with this client",
                );
                return self.refuse(&pending, error, now).await;
            }
            return Ok(Next::Consent {
                request_id: self.keep(&pending, now).await?,
                client_name: client.name.clone(),
                scopes,
                email: user.email.clone(),
            });
        }
        self.issue_code(&pending, user, now).await
    }

    /// Ends the request and sends the person back with a code bound to the client, the
    /// redirect URI, the PKCE challenge and the nonce. The code is sealed, so issuing it
    /// writes nothing (but ending a kept request, which yields one code only).
    pub(crate) async fn issue_code(
        &self,
        pending: &Pending<'_>,
        user: &SessionUser,
        now: DateTime<Utc>,
    ) -> Result<Next, AuthorizeError> {
        let request = pending.request;
        // Checked again here: consent may be given long after the request arrived.
        let team_id = match self
            .team_for(pending.client, &request.scopes(), user)
            .await?
        {
            TeamFor::Outsider => return self.refuse(pending, outsider(), now).await,
            TeamFor::Team(team) => Some(team),
            TeamFor::Nobody => None,
        };
        if let Some(id) = pending.id {
            let writer = self.db.write().await;
            if !complete(&*writer, &RequestId::from(id), now)
                .await
                .map_err(page_failure)?
            {
                return Err(ended());
            }
        }
        let claims = CodeClaims {
            id: latchkey_core::secret::random_id(),
            grant_id: uuid::Uuid::now_v7().to_string(),
            client_id: request.client_id.clone(),
            user_id: user.user_id.to_string(),
            email: user.email.clone(),
            redirect_uri: request.redirect_uri.clone(),
            scope: request.scope.clone(),
            nonce: request.nonce.clone(),
            code_challenge: request.code_challenge.clone(),
            auth_time: user.signed_in_at.timestamp(),
            sid: user.sid.clone(),
            exp: (now + self.settings.code_ttl).timestamp(),
            team_id: team_id.map(TeamId::into_string),
            resource: request.resource.clone(),
        };
        let code = code::seal(&self.master_key, &claims).map_err(page_failure)?;
        tracing::info!(client = %request.client_id, user = %user.user_id, "authorization code issued");
        let mut params = vec![("code", code.as_str())];
        if let Some(state) = &request.state {
            params.push(("state", state));
        }
        params.push(("iss", self.issuer.as_str()));
        Ok(Next::Redirect(response_url(&request.redirect_uri, &params)))
    }

    /// The team tokens for this request speak for: a team-bound client's team (the person must
    /// be in it), or with the `team` scope the team the person is working in.
    pub(crate) async fn team_for(
        &self,
        client: &Client,
        scopes: &Scopes,
        user: &SessionUser,
    ) -> Result<TeamFor, AuthorizeError> {
        let member = async |team: &TeamId| {
            Teams::role_of(self.db.read(), team, &user.user_id)
                .await
                .map(|role| role.is_some())
                .map_err(page_failure)
        };
        if let Some(team) = &client.team_id {
            let team = TeamId::from(team.as_str());
            return Ok(if member(&team).await? {
                TeamFor::Team(team)
            } else {
                TeamFor::Outsider
            });
        }
        match &user.team_id {
            Some(team) if scopes.contains(TEAM) && member(team).await? => {
                Ok(TeamFor::Team(team.clone()))
            }
            _ => Ok(TeamFor::Nobody),
        }
    }
}

//! The OpenID provider's flows: the authorization request from arrival to code, and the
//! token endpoint's grants. No HTTP here: handlers pass parameters in and map results out.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use latchkey_keys::{Expectations, MasterKey, SigningAlgorithm};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    TransactionTrait,
};

use super::authorize::{
    AuthorizationRequest, AuthorizeError, AuthorizeParams, check_client_and_redirect,
    check_request, error_url, response_url,
};
use super::client::{Client, Clients, GrantType};
use super::client_auth::ClientAuthenticator;
use super::code::{self, CodeClaims};
use super::entities::{authorization_request, consent, grant, refresh_token, used_code};
use super::error::OAuthError;
use super::pkce;
use super::revocations::Revocations;
use super::scope::{EMAIL, OFFLINE_ACCESS, OPENID, Scopes, TEAM, USER_SCOPES};
use super::tokens::{
    ACCESS_TOKEN_TYPE, AccessClaims, ID_TOKEN_TYPE, IdClaims, TeamClaims, TokenResponse, at_hash,
};
use super::verified_tokens::VerifiedTokens;
use crate::entities::user;
use crate::issuer::Issuer;
use crate::login::SessionUser;
use crate::secret::{SecretToken, sha256_hex};
use crate::state::SharedKeyRing;
use crate::write_gate::WriteGate;
use latchkey_teams::Teams;

/// Lifetimes of what the provider issues (`tokens.*`).
#[derive(Clone, Debug)]
pub struct TokenSettings {
    pub access_token_ttl: TimeDelta,
    pub id_token_ttl: TimeDelta,
    pub code_ttl: TimeDelta,
    pub refresh_idle_ttl: TimeDelta,
    pub refresh_max_ttl: TimeDelta,
    /// How long a pending authorization request waits for sign-in and consent.
    pub request_ttl: TimeDelta,
}

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

const AMR_EMAIL_OTP: &str = "otp";

/// Which team an authorization speaks for.
enum TeamFor {
    /// No team: the client is not bound to one and did not ask for the `team` scope.
    Nobody,
    Team(String),
    /// The client is bound to a team the person is not in.
    Outsider,
}

#[derive(Clone)]
pub struct Provider {
    pub(super) db: DatabaseConnection,
    pub(super) keys: SharedKeyRing,
    pub(super) issuer: Issuer,
    pub(super) settings: TokenSettings,
    authenticator: ClientAuthenticator,
    pub(super) write_gate: WriteGate,
    pub(super) revocations: Arc<Revocations>,
    pub(super) verified: Arc<VerifiedTokens>,
    /// Seals authorization codes.
    master_key: Arc<MasterKey>,
}

impl Provider {
    pub fn new(
        db: DatabaseConnection,
        keys: SharedKeyRing,
        issuer: Issuer,
        settings: TokenSettings,
        authenticator: ClientAuthenticator,
        write_gate: WriteGate,
        master_key: Arc<MasterKey>,
    ) -> Self {
        Self {
            master_key,
            revocations: Arc::new(Revocations::new(db.clone(), settings.access_token_ttl)),
            verified: Arc::default(),
            db,
            keys,
            issuer,
            settings,
            authenticator,
            write_gate,
        }
    }

    /// The in-memory view of revocations; the server loads it before serving and refreshes it.
    pub fn revocations(&self) -> &Revocations {
        &self.revocations
    }

    pub fn authenticator(&self) -> &ClientAuthenticator {
        &self.authenticator
    }

    pub fn clients(&self) -> &Clients {
        self.authenticator.clients()
    }

    pub fn settings(&self) -> &TokenSettings {
        &self.settings
    }

    // ---- the authorization endpoint -------------------------------------------------------

    /// Checks a new authorization request and says what comes next. The request is kept in
    /// the database only when it must wait for sign-in or consent.
    pub async fn start(
        &self,
        params: AuthorizeParams,
        user: Option<&SessionUser>,
        now: DateTime<Utc>,
    ) -> Result<Next, AuthorizeError> {
        let client = match params.client_id.as_deref() {
            Some(id) => self.clients().find(id).await.map_err(page_failure)?,
            None => None,
        };
        let redirect_uri = check_client_and_redirect(&params, client.as_deref())?;
        let Some(client) = client else {
            return Err(page_failure("client vanished"));
        };
        let request = check_request(params, &client, redirect_uri)?;
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
        request_id: &str,
        user: Option<&SessionUser>,
        now: DateTime<Utc>,
    ) -> Result<Next, AuthorizeError> {
        let (row, request, client) = self.pending(request_id, now).await?;
        let pending = Pending {
            id: Some(&row.id),
            requested_at: row.created_at,
            request: &request,
            client: &client,
        };
        self.next(pending, user, now).await
    }

    /// The name of the application a request still waiting is for (the login pages carry its
    /// id along and say where signing in leads); None once it has ended.
    pub async fn pending_client_name(
        &self,
        request_id: &str,
        now: DateTime<Utc>,
    ) -> Option<String> {
        let (_, _, client) = self.pending(request_id, now).await.ok()?;
        Some(client.name.clone())
    }

    /// The person's answer on the consent page. Sign-in requirements are checked again: the
    /// form can be posted by anyone holding a session, not only by whoever saw the page.
    pub async fn decide_consent(
        &self,
        request_id: &str,
        user: &SessionUser,
        allow: bool,
        now: DateTime<Utc>,
    ) -> Result<Next, AuthorizeError> {
        let (row, request, client) = self.pending(request_id, now).await?;
        let pending = Pending {
            id: Some(&row.id),
            requested_at: row.created_at,
            request: &request,
            client: &client,
        };
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
        self.remember_consent(&user.user_id, &client.id, &request.scopes(), now)
            .await
            .map_err(page_failure)?;
        self.issue_code(&pending, user, now).await
    }

    async fn pending(
        &self,
        request_id: &str,
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
            .one(&self.db)
            .await
            .map_err(page_failure)?
            .filter(|r| r.completed_at.is_none() && r.expires_at > now)
            .ok_or_else(gone)?;
        let request: AuthorizationRequest =
            serde_json::from_str(&row.params).map_err(page_failure)?;
        let client = self
            .clients()
            .find(&request.client_id)
            .await
            .map_err(page_failure)?
            .ok_or_else(gone)?;
        Ok((row, request, client))
    }

    /// Keeps a request that must wait, and returns its id.
    async fn keep(
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
            client_id: Set(pending.client.id.clone()),
            params: Set(params),
            created_at: Set(pending.requested_at),
            expires_at: Set(now + self.settings.request_ttl),
            completed_at: Set(None),
        })
        .exec_without_returning(&self.db)
        .await
        .map_err(page_failure)?;
        Ok(id)
    }

    /// Ends the request with an error at the client's redirect URI.
    async fn refuse(
        &self,
        pending: &Pending<'_>,
        error: OAuthError,
        now: DateTime<Utc>,
    ) -> Result<Next, AuthorizeError> {
        if let Some(id) = pending.id {
            complete(&self.db, id, now).await.map_err(page_failure)?;
        }
        Ok(Next::Redirect(self.error_redirect(pending.request, &error)))
    }

    /// Sends the person to sign in, or (with `prompt=none`) tells the client it cannot.
    async fn sign_in(
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

    /// Whether the signed-in person may answer this request: signed in recently enough for
    /// `prompt=login` and `max_age` (a sign-in after the request satisfies both), and the
    /// person `id_token_hint` names. `Some` is what to do instead.
    async fn check_person(
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
        if let Some(hint) = &request.id_token_hint {
            match self.id_token_subject(hint, &pending.client.id) {
                Some(sub) if sub == user.user_id => {}
                // Someone else is signed in: let the right person sign in, once.
                Some(_) if !fresh && !request.prompt.none => {
                    return self.sign_in(pending, now).await.map(Some);
                }
                Some(_) => {
                    let error = OAuthError::login_required(
                        "the signed-in person is not the one id_token_hint names",
                    );
                    return self.refuse(pending, error, now).await.map(Some);
                }
                None => {
                    let error = OAuthError::invalid_request(
                        "id_token_hint is not an ID token issued to this client",
                    );
                    return self.refuse(pending, error, now).await.map(Some);
                }
            }
        }
        Ok(None)
    }

    async fn next(
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
        if let TeamFor::Outsider = self.team_for(client, &scopes, user).await? {
            return self.refuse(&pending, outsider(), now).await;
        }
        // A public client's redirect can be claimed by another app on the device (RFC 8252
        // §8.6), so it is never approved silently on remembered consent.
        let consented = client.first_party
            || (!client.is_public()
                && self
                    .has_consent(&user.user_id, &client.id, &scopes)
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
    async fn issue_code(
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
            let _turn = self.write_gate.turn().await;
            if !complete(&self.db, id, now).await.map_err(page_failure)? {
                return Err(ended());
            }
        }
        let claims = CodeClaims {
            id: crate::secret::random_id(),
            grant_id: uuid::Uuid::now_v7().to_string(),
            client_id: request.client_id.clone(),
            user_id: user.user_id.clone(),
            email: user.email.clone(),
            redirect_uri: request.redirect_uri.clone(),
            scope: request.scope.clone(),
            nonce: request.nonce.clone(),
            code_challenge: request.code_challenge.clone(),
            auth_time: user.signed_in_at.timestamp(),
            sid: user.sid.clone(),
            exp: (now + self.settings.code_ttl).timestamp(),
            team_id,
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
    async fn team_for(
        &self,
        client: &Client,
        scopes: &Scopes,
        user: &SessionUser,
    ) -> Result<TeamFor, AuthorizeError> {
        let member = async |team: &str| {
            Teams::role_of(&self.db, team, &user.user_id)
                .await
                .map(|role| role.is_some())
                .map_err(page_failure)
        };
        if let Some(team) = &client.team_id {
            return Ok(if member(team).await? {
                TeamFor::Team(team.clone())
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

    fn error_redirect(&self, request: &AuthorizationRequest, error: &OAuthError) -> String {
        error_url(
            &request.redirect_uri,
            request.state.as_deref(),
            error,
            self.issuer.as_str(),
        )
    }

    /// The `sub` of an ID token this provider issued to `client_id`, expired or not.
    pub fn id_token_subject(&self, token: &str, client_id: &str) -> Option<String> {
        let expect = Expectations {
            token_type: ID_TOKEN_TYPE,
            audience: client_id,
            issuer: self.issuer.as_str(),
        };
        self.keys
            .load()
            .verify_ignoring_expiry::<IdClaims>(token, &expect)
            .ok()
            .map(|v| v.claims.sub)
    }

    /// The client an ID token was issued to and its subject, expired or not (for logout).
    pub fn id_token_audience(&self, token: &str) -> Option<(String, String)> {
        let unverified: IdClaims = jsonwebtoken::dangerous::insecure_decode(token).ok()?.claims;
        let sub = self.id_token_subject(token, &unverified.aud)?;
        Some((unverified.aud, sub))
    }

    async fn has_consent(
        &self,
        user_id: &str,
        client_id: &str,
        scopes: &Scopes,
    ) -> Result<bool, sea_orm::DbErr> {
        let found = consent::Entity::find_by_id((user_id.to_owned(), client_id.to_owned()))
            .one(&self.db)
            .await?;
        Ok(
            found
                .is_some_and(|c| scopes.is_subset_of(&Scopes::parse(&c.scope).unwrap_or_default())),
        )
    }

    async fn remember_consent(
        &self,
        user_id: &str,
        client_id: &str,
        scopes: &Scopes,
        now: DateTime<Utc>,
    ) -> Result<(), sea_orm::DbErr> {
        let earlier = consent::Entity::find_by_id((user_id.to_owned(), client_id.to_owned()))
            .one(&self.db)
            .await?
            .and_then(|c| Scopes::parse(&c.scope).ok())
            .unwrap_or_default();
        let all = Scopes::from_tokens(earlier.iter().chain(scopes.iter())).unwrap_or_default();
        consent::Entity::insert(consent::ActiveModel {
            user_id: Set(user_id.to_owned()),
            client_id: Set(client_id.to_owned()),
            scope: Set(all.to_string()),
            granted_at: Set(now),
        })
        .on_conflict(
            OnConflict::columns([consent::Column::UserId, consent::Column::ClientId])
                .update_columns([consent::Column::Scope, consent::Column::GrantedAt])
                .to_owned(),
        )
        .exec_without_returning(&self.db)
        .await?;
        Ok(())
    }

    // ---- the token endpoint ---------------------------------------------------------------

    /// `grant_type=authorization_code` (RFC 6749 §4.1.3, RFC 7636 §4.6). Every check is made
    /// before the code is spent, so a wrong attempt does not burn the rightful client's code.
    pub async fn exchange_code(
        &self,
        client: &Client,
        code: Option<&str>,
        redirect_uri: Option<&str>,
        code_verifier: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<TokenResponse, OAuthError> {
        client.require_grant(GrantType::AuthorizationCode)?;
        let code = code.ok_or_else(|| OAuthError::invalid_request("code is missing"))?;
        let claims = code::open(&self.master_key, code)
            .ok_or_else(|| OAuthError::invalid_grant("the code is not valid"))?;
        if claims.client_id != client.id {
            return Err(OAuthError::invalid_grant(
                "the code was issued to another client",
            ));
        }
        let auth_time = Utc
            .timestamp_opt(claims.auth_time, 0)
            .single()
            .ok_or_else(|| OAuthError::invalid_grant("the code is not valid"))?;
        let id_hash = sha256_hex(claims.id.as_bytes());
        if claims.exp <= now.timestamp() {
            // A late replay is still a replay: spent codes are remembered for a day.
            if used_code::Entity::find_by_id(id_hash.as_str())
                .one(&self.db)
                .await?
                .is_some()
            {
                self.revoke_code_grant(&claims, auth_time, "code_replay", now)
                    .await?;
                return Err(OAuthError::invalid_grant(
                    "the code was already used; the tokens issued with it are revoked",
                ));
            }
            return Err(OAuthError::invalid_grant("the code has expired"));
        }
        let redirect_uri =
            redirect_uri.ok_or_else(|| OAuthError::invalid_request("redirect_uri is missing"))?;
        if redirect_uri != claims.redirect_uri {
            return Err(OAuthError::invalid_grant(
                "redirect_uri must be the one sent in the authorization request",
            ));
        }
        match (claims.code_challenge.as_deref(), code_verifier) {
            (None, None) => {}
            (None, Some(_)) => {
                return Err(OAuthError::invalid_grant(
                    "code_verifier was sent but the authorization request had no code_challenge",
                ));
            }
            (Some(_), None) => return Err(OAuthError::invalid_grant("code_verifier is missing")),
            (Some(challenge), Some(verifier)) if !pkce::verifies(verifier, challenge) => {
                return Err(OAuthError::invalid_grant(
                    "code_verifier does not match the code_challenge",
                ));
            }
            _ => {}
        }
        let scopes = Scopes::parse(&claims.scope).unwrap_or_default();

        // Spending the code is the atomic step: of concurrent exchanges only one inserts its id.
        // A grant row is written only when a refresh token needs one; access tokens carry the
        // grant id, so revoking it (on a replay) still ends them.
        let refresh = (scopes.contains(OFFLINE_ACCESS) && client.allows(GrantType::RefreshToken))
            .then(SecretToken::generate);
        let turn = self.write_gate.turn().await;
        let spent = used_code::Entity::insert(used_code::ActiveModel {
            id_hash: Set(id_hash),
            expires_at: Set(now + self.settings.code_ttl),
        })
        .on_conflict(
            OnConflict::column(used_code::Column::IdHash)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(&self.db)
        .await?;
        if spent != 1 {
            drop(turn);
            self.revoke_code_grant(&claims, auth_time, "code_replay", now)
                .await?;
            return Err(OAuthError::invalid_grant(
                "the code was already used; the tokens issued with it are revoked",
            ));
        }
        if let Some(refresh) = &refresh {
            let grant_expires_at = now + self.settings.refresh_max_ttl;
            let inserted =
                grant::Entity::insert(grant_row(&claims, auth_time, grant_expires_at, now))
                    .on_conflict(
                        OnConflict::column(grant::Column::Id)
                            .do_nothing()
                            .to_owned(),
                    )
                    .exec_without_returning(&self.db)
                    .await?;
            if inserted != 1 {
                // A replay revoked the grant between spending the code and writing it.
                return Err(OAuthError::invalid_grant(
                    "the code was used twice; its tokens are revoked",
                ));
            }
            self.insert_refresh(&self.db, refresh, &claims.grant_id, grant_expires_at, now)
                .await?;
        }
        drop(turn);
        tracing::info!(client = %client.id, user = %claims.user_id, grant = %claims.grant_id, "code exchanged");

        let session = IssuedFor {
            user_id: &claims.user_id,
            email: &claims.email,
            grant_id: &claims.grant_id,
            auth_time,
            sid: &claims.sid,
            nonce: claims.nonce.as_deref(),
            team_id: claims.team_id.as_deref(),
        };
        self.user_tokens(client, &scopes, &session, refresh, now)
            .await
    }

    /// Revokes the grant a replayed code gave. The grant has a row only if a refresh token
    /// was issued; otherwise a revoked row is written, which is what access tokens are
    /// checked against.
    async fn revoke_code_grant(
        &self,
        claims: &CodeClaims,
        auth_time: DateTime<Utc>,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<(), sea_orm::DbErr> {
        // One upsert, so it cannot interleave with the first exchange writing the grant:
        // whichever comes second finds the other's row.
        let mut row = grant_row(claims, auth_time, now + self.settings.access_token_ttl, now);
        row.revoked_at = Set(Some(now));
        row.revoked_reason = Set(Some(reason.to_owned()));
        let keep_first = |column: &str| {
            Expr::cust(format!(
                "COALESCE(\"grants\".\"{column}\", excluded.\"{column}\")"
            ))
        };
        let turn = self.write_gate.turn().await;
        grant::Entity::insert(row)
            .on_conflict(
                OnConflict::column(grant::Column::Id)
                    .value(grant::Column::RevokedAt, keep_first("revoked_at"))
                    .value(grant::Column::RevokedReason, keep_first("revoked_reason"))
                    .to_owned(),
            )
            .exec_without_returning(&self.db)
            .await?;
        drop(turn);
        self.revocations.add_grant(&claims.grant_id, now);
        tracing::warn!(grant = %claims.grant_id, reason, "grant revoked");
        metrics::counter!("oauth_grants_revoked_total", "reason" => reason.to_owned()).increment(1);
        Ok(())
    }

    /// `grant_type=refresh_token` (RFC 6749 §6): the token is rotated on every use; using a
    /// rotated token again revokes its whole family (RFC 9700 §4.14.2).
    pub async fn refresh(
        &self,
        client: &Client,
        token: Option<&str>,
        scope: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<TokenResponse, OAuthError> {
        client.require_grant(GrantType::RefreshToken)?;
        let token = token.ok_or_else(|| OAuthError::invalid_request("refresh_token is missing"))?;
        let invalid = || OAuthError::invalid_grant("the refresh token is not valid");
        let token = SecretToken::from_client(token).ok_or_else(invalid)?;
        let row = refresh_token::Entity::find_by_id(token.hash())
            .one(&self.db)
            .await?
            .ok_or_else(invalid)?;
        let family = grant::Entity::find_by_id(row.grant_id.as_str())
            .one(&self.db)
            .await?
            .ok_or_else(invalid)?;
        if family.client_id != client.id {
            return Err(OAuthError::invalid_grant(
                "the refresh token was issued to another client",
            ));
        }
        if family.revoked_at.is_some() {
            return Err(OAuthError::invalid_grant(
                "the refresh token has been revoked",
            ));
        }
        if row.used_at.is_some() {
            self.revoke_grant(&family.id, "refresh_token_reuse", now)
                .await?;
            return Err(OAuthError::invalid_grant(
                "the refresh token was already used; every token of its family is now revoked",
            ));
        }
        if row.expires_at <= now || family.expires_at <= now {
            return Err(OAuthError::invalid_grant("the refresh token has expired"));
        }
        let granted = Scopes::parse(&family.scope).unwrap_or_default();
        let scopes = Scopes::narrow(scope, granted, |extra| format!("{extra:?} was not granted"))?;
        let account = self.account(&family.user_id).await?;
        if let Some(team) = &family.team_id
            && Teams::role_of(&self.db, team, &account.id)
                .await
                .map_err(OAuthError::internal)?
                .is_none()
        {
            self.revoke_grant(&family.id, "member_removed", now).await?;
            return Err(OAuthError::invalid_grant(
                "the person is no longer a member of the team this token was issued for",
            ));
        }
        let next = SecretToken::generate();

        let turn = self.write_gate.turn().await;
        let txn = self.db.begin().await?;
        let consumed = refresh_token::Entity::update_many()
            .col_expr(refresh_token::Column::UsedAt, Expr::value(now))
            .filter(refresh_token::Column::TokenHash.eq(row.token_hash.as_str()))
            .filter(refresh_token::Column::UsedAt.is_null())
            .exec(&txn)
            .await?;
        if consumed.rows_affected != 1 {
            txn.rollback().await?;
            drop(turn);
            self.revoke_grant(&family.id, "refresh_token_reuse", now)
                .await?;
            return Err(OAuthError::invalid_grant(
                "the refresh token was already used; every token of its family is now revoked",
            ));
        }
        self.insert_refresh(&txn, &next, &family.id, family.expires_at, now)
            .await?;
        txn.commit().await?;
        drop(turn);

        let session = IssuedFor {
            user_id: &account.id,
            email: &account.email,
            grant_id: &family.id,
            auth_time: family.auth_time,
            sid: &family.sid,
            nonce: None,
            team_id: family.team_id.as_deref(),
        };
        self.user_tokens(client, &scopes, &session, Some(next), now)
            .await
    }

    /// `grant_type=client_credentials` (RFC 6749 §4.4): a token for the client itself, with
    /// only scopes it was registered with. Reads nothing from the database.
    pub fn client_credentials(
        &self,
        client: &Client,
        scope: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<TokenResponse, OAuthError> {
        client.require_grant(GrantType::ClientCredentials)?;
        let scopes = Scopes::narrow(scope, client.scopes.without(&USER_SCOPES), |extra| {
            format!("this client is not allowed the scope {extra:?} for its own tokens")
        })?;
        let access_token = self.access_token(client, &client.id, &scopes, None, None, None, now)?;
        Ok(TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: self.settings.access_token_ttl.num_seconds(),
            scope: scopes.to_string(),
            refresh_token: None,
            id_token: None,
        })
    }

    async fn user_tokens(
        &self,
        client: &Client,
        scopes: &Scopes,
        issued: &IssuedFor<'_>,
        refresh: Option<SecretToken>,
        now: DateTime<Utc>,
    ) -> Result<TokenResponse, OAuthError> {
        // Membership is read at issue time: a member removed since the code was issued gets
        // nothing.
        let team = match issued.team_id {
            Some(team) => Some(
                Teams::membership_in(&self.db, team, issued.user_id)
                    .await
                    .map_err(OAuthError::internal)?
                    .ok_or_else(|| {
                        OAuthError::invalid_grant(
                            "the person is no longer a member of the team this grant was for",
                        )
                    })?,
            ),
            None => None,
        };
        let access_token = self.access_token(
            client,
            issued.user_id,
            scopes,
            Some(issued.grant_id),
            Some(issued.auth_time.timestamp()),
            issued.team_id,
            now,
        )?;
        let id_token = if scopes.contains(OPENID) {
            let claims = IdClaims {
                iss: self.issuer.to_string(),
                sub: issued.user_id.to_owned(),
                aud: client.id.clone(),
                azp: client.id.clone(),
                iat: now.timestamp(),
                exp: (now + self.settings.id_token_ttl).timestamp(),
                auth_time: issued.auth_time.timestamp(),
                nonce: issued.nonce.map(str::to_owned),
                at_hash: Some(at_hash(&access_token)),
                amr: vec![AMR_EMAIL_OTP.to_owned()],
                sid: issued.sid.to_owned(),
                email: scopes.contains(EMAIL).then(|| issued.email.to_owned()),
                email_verified: scopes.contains(EMAIL).then_some(true),
                team: team.filter(|_| scopes.contains(TEAM)).map(|m| TeamClaims {
                    team_id: m.team.id,
                    team_name: m.team.name,
                    team_role: m.role.as_str().to_owned(),
                }),
            };
            Some(
                self.keys
                    .load()
                    .sign(client.id_token_alg, ID_TOKEN_TYPE, &claims, now)?,
            )
        } else {
            None
        };
        Ok(TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: self.settings.access_token_ttl.num_seconds(),
            scope: scopes.to_string(),
            refresh_token: refresh.map(|r| r.expose().to_owned()),
            id_token,
        })
    }

    #[allow(clippy::too_many_arguments)] // the claims, each optional by grant
    fn access_token(
        &self,
        client: &Client,
        subject: &str,
        scopes: &Scopes,
        grant_id: Option<&str>,
        auth_time: Option<i64>,
        team_id: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<String, OAuthError> {
        let claims = AccessClaims {
            iss: self.issuer.to_string(),
            sub: subject.to_owned(),
            aud: self.access_token_audience().to_owned(),
            client_id: client.id.clone(),
            scope: scopes.to_string(),
            iat: now.timestamp(),
            exp: (now + self.settings.access_token_ttl).timestamp(),
            jti: crate::secret::random_id(),
            auth_time,
            grant_id: grant_id.map(str::to_owned),
            team_id: team_id.map(str::to_owned),
        };
        Ok(self
            .keys
            .load()
            .sign(SigningAlgorithm::Es256, ACCESS_TOKEN_TYPE, &claims, now)?)
    }

    /// An access token for a member, for the team it speaks for (the JWT bearer grant).
    pub(super) fn issue_access_token(
        &self,
        client: &Client,
        user_id: &str,
        scopes: &Scopes,
        team_id: &str,
        now: DateTime<Utc>,
    ) -> Result<String, OAuthError> {
        self.access_token(client, user_id, scopes, None, None, Some(team_id), now)
    }

    /// Access tokens name Latchkey itself as their audience: the userinfo endpoint and the
    /// resource servers that introspect them.
    pub fn access_token_audience(&self) -> &str {
        self.issuer.as_str()
    }

    async fn insert_refresh<C: ConnectionTrait>(
        &self,
        conn: &C,
        token: &SecretToken,
        grant_id: &str,
        grant_expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), sea_orm::DbErr> {
        refresh_token::Entity::insert(refresh_token::ActiveModel {
            token_hash: Set(token.hash()),
            grant_id: Set(grant_id.to_owned()),
            created_at: Set(now),
            expires_at: Set((now + self.settings.refresh_idle_ttl).min(grant_expires_at)),
            used_at: Set(None),
        })
        .exec_without_returning(conn)
        .await?;
        Ok(())
    }

    async fn account(&self, user_id: &str) -> Result<user::Model, OAuthError> {
        user::Entity::find_by_id(user_id)
            .one(&self.db)
            .await?
            .ok_or_else(|| OAuthError::invalid_grant("the account no longer exists"))
    }

    /// Revokes a grant: its refresh tokens stop working at once, and its access tokens fail
    /// introspection and userinfo.
    pub async fn revoke_grant(
        &self,
        grant_id: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<(), sea_orm::DbErr> {
        let _turn = self.write_gate.turn().await;
        let revoked = grant::Entity::update_many()
            .col_expr(grant::Column::RevokedAt, Expr::value(now))
            .col_expr(grant::Column::RevokedReason, Expr::value(reason))
            .filter(grant::Column::Id.eq(grant_id))
            .filter(grant::Column::RevokedAt.is_null())
            .exec(&self.db)
            .await?;
        self.revocations.add_grant(grant_id, now);
        if revoked.rows_affected > 0 {
            tracing::warn!(grant = %grant_id, reason, "grant revoked");
            metrics::counter!("oauth_grants_revoked_total", "reason" => reason.to_owned())
                .increment(1);
        }
        Ok(())
    }
}

/// An authorization request on its way: kept in the database (`id`) or not yet.
struct Pending<'a> {
    id: Option<&'a str>,
    requested_at: DateTime<Utc>,
    request: &'a AuthorizationRequest,
    client: &'a Client,
}

/// Whom user tokens are issued for, and from which sign-in.
struct IssuedFor<'a> {
    user_id: &'a str,
    email: &'a str,
    grant_id: &'a str,
    auth_time: DateTime<Utc>,
    sid: &'a str,
    nonce: Option<&'a str>,
    team_id: Option<&'a str>,
}

/// The grant a code gives, as a row.
fn grant_row(
    claims: &CodeClaims,
    auth_time: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> grant::ActiveModel {
    grant::ActiveModel {
        id: Set(claims.grant_id.clone()),
        client_id: Set(claims.client_id.clone()),
        user_id: Set(claims.user_id.clone()),
        scope: Set(claims.scope.clone()),
        auth_time: Set(auth_time),
        sid: Set(claims.sid.clone()),
        created_at: Set(now),
        expires_at: Set(expires_at),
        revoked_at: Set(None),
        revoked_reason: Set(None),
        team_id: Set(claims.team_id.clone()),
    }
}

/// Marks a pending request completed; false when it already was.
async fn complete<C: ConnectionTrait>(
    conn: &C,
    request_id: &str,
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
fn outsider() -> OAuthError {
    OAuthError::access_denied("this application admits only the members of its team")
}

fn ended() -> AuthorizeError {
    AuthorizeError::Page(
        "This sign-in request has ended",
        "It was already completed, perhaps in another tab. Go back to the application and start signing in again.".into(),
    )
}

fn page_failure(error: impl std::fmt::Display) -> AuthorizeError {
    tracing::error!(%error, "authorization request failed");
    AuthorizeError::Failed
}

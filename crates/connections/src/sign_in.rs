//! The authorization code flow with a connection's provider (OpenID Connect Core §3.1, with
//! RFC 9700's defences): PKCE S256, a `state` bound to the browser by a cookie, a `nonce`, the
//! ID token verified by the `openidconnect` crate (signature against the provider's keys,
//! `iss`, `aud`, `azp`, `exp`, `nonce`), RFC 9207's `iss` checked when sent. Then the person is
//! admitted (`accounts`) and a session opened, in one transaction.

use chrono::{DateTime, TimeDelta, Utc};
use latchkey_core::secret::{SecretToken, constant_time_eq};
use latchkey_core::{ConnectionId, Email, TeamId, UserId};
use latchkey_login::{Opening, Requester, Sessions};
use latchkey_teams::PersonName;
use openidconnect::core::CoreAuthenticationFlow;
use openidconnect::{
    AuthorizationCode, CsrfToken, LoginHint, Nonce, PkceCodeChallenge, PkceCodeVerifier,
    RequestTokenError, Scope, TokenResponse,
};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::accounts::{self, Admitted};
use crate::client::{Upstream, error_chain};
use crate::domain_proof::domain_and_parents;
use crate::entities::{connection, upstream_login};
use crate::model::ConnectionError;
use crate::registry::Connections;

/// How long the provider has to send the person back.
const PENDING_TTL: TimeDelta = TimeDelta::minutes(10);

/// A sign-in sent upstream: where to send the browser, and the state to bind to it.
pub struct Started {
    pub redirect: String,
    pub state: SecretToken,
}

/// What the provider sent back to the callback.
#[derive(Debug, Default, serde::Deserialize)]
pub struct Callback {
    pub state: Option<String>,
    pub code: Option<String>,
    pub iss: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// The person signed in through a connection, with their new session.
pub struct UpstreamSignIn {
    pub user_id: UserId,
    /// The address the person is shown as.
    pub email: String,
    pub session: SecretToken,
    /// The request the sign-in continues, if it began at an application.
    pub continues: Option<latchkey_login::Resume>,
}

/// Why a sign-in through a connection did not happen. None started a session.
#[derive(Debug, thiserror::Error)]
pub enum SignInFailure {
    #[error("there is no such connection")]
    UnknownConnection,
    #[error("the connection was removed while you were signing in")]
    Removed,
    #[error("the identity provider could not be reached ({0})")]
    Unreachable(String),
    #[error("this sign-in does not belong to this browser, or it was used already")]
    StateMismatch,
    #[error("this sign-in took longer than 10 minutes")]
    Expired,
    #[error("the answer came back from another identity provider than the one the sign-in went to")]
    OtherConnection,
    /// Only an error code the specifications define is shown; the provider's own words go to
    /// the log, not onto a page of ours.
    #[error("the identity provider refused: {0}")]
    Refused(String),
    #[error("the answer names another issuer ({0}) than the connection's")]
    WrongIssuer(String),
    #[error("the identity provider sent no authorization code")]
    NoCode,
    #[error("the identity provider sent no ID token")]
    NoIdToken,
    #[error("the ID token failed verification: {0}")]
    IdToken(String),
    #[error("the identity provider sent no usable email address ({0} claim)")]
    MissingEmail(String),
    #[error("the identity provider says the address {0} is not verified")]
    UnverifiedEmail(String),
    #[error("{0} is outside the domains this connection signs in")]
    OutsideDomains(String),
    #[error("the domain of {0} is no longer proven for this identity provider")]
    NoLongerProven(String),
    #[error("the sign-in could not be completed")]
    Internal,
}

impl From<sea_orm::DbErr> for SignInFailure {
    fn from(error: sea_orm::DbErr) -> Self {
        tracing::error!(%error, "upstream sign-in failed");
        Self::Internal
    }
}

impl From<ConnectionError> for SignInFailure {
    fn from(error: ConnectionError) -> Self {
        match error {
            ConnectionError::NotFound(_) => Self::UnknownConnection,
            ConnectionError::Upstream(e) => Self::Unreachable(e.to_string()),
            other => {
                tracing::error!(error = %other, "upstream sign-in failed");
                Self::Internal
            }
        }
    }
}

impl Connections {
    /// Starts a sign-in through a connection: discovers its provider, remembers the state,
    /// nonce and PKCE verifier, and returns the provider's authorization URL.
    pub async fn begin(
        &self,
        id: &ConnectionId,
        login_hint: Option<&Email>,
        request: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Started, SignInFailure> {
        let row = self.find(id).await?;
        let metadata = self
            .within_timeout(async {
                self.upstream
                    .discover(&row.issuer)
                    .await
                    .map_err(unreachable)
            })
            .await?;
        let client = Upstream::client(
            metadata,
            &row.client_id,
            self.client_secret(&row)?,
            &self.redirect_uri(&row.id),
        )
        .map_err(unreachable)?;
        let state = SecretToken::generate();
        let nonce = SecretToken::generate().expose().to_owned();
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let state_value = state.expose().to_owned();
        let nonce_value = nonce.clone();
        let mut authorize = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                move || CsrfToken::new(state_value),
                move || Nonce::new(nonce_value),
            )
            .set_pkce_challenge(challenge);
        for scope in row.scopes.split_whitespace().filter(|s| *s != "openid") {
            authorize = authorize.add_scope(Scope::new(scope.to_owned()));
        }
        if let Some(hint) = login_hint {
            authorize = authorize.set_login_hint(LoginHint::new(hint.as_str().to_owned()));
        }
        let (url, _, _) = authorize.url();
        let state_hash = state.hash();
        let sealed = self
            .master_key
            .seal(&verifier_context(&state_hash), verifier.secret().as_bytes())
            .map_err(|_| SignInFailure::Internal)?;
        upstream_login::Entity::insert(upstream_login::ActiveModel::from(upstream_login::Model {
            state_hash,
            connection_id: row.id.clone(),
            nonce,
            verifier_sealed: sealed,
            login_hint: login_hint.map(|e| e.as_str().to_owned()),
            request_id: request
                .filter(|r| !r.is_empty() && r.len() <= 64)
                .map(str::to_owned),
            created_at: now,
            expires_at: now + PENDING_TTL,
        }))
        .exec_without_returning(&*self.db.write().await)
        .await?;
        tracing::info!(connection = %row.id, "sign-in sent to the identity provider");
        Ok(Started {
            redirect: url.to_string(),
            state,
        })
    }

    /// Completes a sign-in at `connection_id`'s callback. `bound_state`: the state the
    /// browser's cookie holds, which must be the one the provider sent back (no login CSRF);
    /// the sign-in it names must have gone to this connection (no mix-up).
    pub async fn finish(
        &self,
        connection_id: &str,
        callback: Callback,
        bound_state: Option<&str>,
        from: &Requester,
        sessions: &Sessions,
        now: DateTime<Utc>,
    ) -> Result<UpstreamSignIn, SignInFailure> {
        let state = callback
            .state
            .as_deref()
            .filter(|s| !s.is_empty())
            .ok_or(SignInFailure::StateMismatch)?;
        match bound_state {
            Some(bound) if constant_time_eq(bound, state) => {}
            _ => return Err(SignInFailure::StateMismatch),
        }
        let pending = self.take_pending(state).await?;
        // An answer at another connection's redirect URI: a provider sent the person on to
        // another (a mix-up). Spent, and refused before any code goes anywhere.
        if pending.connection_id != connection_id {
            tracing::warn!(started = %pending.connection_id, answered = %printable(connection_id, 64), "an answer came back for another connection");
            return Err(SignInFailure::OtherConnection);
        }
        if pending.expires_at <= now {
            return Err(SignInFailure::Expired);
        }
        let row = connection::Entity::find_by_id(pending.connection_id.as_str())
            .one(self.db.read())
            .await?
            .ok_or(SignInFailure::Removed)?;
        if let Some(error) = callback.error {
            return Err(refused(&error, callback.error_description.as_deref()));
        }
        // RFC 9207: an answer from another issuer is a mix-up, whatever it carries.
        if let Some(iss) = &callback.iss
            && iss != &row.issuer
        {
            return Err(SignInFailure::WrongIssuer(printable(iss, 200)));
        }
        let code = callback
            .code
            .filter(|c| !c.is_empty())
            .ok_or(SignInFailure::NoCode)?;
        let person = self
            .within_timeout(self.redeem(&row, &pending, code))
            .await?;
        let domains = self.domains_of(&row.id).await?;
        let email_domain = person
            .email
            .as_str()
            .rsplit_once('@')
            .map(|(_, d)| d.to_owned())
            .unwrap_or_default();
        let covering = domain_and_parents(&email_domain);
        if !domains.is_empty() && !domains.iter().any(|d| covering.contains(&d.domain)) {
            return Err(SignInFailure::OutsideDomains(
                person.email.as_str().to_owned(),
            ));
        }
        // The account that owns the address only where this connection's proof is the one
        // that covers it, and the provider vouches for the address (an unverified `email`
        // claim may be one its users set themselves).
        let proven = person.vouched
            && self.domain_owner(&person.email).await?.as_deref() == Some(row.id.as_str());
        let txn = self.db.transaction().await?;
        let admitted = accounts::admit(&txn, &row, &person, proven, from, now).await?;
        let team_id = TeamId::from(row.team_id.as_str());
        let opened_by = crate::opened_by(&row.id);
        let opening = Opening {
            team_id: Some(&team_id),
            // An identity of the team's alone works only in the team.
            opened_by: admitted.bound.then_some(opened_by.as_str()),
            frame_ancestors: None,
            connection: Some(&row.id),
        };
        let session = sessions
            .open(&*txn, &admitted.user_id, opening, now)
            .await?;
        txn.commit().await?;
        tracing::info!(user = %admitted.user_id, team = %team_id, connection = %row.id, "signed in through a connection");
        let Admitted {
            user_id,
            shown_email,
            ..
        } = admitted;
        Ok(UpstreamSignIn {
            user_id,
            email: shown_email,
            session,
            continues: pending
                .request_id
                .as_deref()
                .and_then(latchkey_login::Resume::parse),
        })
    }

    /// `work` with the provider, or `Unreachable` once the upstream timeout has passed.
    async fn within_timeout<T>(
        &self,
        work: impl Future<Output = Result<T, SignInFailure>>,
    ) -> Result<T, SignInFailure> {
        let limit = self.upstream.timeout();
        tokio::time::timeout(limit, work).await.unwrap_or_else(|_| {
            Err(SignInFailure::Unreachable(format!(
                "no answer within {} seconds",
                limit.as_secs()
            )))
        })
    }

    /// The pending sign-in for `state`, taken: whoever deletes the row uses it, once.
    async fn take_pending(&self, state: &str) -> Result<upstream_login::Model, SignInFailure> {
        let state_hash = latchkey_core::secret::sha256_hex(state.as_bytes());
        let pending = upstream_login::Entity::find_by_id(state_hash.as_str())
            .one(self.db.read())
            .await?
            .ok_or(SignInFailure::StateMismatch)?;
        let deleted = upstream_login::Entity::delete_many()
            .filter(upstream_login::Column::StateHash.eq(state_hash.as_str()))
            .exec(&*self.db.write().await)
            .await?;
        if deleted.rows_affected != 1 {
            return Err(SignInFailure::StateMismatch);
        }
        Ok(pending)
    }

    /// Exchanges the code (with the PKCE verifier) and verifies the ID token: the person it
    /// names.
    async fn redeem(
        &self,
        row: &connection::Model,
        pending: &upstream_login::Model,
        code: String,
    ) -> Result<accounts::Person, SignInFailure> {
        let verifier = self
            .master_key
            .open(
                &verifier_context(&pending.state_hash),
                &pending.verifier_sealed,
            )
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or(SignInFailure::Internal)?;
        let metadata = self
            .upstream
            .discover(&row.issuer)
            .await
            .map_err(unreachable)?;
        let client = Upstream::client(
            metadata,
            &row.client_id,
            self.client_secret(row)?,
            &self.redirect_uri(&row.id),
        )
        .map_err(unreachable)?;
        let tokens = client
            .exchange_code(AuthorizationCode::new(code))
            .map_err(|e| SignInFailure::Unreachable(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(verifier))
            .request_async(&self.upstream)
            .await
            .map_err(|error| match error {
                RequestTokenError::ServerResponse(response) => refused(
                    response.error().as_ref(),
                    response.error_description().map(String::as_str),
                ),
                other => {
                    tracing::warn!(connection = %row.id, error = %error_chain(&other), "the code exchange failed");
                    SignInFailure::Unreachable("its token endpoint did not answer as expected".into())
                }
            })?;
        let id_token = tokens.id_token().ok_or(SignInFailure::NoIdToken)?;
        let claims = id_token
            .claims(
                &client.id_token_verifier(),
                &Nonce::new(pending.nonce.clone()),
            )
            .map_err(|e| SignInFailure::IdToken(error_chain(&e)))?;
        let raw_email = match row.email_claim.as_str() {
            "preferred_username" => claims.preferred_username().map(|u| u.as_str().to_owned()),
            _ => claims.email().map(|e| e.as_str().to_owned()),
        };
        let email = raw_email
            .and_then(|raw| Email::parse(&raw).ok())
            .ok_or_else(|| SignInFailure::MissingEmail(row.email_claim.clone()))?;
        if row.require_email_verified && claims.email_verified() != Some(true) {
            return Err(SignInFailure::UnverifiedEmail(email.as_str().to_owned()));
        }
        let name = claims
            .name()
            .and_then(|n| n.get(None))
            .map(|n| n.as_str().to_owned())
            .or_else(|| {
                let given = claims.given_name().and_then(|n| n.get(None))?;
                let family = claims.family_name().and_then(|n| n.get(None));
                Some(match family {
                    Some(family) => format!("{} {}", given.as_str(), family.as_str()),
                    None => given.as_str().to_owned(),
                })
            })
            .and_then(|raw| PersonName::parse(&raw));
        let subject = claims.subject().as_str();
        if subject.is_empty() || subject.len() > 255 {
            return Err(SignInFailure::IdToken(
                "sub must be 1 to 255 characters".into(),
            ));
        }
        Ok(accounts::Person {
            subject: subject.to_owned(),
            email,
            vouched: row.email_claim == "preferred_username"
                || claims.email_verified() == Some(true),
            name,
        })
    }
}

/// The error codes of OAuth 2.0 (RFC 6749 §4.1.2.1, §5.2) and OpenID Connect Core (§3.1.2.6).
const KNOWN_ERRORS: [&str; 17] = [
    "invalid_request",
    "unauthorized_client",
    "access_denied",
    "unsupported_response_type",
    "invalid_scope",
    "server_error",
    "temporarily_unavailable",
    "invalid_client",
    "invalid_grant",
    "unsupported_grant_type",
    "interaction_required",
    "login_required",
    "account_selection_required",
    "consent_required",
    "invalid_request_uri",
    "invalid_request_object",
    "request_not_supported",
];

/// A refusal from the provider: its code if the specifications define it, its words logged.
fn refused(error: &str, description: Option<&str>) -> SignInFailure {
    let code = KNOWN_ERRORS
        .iter()
        .find(|known| **known == error)
        .map_or("an error it did not name in standard terms", |known| *known);
    tracing::warn!(error = %printable(error, 64), description = %printable(description.unwrap_or_default(), 300), "the identity provider refused a sign-in");
    SignInFailure::Refused(code.to_owned())
}

fn unreachable(error: crate::client::UpstreamError) -> SignInFailure {
    SignInFailure::Unreachable(error.to_string())
}

/// What a sealed PKCE verifier is bound to: its sign-in.
fn verifier_context(state_hash: &str) -> String {
    format!("upstream-verifier:{state_hash}")
}

/// Text from the provider, made safe to show and log: printable, and not too long.
fn printable(raw: &str, longest: usize) -> String {
    raw.chars()
        .filter(|c| !c.is_control())
        .take(longest)
        .collect()
}

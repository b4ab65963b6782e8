//! The authorization code flow with a connection's provider (OpenID Connect Core §3.1, with
//! RFC 9700's defences): PKCE S256, a `state` bound to the browser by a cookie, a `nonce`, the
//! ID token verified by the `openidconnect` crate (signature against the provider's keys,
//! `iss`, `aud`, `azp`, `exp`, `nonce`; `token`), RFC 9207's `iss` checked when sent. Then the
//! person is admitted (`accounts`) and a session opened, in one transaction.

use chrono::{DateTime, TimeDelta, Utc};
use latchkey_core::secret::{SecretToken, constant_time_eq};
use latchkey_core::{ConnectionId, Email, TeamId, UserId};
use latchkey_login::{Opening, Requester, Sessions};
use openidconnect::core::{CoreAuthPrompt, CoreAuthenticationFlow};
use openidconnect::{CsrfToken, LoginHint, Nonce, PkceCodeChallenge, Scope};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::accounts::{self, Admitted};
use crate::domain_proof::domain_and_parents;
use crate::entities::{connection, upstream_login};
use crate::failure::{SignInFailure, printable, refused};
use crate::reauthentication::{Reauthentication, takes_prompt_login};
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

impl Connections {
    /// Starts a sign-in through a connection: discovers its provider, remembers the state,
    /// nonce and PKCE verifier, and returns the provider's authorization URL. `request`: the
    /// request the sign-in continues, and `demand` the re-authentication it asks for, passed
    /// on to the provider and checked when it answers.
    pub async fn begin(
        &self,
        id: &ConnectionId,
        login_hint: Option<&Email>,
        request: Option<&str>,
        demand: Reauthentication,
        now: DateTime<Utc>,
    ) -> Result<Started, SignInFailure> {
        let row = self.find(id).await?;
        let client = self.within_timeout(self.provider_client(&row)).await?;
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
        let asked = demand.asked_of(takes_prompt_login(&row.issuer));
        if asked.prompt_login {
            authorize = authorize.add_prompt(CoreAuthPrompt::Login);
        }
        if let Some(max_age) = asked.max_age {
            let seconds = u64::try_from(max_age).unwrap_or_default();
            authorize = authorize.set_max_age(std::time::Duration::from_secs(seconds));
        }
        // Google's account chooser narrowed to the domain; the ID token's `hd` is what counts.
        if let Some(domain) = &row.hosted_domain {
            authorize = authorize.add_extra_param("hd", domain.clone());
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
            prompt_login: demand.login,
            max_age: demand.max_age,
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
        let state = browser_state(callback.state.as_deref(), bound_state)?;
        let pending = self.take_pending(state).await?;
        let row = self
            .answering_connection(&pending, connection_id, now)
            .await?;
        let code = answered_code(&row, callback)?;
        let redeemed = self
            .within_timeout(self.redeem(&row, &pending, code))
            .await?;
        let demand = Reauthentication {
            login: pending.prompt_login,
            max_age: pending.max_age,
        };
        let authenticated_at = demand
            .authenticated_at(redeemed.auth_time, pending.created_at, now)
            .inspect_err(|e| tracing::warn!(connection = %row.id, reason = %e, "the provider's sign-in is not fresh enough"))?;
        let person = redeemed.person;
        self.check_domains(&row, &person.email).await?;
        // The account that owns the address only where this connection's proof is the one
        // that covers it, and the provider vouches for the address (an unverified `email`
        // claim may be one its users set themselves).
        let proven = person.vouched
            && self.domain_owner(&person.email).await?.as_deref() == Some(row.id.as_str());
        let signed_in = SignedInAt {
            from,
            authenticated_at,
            now,
        };
        let (admitted, session) = self
            .admit_with_session(&row, &person, proven, sessions, signed_in)
            .await?;
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

    /// The connection the pending sign-in went to, if it is the one answering, in time, and
    /// still there.
    async fn answering_connection(
        &self,
        pending: &upstream_login::Model,
        connection_id: &str,
        now: DateTime<Utc>,
    ) -> Result<connection::Model, SignInFailure> {
        // An answer at another connection's redirect URI: a provider sent the person on to
        // another (a mix-up). Spent, and refused before any code goes anywhere.
        if pending.connection_id != connection_id {
            tracing::warn!(started = %pending.connection_id, answered = %printable(connection_id, 64), "an answer came back for another connection");
            return Err(SignInFailure::OtherConnection);
        }
        if pending.expires_at <= now {
            return Err(SignInFailure::Expired);
        }
        connection::Entity::find_by_id(pending.connection_id.as_str())
            .one(self.db.read())
            .await?
            .ok_or(SignInFailure::Removed)
    }

    /// Refuses an address outside the connection's domains, where it names any.
    async fn check_domains(
        &self,
        row: &connection::Model,
        email: &Email,
    ) -> Result<(), SignInFailure> {
        let domains = self.domains_of(&row.id).await?;
        let email_domain = email
            .as_str()
            .rsplit_once('@')
            .map(|(_, d)| d.to_owned())
            .unwrap_or_default();
        let covering = domain_and_parents(&email_domain);
        if !domains.is_empty() && !domains.iter().any(|d| covering.contains(&d.domain)) {
            return Err(SignInFailure::OutsideDomains(email.as_str().to_owned()));
        }
        Ok(())
    }

    /// Admits the person and opens their session, in one transaction. The session's sign-in
    /// time is when the person presented their credential to the provider.
    async fn admit_with_session(
        &self,
        row: &connection::Model,
        person: &accounts::Person,
        proven: bool,
        sessions: &Sessions,
        signed_in: SignedInAt<'_>,
    ) -> Result<(Admitted, SecretToken), SignInFailure> {
        let SignedInAt {
            from,
            authenticated_at,
            now,
        } = signed_in;
        let txn = self.db.transaction().await?;
        let admitted = accounts::admit(&txn, row, person, proven, from, now).await?;
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
            .open_authenticated(&*txn, &admitted.user_id, opening, authenticated_at, now)
            .await?;
        txn.commit().await?;
        tracing::info!(user = %admitted.user_id, team = %team_id, connection = %row.id, "signed in through a connection");
        Ok((admitted, session))
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
}

/// Who signed in, from where, when they presented their credential, and when the session
/// opens.
struct SignedInAt<'a> {
    from: &'a Requester,
    authenticated_at: DateTime<Utc>,
    now: DateTime<Utc>,
}

/// The state the provider sent back, if it is the one bound to this browser.
fn browser_state<'a>(
    answered: Option<&'a str>,
    bound: Option<&str>,
) -> Result<&'a str, SignInFailure> {
    let state = answered
        .filter(|s| !s.is_empty())
        .ok_or(SignInFailure::StateMismatch)?;
    match bound {
        Some(bound) if constant_time_eq(bound, state) => Ok(state),
        _ => Err(SignInFailure::StateMismatch),
    }
}

/// The authorization code, if the provider sent one and nothing says the answer is not the
/// connection's provider's to give.
fn answered_code(row: &connection::Model, callback: Callback) -> Result<String, SignInFailure> {
    if let Some(error) = callback.error {
        return Err(refused(&error, callback.error_description.as_deref()));
    }
    // RFC 9207: an answer from another issuer is a mix-up, whatever it carries.
    if let Some(iss) = &callback.iss
        && iss != &row.issuer
    {
        return Err(SignInFailure::WrongIssuer(printable(iss, 200)));
    }
    callback
        .code
        .filter(|c| !c.is_empty())
        .ok_or(SignInFailure::NoCode)
}

/// What a sealed PKCE verifier is bound to: its sign-in.
pub(crate) fn verifier_context(state_hash: &str) -> String {
    format!("upstream-verifier:{state_hash}")
}

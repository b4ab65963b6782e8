//! Browser sign-on with a trusted issuer's token (`/sso/jwt/teams/{team}`, or the shared
//! `/sso/jwt`): the integration signs a short JWT naming the agent and opens it in the agent's
//! browser, often inside an iframe. The team's trust decides; the member is admitted as for
//! the jwt-bearer grant, and a session opened in the same transaction, so a failed sign-on
//! leaves nothing behind but the spent token.

use chrono::{DateTime, Utc};
use latchkey_core::secret::SecretToken;
use latchkey_core::{TeamId, UserId};
use latchkey_login::{Opening, Requester, SessionUser, Sessions};
use latchkey_teams::{Actor, AuditLog, Subject};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect, QueryTrait};
use serde_json::json;

use super::members::{Admitted, admit, replay_scope, replayed};
use super::rejection::{Rejection, Trusting};
use super::replacing::{self, Replacing};
use super::service::Federation;
use super::sign_on_batch::{Job, Outcome, SignOnWriter};
use crate::assertion::{self, Unverified, Verified};
use crate::entities::trusted_issuer;
use crate::error::ErrorCode;

/// A browser's sign-on: the token, where it was brought, and what the browser already has.
#[derive(Clone, Copy)]
pub struct BrowserRequest<'a> {
    pub token: &'a str,
    /// The team whose own sign-on URL the token was brought to (`/sso/jwt/teams/{team}`):
    /// only its trusts count. `None` at the shared `/sso/jwt`.
    pub team: Option<&'a TeamId>,
    /// The browser says it opened the sign-on inside a frame.
    pub framed: bool,
    /// Whether a framed session's cookie can be kept (it must be `Secure`: https, or this
    /// machine).
    pub framable: bool,
    /// The browser's live session, if it has one.
    pub current: Option<&'a SessionUser>,
    /// The person confirmed replacing it, on the page a [`BrowserOutcome::Ask`] led to.
    pub confirmed: bool,
}

/// What a browser sign-on came to.
#[derive(Debug)]
pub enum BrowserOutcome {
    /// Signed in: the session is open.
    SignedOn(BrowserSignOn),
    /// The browser's own session would be replaced: ask the person first. Nothing was spent
    /// or written.
    Ask(Replacing),
}

/// Who a token signed in, where, and through whom, with the session it opened.
#[derive(Debug)]
pub struct BrowserSignOn {
    pub user_id: UserId,
    pub team_id: TeamId,
    pub issuer: String,
    /// The origins the issuer lets frame the session's pages.
    pub frame_origins: Vec<String>,
    /// The new session's secret, for the cookie.
    pub session: SecretToken,
}

/// Why a sign-on did not happen.
#[derive(Debug, thiserror::Error)]
pub enum SignOnRefused {
    /// A check the token failed, in words for the integrator.
    #[error("{0}")]
    Check(String),
    /// The database cannot take requests now (out of reach, or a SQLite file locked,
    /// read-only or full): the token is not spent, and works once it passes.
    #[error("the database cannot take requests now")]
    Unavailable,
    /// A failure of ours (logged where it happened).
    #[error("the sign-on could not be completed")]
    Internal,
}

impl From<Rejection> for SignOnRefused {
    fn from(rejection: Rejection) -> Self {
        match rejection {
            Rejection::Refused(why) => Self::Check(why),
            Rejection::Internal(error) if error.code == ErrorCode::TemporarilyUnavailable => {
                Self::Unavailable
            }
            Rejection::Internal(_) => Self::Internal,
        }
    }
}

impl From<sea_orm::DbErr> for SignOnRefused {
    fn from(error: sea_orm::DbErr) -> Self {
        if latchkey_core::database_unavailable(&error) {
            tracing::warn!(%error, "browser sign-on: the database cannot take requests now");
            return Self::Unavailable;
        }
        tracing::error!(%error, "browser sign-on failed");
        Self::Internal
    }
}

/// A verified token's sign-on, as both paths take it.
#[derive(Clone, Copy)]
struct SignOn<'a> {
    trusted: &'a trusted_issuer::Model,
    verified: &'a Verified,
    from: &'a Requester,
    sessions: &'a Sessions,
    /// The origins that may frame the session's pages, when it was opened in a frame.
    frame_ancestors: Option<&'a str>,
    now: DateTime<Utc>,
}

impl Federation {
    /// Verifies the token against the issuers the request's team trusts (any team's, oldest
    /// first, at the shared URL), admits the member it names in the issuer's team, audits
    /// `member.signed_in` (via jwt), and opens a session in `sessions`, bound to the team,
    /// all in one transaction. Inside a frame the issuer must allow framing (a frame origin)
    /// and the session keeps those origins. A top-level browser's own session is not replaced
    /// without asking (see `replacing`).
    ///
    /// A token whose signature verified but that is refused after that (framed where it may
    /// not be, naming someone the integration may not sign in, …) is spent all the same: a
    /// copy in a proxy's log cannot be used later. A failure of the database spends nothing.
    pub async fn sign_on_in_browser(
        &self,
        request: BrowserRequest<'_>,
        from: &Requester,
        sessions: &Sessions,
        now: DateTime<Utc>,
    ) -> Result<BrowserOutcome, SignOnRefused> {
        let trusting = match request.team {
            Some(team) => Trusting::TeamSignOn(team),
            None => Trusting::AnyTeam,
        };
        let (trusted, verified) = self
            .verify_issuer_token(request.token, trusting, now)
            .await?;
        match self
            .sign_on_verified(request, &trusted, &verified, from, sessions, now)
            .await
        {
            Err(SignOnRefused::Check(why)) => {
                self.spend(&trusted, &verified).await;
                Err(SignOnRefused::Check(why))
            }
            outcome => outcome,
        }
    }

    /// Spends a token the person declined on the page that asked: a copy of it cannot be
    /// used later. A token that does not verify is left alone (it can sign no one in).
    pub async fn decline_in_browser(&self, token: &str, team: Option<&TeamId>, now: DateTime<Utc>) {
        let trusting = match team {
            Some(team) => Trusting::TeamSignOn(team),
            None => Trusting::AnyTeam,
        };
        if let Ok((trusted, verified)) = self.verify_issuer_token(token, trusting, now).await {
            self.spend(&trusted, &verified).await;
        }
    }

    async fn sign_on_verified(
        &self,
        request: BrowserRequest<'_>,
        trusted: &trusted_issuer::Model,
        verified: &Verified,
        from: &Requester,
        sessions: &Sessions,
        now: DateTime<Utc>,
    ) -> Result<BrowserOutcome, SignOnRefused> {
        let team_id = TeamId::from(trusted.team_id.as_str());
        let frame_origins = split_origins(trusted.frame_origins.as_deref());
        // Inside another site's frame only a `Secure; SameSite=None` cookie is kept, which
        // needs https (or this machine): refused rather than a sign-in page.
        if request.framed && !request.framable {
            return Err(SignOnRefused::Check(
                "a sign-on inside a frame needs Latchkey on https (its issuer is plain http)"
                    .into(),
            ));
        }
        if request.framed && frame_origins.is_empty() {
            return Err(SignOnRefused::Check(
                "this issuer's tokens may not sign in inside a frame: its team must name the framing site (--frame-origin)".into(),
            ));
        }
        let browser = replacing::Browser {
            current: request.current,
            framed: request.framed,
            confirmed: request.confirmed,
        };
        if let Some(question) =
            replacing::question(self.db.read(), browser, trusted, verified).await?
        {
            return Ok(BrowserOutcome::Ask(question));
        }
        let frame_ancestors = request.framed.then(|| frame_origins.join(" "));
        let sign_on = SignOn {
            trusted,
            verified,
            from,
            sessions,
            frame_ancestors: frame_ancestors.as_deref(),
            now,
        };
        let batched = match &self.sign_on_writer {
            Some(writer) => self.sign_on_batched(writer, &sign_on).await?,
            None => None,
        };
        let (member, session) = match batched {
            Some(done) => done,
            None => self.sign_on_alone(&sign_on).await?,
        };
        tracing::info!(user = %member.user_id, team = %team_id, issuer = %trusted.issuer, "signed on with an integration's token");
        Ok(BrowserOutcome::SignedOn(BrowserSignOn {
            user_id: member.user_id,
            team_id,
            issuer: trusted.issuer.clone(),
            frame_origins,
            session,
        }))
    }

    /// Remembers the token as used, in its team's scope, as a sign-on would have.
    async fn spend(&self, trusted: &trusted_issuer::Model, verified: &Verified) {
        let spent =
            assertion::first_use(&*self.db.write().await, &replay_scope(trusted), verified).await;
        if let Err(error) = spent {
            tracing::warn!(%error, "a refused token could not be spent");
        }
    }

    /// The general path, one transaction of its own: the member admitted (linked, or
    /// provisioned, their role as the token says), audited, and the session opened.
    async fn sign_on_alone(
        &self,
        sign_on: &SignOn<'_>,
    ) -> Result<(Admitted, SecretToken), SignOnRefused> {
        let SignOn {
            trusted,
            verified,
            from,
            sessions,
            frame_ancestors,
            now,
        } = *sign_on;
        let team_id = TeamId::from(trusted.team_id.as_str());
        let txn = self.db.transaction().await?;
        let integration = Actor::integration(&trusted.issuer, &from.ip, &from.user_agent);
        let member = admit(&txn, trusted, verified, &integration, None, now).await?;
        let person = Actor::person(
            &member.user_id,
            &member.shown_email,
            &from.ip,
            &from.user_agent,
        );
        AuditLog::record(
            &*txn,
            Some(&team_id),
            "member.signed_in",
            &person,
            &Subject::new(&member.user_id, &member.shown_email),
            json!({ "via": "jwt", "issuer": trusted.issuer, "role": member.role }),
            now,
        )
        .await?;
        let opening = Opening {
            team_id: Some(&team_id),
            opened_by: Some(trusted.issuer.as_str()),
            frame_ancestors,
            connection: None,
        };
        let session = sessions.open(&*txn, &member.user_id, opening, now).await?;
        txn.commit().await?;
        Ok((member, session))
    }

    /// The common cases, through the batching writer (SQLite): `None` when the general path
    /// must decide.
    async fn sign_on_batched(
        &self,
        writer: &SignOnWriter,
        sign_on: &SignOn<'_>,
    ) -> Result<Option<(Admitted, SecretToken)>, SignOnRefused> {
        let s = sign_on;
        let job = Job::new(
            s.trusted,
            s.verified,
            s.from,
            s.sessions,
            s.frame_ancestors,
            s.now,
        );
        let Some(job) = job else {
            return Ok(None);
        };
        match writer.write(job).await? {
            Outcome::Admitted(member, secret) => Ok(Some((member, secret))),
            Outcome::Replay => Err(replayed(s.verified).into()),
            Outcome::Redo => Ok(None),
        }
    }

    /// The origins that may frame the page refusing `token`: those of the issuers its (not
    /// verified) `iss` names (in `team` alone, at a team's own URL), so the integrator sees why
    /// inside their own frame. Showing a refusal there reveals nothing and signs no one in.
    pub async fn frame_origins_named_by(&self, token: &str, team: Option<&TeamId>) -> Vec<String> {
        let Ok(unverified) = Unverified::read(token, &super::ALLOWED.map(|(_, alg)| alg), "")
        else {
            return Vec::new();
        };
        let Some(iss) = unverified.text("iss") else {
            return Vec::new();
        };
        let rows: Vec<Option<String>> = trusted_issuer::Entity::find()
            .select_only()
            .column(trusted_issuer::Column::FrameOrigins)
            .filter(trusted_issuer::Column::Issuer.eq(iss))
            .apply_if(team, |query, team| {
                query.filter(trusted_issuer::Column::TeamId.eq(team.as_str()))
            })
            .into_tuple()
            .all(self.db.read())
            .await
            .unwrap_or_default();
        let mut origins: Vec<String> = Vec::new();
        for origin in rows.iter().flat_map(|row| split_origins(row.as_deref())) {
            if !origins.contains(&origin) {
                origins.push(origin);
            }
        }
        origins
    }
}

fn split_origins(stored: Option<&str>) -> Vec<String> {
    stored
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

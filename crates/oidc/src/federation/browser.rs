//! Browser sign-on with a trusted issuer's token (`/sso/jwt`): the integration signs a short
//! JWT naming the agent and opens it in the agent's browser, often inside an iframe. The issuer
//! decides the team; the member is admitted as for the jwt-bearer grant, and a session opened
//! in the same transaction, so a refused or failed sign-on leaves nothing behind.

use chrono::{DateTime, Utc};
use latchkey_core::secret::SecretToken;
use latchkey_core::{TeamId, UserId};
use latchkey_login::{Opening, Requester, Sessions};
use latchkey_teams::{Actor, AuditLog, Subject};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use serde_json::json;

use super::members::{Admitted, admit, replayed};
use super::rejection::{Rejection, Trusting};
use super::service::Federation;
use super::sign_on_batch::{Job, Outcome, SignOnWriter};
use crate::assertion::{Unverified, Verified};
use crate::entities::trusted_issuer;

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
    /// A failure of ours (logged where it happened).
    #[error("the sign-on could not be completed")]
    Internal,
}

impl From<Rejection> for SignOnRefused {
    fn from(rejection: Rejection) -> Self {
        match rejection {
            Rejection::Refused(why) => Self::Check(why),
            Rejection::Internal(_) => Self::Internal,
        }
    }
}

impl From<sea_orm::DbErr> for SignOnRefused {
    fn from(error: sea_orm::DbErr) -> Self {
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
    /// Verifies `token` against the issuers every team trusts, admits the member it names in
    /// the issuer's team, audits `member.signed_in` (via jwt), and opens a session in
    /// `sessions`, bound to the team, all in one transaction. `framed`: the browser opened it
    /// inside a frame, which the issuer must allow (a frame origin); otherwise nothing is
    /// spent, and the session keeps those origins.
    pub async fn sign_on_in_browser(
        &self,
        token: &str,
        from: &Requester,
        framed: bool,
        sessions: &Sessions,
        now: DateTime<Utc>,
    ) -> Result<BrowserSignOn, SignOnRefused> {
        let (trusted, verified) = self
            .verify_issuer_token(token, Trusting::AnyTeam, now)
            .await?;
        let team_id = TeamId::from(trusted.team_id.as_str());
        let frame_origins = split_origins(trusted.frame_origins.as_deref());
        if framed && frame_origins.is_empty() {
            return Err(SignOnRefused::Check(
                "this issuer's tokens may not sign in inside a frame: its team must name the framing site (--frame-origin)".into(),
            ));
        }
        let frame_ancestors = framed.then(|| frame_origins.join(" "));
        let sign_on = SignOn {
            trusted: &trusted,
            verified: &verified,
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
        Ok(BrowserSignOn {
            user_id: member.user_id,
            team_id,
            issuer: trusted.issuer,
            frame_origins,
            session,
        })
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
    /// verified) `iss` names, so the integrator sees why inside their own frame. Showing a
    /// refusal there reveals nothing and signs no one in.
    pub async fn frame_origins_named_by(&self, token: &str) -> Vec<String> {
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

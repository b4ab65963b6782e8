//! SP-initiated single logout: which sessions a `LogoutRequest` ends, and the signed
//! `LogoutResponse` over the binding it came by, after the person is signed out of the other
//! SPs those sessions signed in to (`logout_chain`).
//!
//! An SP that signs its requests is trusted with what it names: the person's sessions whose
//! `SessionIndex` it lists end wherever they are. An unsigned request could name anyone, so
//! it ends only the browser it arrives in, and only when it names that browser's person and
//! its `SessionIndex`, which only that SP was given: nobody else can end a session by knowing
//! an address.
//!
//! A request is kept against replay only once it was found to name a session: a forged one,
//! or one for a session already over, writes nothing.

use chrono::{DateTime, Utc};
use latchkey_core::UserId;
use latchkey_login::SessionUser;

use crate::logout_chain::SignOutNext;
use crate::sign_on::{PostBack, Reply};
use crate::{
    Account, HoldError, Identity, Inbound, LogoutAsk, Outgoing, Refusal, ServiceProvider, SignOns,
};

/// What a `LogoutRequest` does.
#[derive(Debug)]
pub struct LogoutOutcome {
    /// The session of the browser it arrived in ended (the caller removes its cookie).
    pub end_this_browser: bool,
    /// The `LogoutResponse`, or, when the sessions it ended signed in to other SPs, the first
    /// step of signing out of them (the response comes at the end).
    pub next: SignOutNext,
    /// That chain's id, when there is one: the caller keeps it for the chain's page.
    pub chain: Option<String>,
}

/// A `LogoutRequest` that passed its checks.
pub struct LogoutAsked {
    sp: ServiceProvider,
    ask: LogoutAsk,
    slo_url: String,
}

impl SignOns {
    /// Reads and checks a `LogoutRequest` from a registered SP with a logout URL. Nothing
    /// about the browser is read, and nothing is written, until a request passed these
    /// checks.
    pub async fn check_logout(
        &self,
        identity: &Identity,
        inbound: Inbound,
        now: DateTime<Utc>,
    ) -> Result<LogoutAsked, Refusal> {
        let sp = self.sending_sp(identity, &inbound).await?;
        let Some(slo_url) = sp.slo_url.clone() else {
            return Err(Refusal::NoLogoutUrl { sp: sp.name });
        };
        let idp = self.idp.for_sp(&sp, now).await?;
        let ask = idp
            .read_logout_request(&sp, inbound, now)
            .map_err(|e| Refusal::request(&sp, e))?;
        Ok(LogoutAsked { sp, ask, slo_url })
    }

    /// Ends the sessions a checked request names (this browser's included, when it names
    /// it), signs them out of the other SPs they signed in to, and answers the request; `post`
    /// when it came over HTTP-POST, which the response uses too.
    pub async fn logout(
        &self,
        request: LogoutAsked,
        browser: Option<&SessionUser>,
        post: bool,
        now: DateTime<Utc>,
    ) -> Result<LogoutOutcome, Refusal> {
        let LogoutAsked { sp, ask, slo_url } = request;
        let this_browser = match browser {
            Some(user) if self.names(&sp, &ask, user).await? => Some(user),
            _ => None,
        };
        let elsewhere = match sp.requires_signed_requests {
            true => self.named_sessions(&sp, &ask, now).await?,
            false => None,
        };
        let mut ended: Vec<String> = this_browser
            .map(|user| user.sid.clone())
            .into_iter()
            .collect();
        for sid in elsewhere.iter().flat_map(|(_, sids)| sids) {
            if !ended.contains(sid) {
                ended.push(sid.clone());
            }
        }
        if ended.is_empty() {
            // Nothing to end, so nothing is written; a request kept before is still a replay.
            if self.logout_kept(&sp, ask.id()).await? {
                tracing::warn!(sp = %sp.sp_id, "SAML logout request replayed");
                return Err(Refusal::LogoutReplay);
            }
        } else {
            self.sps
                .received_logout(&sp, ask.id(), &slo_url, now)
                .await
                .map_err(|e| match e {
                    HoldError::Replay => {
                        tracing::warn!(sp = %sp.sp_id, "SAML logout request replayed");
                        Refusal::LogoutReplay
                    }
                    HoldError::Database(e) => Refusal::Database(e),
                })?;
        }
        if let Some(user) = this_browser {
            self.sessions
                .end_matching(&user.user_id, |sid| sid == user.sid, now)
                .await?;
        }
        if let Some((user_id, sids)) = &elsewhere {
            self.sessions
                .end_matching(user_id, |sid| sids.iter().any(|s| s == sid), now)
                .await?;
        }
        let end_this_browser = this_browser.is_some();
        tracing::info!(sp = %sp.sp_id, end_this_browser, ended = ended.len(), "SAML logout answered");
        let idp = self.idp.for_sp(&sp, now).await?;
        let reply = match idp.logout_response(&sp, &ask, post)? {
            Outgoing::Redirect(url) => Reply::Redirect(url),
            Outgoing::Post { action, fields } => Reply::Post(PostBack {
                action,
                fields,
                title: "Signing you out…".to_owned(),
            }),
        };
        // The Latchkey sessions are over; now the other SPs they signed in to, one after
        // another, and this SP's answer at the end.
        let steps = self.steps_for(&ended, Some(&sp.sp_id), now).await?;
        if steps.is_empty() {
            return Ok(LogoutOutcome {
                end_this_browser,
                next: SignOutNext::Go(reply),
                chain: None,
            });
        }
        let chain = self.begin(steps, Some(reply), now).await?;
        Ok(LogoutOutcome {
            end_this_browser,
            next: chain.next,
            chain: Some(chain.id),
        })
    }

    /// Whether the request names `user`'s session: their NameID at this SP, and for an SP that
    /// does not sign its requests also the session's `SessionIndex`.
    async fn names(
        &self,
        sp: &ServiceProvider,
        ask: &LogoutAsk,
        user: &SessionUser,
    ) -> Result<bool, Refusal> {
        let Some(name_id) = &ask.name_id else {
            return Ok(false);
        };
        let names_session = ask.session_indexes.contains(&sp.session_index(&user.sid));
        if !sp.requires_signed_requests && !names_session {
            return Ok(false);
        }
        let person = self.sps.admit(sp, Account::of(user)).await?;
        Ok(person.is_some_and(|person| sp.is_name_id_of(name_id, &person, &user.sid)))
    }

    /// Whether a `LogoutRequest` with this ID from `sp` was kept already (it named a session).
    async fn logout_kept(&self, sp: &ServiceProvider, id: &str) -> Result<bool, Refusal> {
        use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
        let kept = crate::entities::pending_request::Entity::find()
            .filter(crate::entities::pending_request::Column::SpId.eq(sp.sp_id.as_str()))
            .filter(crate::entities::pending_request::Column::RequestId.eq(id))
            .count(self.sps.db().read())
            .await?;
        Ok(kept > 0)
    }

    /// The person a signed request names, and those of their live sessions whose
    /// `SessionIndex` it lists, wherever they are; ending none yet.
    async fn named_sessions(
        &self,
        sp: &ServiceProvider,
        ask: &LogoutAsk,
        now: DateTime<Utc>,
    ) -> Result<Option<(UserId, Vec<String>)>, Refusal> {
        let indexes = &ask.session_indexes;
        let Some(name_id) = ask.name_id.as_deref().filter(|_| !indexes.is_empty()) else {
            return Ok(None);
        };
        let Some(user_id) = self.sps.user_named(sp, name_id).await? else {
            return Ok(None);
        };
        let sids = self
            .sessions
            .live_matching(
                &user_id,
                |sid| indexes.contains(&sp.session_index(sid)),
                now,
            )
            .await?;
        Ok(Some((user_id, sids)))
    }
}

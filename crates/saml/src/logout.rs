//! SP-initiated single logout: which sessions a `LogoutRequest` ends, and the signed
//! `LogoutResponse` over the binding it came by.
//!
//! An SP that signs its requests is trusted with what it names: the person's sessions whose
//! `SessionIndex` it lists end wherever they are. An unsigned request could name anyone, so
//! it ends only the browser it arrives in, and only when it names that browser's person and
//! its `SessionIndex`, which only that SP was given: nobody else can end a session by knowing
//! an address.

use chrono::{DateTime, Utc};
use latchkey_login::SessionUser;

use crate::sign_on::{PostBack, Reply};
use crate::{Account, HoldError, Inbound, LogoutAsk, Outgoing, Refusal, ServiceProvider, SignOns};

/// What a `LogoutRequest` does.
#[derive(Debug)]
pub struct LogoutOutcome {
    /// The session of the browser it arrived in ended (the caller removes its cookie).
    pub end_this_browser: bool,
    /// The `LogoutResponse`.
    pub reply: Reply,
}

/// A `LogoutRequest` that passed its checks and was recorded against replay.
pub struct LogoutAsked {
    sp: ServiceProvider,
    ask: LogoutAsk,
}

impl SignOns {
    /// Reads and checks a `LogoutRequest` from a registered SP with a logout URL, and keeps
    /// its ID so that it is refused if sent again. Nothing about the browser is read until a
    /// request passed these checks.
    pub async fn check_logout(
        &self,
        inbound: Inbound,
        now: DateTime<Utc>,
    ) -> Result<LogoutAsked, Refusal> {
        let sp = self.sending_sp(&inbound).await?;
        let Some(slo_url) = sp.slo_url.clone() else {
            return Err(Refusal::NoLogoutUrl { sp: sp.name });
        };
        let idp = self.idp.get(now)?;
        let ask = idp
            .read_logout_request(&sp, inbound, now)
            .map_err(|e| Refusal::request(&sp, e))?;
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
        Ok(LogoutAsked { sp, ask })
    }

    /// Ends the sessions a checked request names (this browser's included, when it names
    /// it), and answers it; `post` when it came over HTTP-POST, which the response uses too.
    pub async fn logout(
        &self,
        request: LogoutAsked,
        browser: Option<&SessionUser>,
        post: bool,
        now: DateTime<Utc>,
    ) -> Result<LogoutOutcome, Refusal> {
        let LogoutAsked { sp, ask } = request;
        let end_this_browser = match browser {
            Some(user) => self.names(&sp, &ask, user).await?,
            None => false,
        };
        if let Some(user) = browser.filter(|_| end_this_browser) {
            self.sessions
                .end_matching(&user.user_id, |sid| sid == user.sid, now)
                .await?;
        }
        if sp.requires_signed_requests {
            self.end_named_sessions(&sp, &ask, now).await?;
        }
        tracing::info!(sp = %sp.sp_id, end_this_browser, "SAML logout answered");
        let idp = self.idp.get(now)?;
        let reply = match idp.logout_response(&sp, &ask, post)? {
            Outgoing::Redirect(url) => Reply::Redirect(url),
            Outgoing::Post { action, fields } => Reply::Post(PostBack {
                action,
                fields,
                title: "Signing you out…".to_owned(),
            }),
        };
        Ok(LogoutOutcome {
            end_this_browser,
            reply,
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

    /// Ends, wherever they are, the sessions of the person a signed request names whose
    /// `SessionIndex` it lists.
    async fn end_named_sessions(
        &self,
        sp: &ServiceProvider,
        ask: &LogoutAsk,
        now: DateTime<Utc>,
    ) -> Result<(), Refusal> {
        let indexes = &ask.session_indexes;
        let Some(name_id) = ask.name_id.as_deref().filter(|_| !indexes.is_empty()) else {
            return Ok(());
        };
        let Some(user_id) = self.sps.user_named(sp, name_id).await? else {
            return Ok(());
        };
        self.sessions
            .end_matching(
                &user_id,
                |sid| indexes.contains(&sp.session_index(sid)),
                now,
            )
            .await?;
        Ok(())
    }
}

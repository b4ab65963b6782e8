//! A sign-on, as the SAML exchange decides it: a message in (an `AuthnRequest` as its
//! binding carried it, a sign-on started here, or the return from signing in) and the next
//! step out (where to send the browser, what to post to the SP, or what to ask the person
//! first). The web layer only reads bindings and writes pages.
//!
//! Every sign-on is kept before anything else and continued at `/saml/continue` with a
//! top-level GET: an `AuthnRequest` posted from the SP's site carries no `SameSite=Lax`
//! session cookie, the GET does. Sign-in returns there too (`latchkey_login::Resume`).
//!
//! Anyone can write an unsigned request, and send anyone's browser with it. So for an SP
//! that takes no sign-on it did not ask for (`idp_initiated` false), an unsigned request is
//! not answered for a session that was there before it: the person is asked first
//! ([`Reply::Confirm`]), unless they just signed in for it. And a status (no assertion) is
//! posted to the SP on its own only for a signed request or to a browser whose person is
//! signed in for the SP's team; otherwise a page says what happened and posts it only when
//! the person presses its button ([`Reply::StatusPage`]), so that Latchkey's address is no
//! open door to any registered ACS URL.

use chrono::{DateTime, TimeDelta, Utc};
use latchkey_core::{SamlRequestId, urls};
use latchkey_login::SessionUser;

use crate::acs::chosen_acs_url;
pub use crate::reply::{Confirmation, PostBack, Reply, StatusPage};
use crate::response::Issue;
use crate::{
    Account, CurrentIdentityProvider, HoldError, Identity, Inbound, Keep, NameIdFormat,
    PendingSignOn, Person, Refusal, ServiceProvider, ServiceProviders, SignOnRequest, peek_issuer,
};

/// The status an SP hears when it asked for a NameID format Latchkey cannot give.
const INVALID_NAME_ID_POLICY: (&str, &str) = ("Requester", "InvalidNameIDPolicy");
/// The status an SP hears when it asked not to be interrupted and nobody is signed in.
const NO_PASSIVE: (&str, &str) = ("Responder", "NoPassive");

/// An authentic `AuthnRequest`, the registered ACS URL its answer goes to, and the NameID
/// format it is answered in (none: one Latchkey cannot give).
#[derive(Debug)]
pub struct SignOnAsked {
    sp: ServiceProvider,
    asked: SignOnRequest,
    acs_url: String,
    name_id_format: Option<NameIdFormat>,
}

impl SignOnAsked {
    /// Whether the browser's session is read: not when the request asks the person to sign
    /// in again (`ForceAuthn`), unless it is answered with a status at once, whose posting
    /// depends on who the browser is.
    pub fn takes_a_session(&self) -> bool {
        !self.asked.force_authn || self.name_id_format.is_none()
    }
}

/// The SAML identity provider's exchanges: sign-ons and single logout.
#[derive(Clone)]
pub struct SignOns {
    pub(crate) sps: ServiceProviders,
    pub(crate) idp: CurrentIdentityProvider,
    pub(crate) sessions: latchkey_login::Sessions,
    /// How long a session lasts at most: the assertion's `SessionNotOnOrAfter`.
    session_max_ttl: TimeDelta,
}

impl SignOns {
    pub fn new(
        sps: ServiceProviders,
        idp: CurrentIdentityProvider,
        sessions: latchkey_login::Sessions,
        session_max_ttl: TimeDelta,
    ) -> Self {
        Self {
            sps,
            idp,
            sessions,
            session_max_ttl,
        }
    }

    /// An identity provider's metadata, for SP administrators.
    pub async fn metadata_xml(
        &self,
        identity: &Identity,
        now: DateTime<Utc>,
    ) -> Result<String, Refusal> {
        Ok(self.idp.of(identity, now).await?.metadata_xml())
    }

    /// Reads and checks an `AuthnRequest` from a registered SP (its signature, destination,
    /// age, `RelayState`, and the ACS it names). Nothing about the browser is read until a
    /// request passed these checks.
    pub async fn check(
        &self,
        identity: &Identity,
        inbound: Inbound,
        now: DateTime<Utc>,
    ) -> Result<Box<SignOnAsked>, Refusal> {
        let sp = self.sending_sp(identity, &inbound).await?;
        let idp = self.idp.for_sp(&sp, now).await?;
        let asked = idp
            .read_authn_request(&sp, inbound, now)
            .map_err(|e| Refusal::request(&sp, e))?;
        let acs_url = chosen_acs_url(&sp, &asked)?;
        let name_id_format = sp.name_id_format.answering(asked.name_id_format.as_deref());
        Ok(Box::new(SignOnAsked {
            sp,
            asked,
            acs_url,
            name_id_format,
        }))
    }

    /// A request that passed its checks, kept: answered at once for a person signed in here
    /// (and not asked to sign in again, nor to be asked first), else continued after
    /// sign-in. A NameID format Latchkey cannot give is answered with a status.
    pub async fn receive(
        &self,
        request: Box<SignOnAsked>,
        browser: Option<&SessionUser>,
        now: DateTime<Utc>,
    ) -> Result<Reply, Refusal> {
        let SignOnAsked {
            sp,
            asked,
            acs_url,
            name_id_format,
        } = *request;
        let member = browser.filter(|user| user.acts_for(&sp.team_id));
        let user = member.filter(|_| !asked.force_authn);
        let keep = Keep {
            request_id: Some(&asked.id),
            acs_url: &acs_url,
            relay_state: asked.relay_state.as_deref(),
            force_authn: asked.force_authn,
            passive: asked.is_passive,
            signed: asked.signed,
            name_id_format,
        };
        // A status goes to the SP at once only for a signed request or a member of its team.
        let admitted = match name_id_format.is_none() || asked.is_passive {
            true => self.admitted(&sp, member).await?,
            false => false,
        };
        let next = match user {
            _ if name_id_format.is_none() => {
                tracing::info!(sp = %sp.sp_id, asked = ?asked.name_id_format, "SAML request asks for a NameID format Latchkey does not give");
                Next::Status(INVALID_NAME_ID_POLICY, asked.signed || admitted)
            }
            Some(_) if asks_first(&sp, asked.signed) && asked.is_passive => {
                Next::Status(NO_PASSIVE, asked.signed || admitted)
            }
            Some(user) if asks_first(&sp, asked.signed) => Next::Ask(user),
            Some(user) => Next::Answer(user),
            None => Next::SignIn,
        };
        // Kept even when answered with a status at once, so that a replay is refused.
        let answered_now = matches!(next, Next::Status(..) | Next::Answer(_));
        let pending = self
            .sps
            .hold(&sp, keep, answered_now, now)
            .await
            .map_err(|e| held(&sp, &asked.id, e))?;
        match next {
            Next::Status(status, posts) => self.status(&pending, status, posts, now).await,
            Next::Ask(user) => self.confirmation(&pending, user).await,
            Next::Answer(user) => self.answer(&pending, user, true, now).await,
            Next::SignIn => Ok(Reply::Redirect(continue_path(&pending.id))),
        }
    }

    /// A sign-on started here (IdP-initiated) for the SP registered as `entity_id`, answered to
    /// its first ACS URL once the person is signed in.
    pub async fn start(
        &self,
        identity: &Identity,
        entity_id: &str,
        relay_state: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Reply, Refusal> {
        let sp = self
            .sps
            .by_entity_id(identity, entity_id.trim())
            .await?
            .ok_or(Refusal::UnknownSp)?;
        if !sp.idp_initiated {
            tracing::info!(sp = %sp.sp_id, "IdP-initiated SAML sign-on refused: the SP starts its own");
            return Err(Refusal::StartsAtApplication { sp: sp.name });
        }
        let relay_state = relay_state.filter(|r| !r.is_empty());
        if relay_state.is_some_and(|r| r.len() > crate::MAX_RELAY_STATE) {
            return Err(Refusal::RelayStateTooLong { sp: sp.name });
        }
        let acs_url = sp.acs_url(None).ok_or(Refusal::UnknownSp)?.to_owned();
        let keep = Keep {
            acs_url: &acs_url,
            relay_state,
            ..Keep::default()
        };
        let pending = self
            .sps
            .hold(&sp, keep, false, now)
            .await
            .map_err(|e| held(&sp, "", e))?;
        Ok(Reply::Redirect(continue_path(&pending.id)))
    }

    /// A kept sign-on, once more (`GET /saml/continue`): answered for a person signed in (as
    /// a member of the SP's team, and since the request when it asked `ForceAuthn`), or
    /// first asked when [`Reply::Confirm`] says; else sent to sign in, or, when the request
    /// was passive (as kept: never as a URL says), answered that nobody is.
    pub async fn resume(
        &self,
        id: &SamlRequestId,
        browser: Option<&SessionUser>,
        now: DateTime<Utc>,
    ) -> Result<Reply, Refusal> {
        let pending = self.sps.pending(id, now).await?.ok_or(Refusal::Expired)?;
        let member = browser.filter(|user| user.acts_for(&pending.sp.team_id));
        let user =
            member.filter(|user| !pending.force_authn || user.signed_in_at >= pending.created_at);
        if let Some(user) = user {
            // Signed in since the request: the person just acted for it.
            let fresh = user.signed_in_at >= pending.created_at;
            if fresh || !asks_first(&pending.sp, pending.signed) {
                return self.answer(&pending, user, false, now).await;
            }
            if !pending.passive {
                return self.confirmation(&pending, user).await;
            }
        } else if !pending.passive {
            let login = urls::with_query(urls::LOGIN, &[("request", pending.id.as_str())]);
            return Ok(Reply::Redirect(login));
        }
        // Answered, once: the SP hears that nobody can be signed in without asking.
        if !self.sps.answer(&pending.id, now).await? {
            return Err(Refusal::AlreadyCompleted);
        }
        let posts = pending.signed || self.admitted(&pending.sp, member).await?;
        self.status(&pending, NO_PASSIVE, posts, now).await
    }

    /// Whether the browser's person is a member of the SP's team (not only signed in with a
    /// session that may act for it).
    async fn admitted(
        &self,
        sp: &ServiceProvider,
        user: Option<&SessionUser>,
    ) -> Result<bool, Refusal> {
        match user {
            Some(user) => Ok(self.sps.admit(sp, Account::of(user)).await?.is_some()),
            None => Ok(false),
        }
    }

    /// The person said yes to [`Reply::Confirm`] (`POST /saml/continue`, CSRF-checked by the
    /// web layer): answered for them if still signed in as a member, else sent to sign in.
    pub async fn confirm(
        &self,
        id: &SamlRequestId,
        browser: Option<&SessionUser>,
        now: DateTime<Utc>,
    ) -> Result<Reply, Refusal> {
        let pending = self.sps.pending(id, now).await?.ok_or(Refusal::Expired)?;
        let user = browser
            .filter(|user| user.acts_for(&pending.sp.team_id))
            .filter(|user| !pending.force_authn || user.signed_in_at >= pending.created_at);
        match user {
            Some(user) => self.answer(&pending, user, false, now).await,
            None => {
                let login = urls::with_query(urls::LOGIN, &[("request", pending.id.as_str())]);
                Ok(Reply::Redirect(login))
            }
        }
    }

    /// The question of [`Reply::Confirm`], for a member of the SP's team only.
    async fn confirmation(
        &self,
        pending: &PendingSignOn,
        user: &SessionUser,
    ) -> Result<Reply, Refusal> {
        self.member(&pending.sp, user).await?;
        tracing::info!(sp = %pending.sp.sp_id, user = %user.user_id, "unsigned SAML request for an SP without IdP-initiated sign-on: asking the person first");
        Ok(Reply::Confirm(Confirmation {
            request: pending.id.clone(),
            sp: pending.sp.name.clone(),
            email: user.shown_email.clone(),
        }))
    }

    /// The person, if a member of the SP's team.
    async fn member(&self, sp: &ServiceProvider, user: &SessionUser) -> Result<Person, Refusal> {
        match self.sps.admit(sp, Account::of(user)).await? {
            Some(person) => Ok(person),
            None => {
                tracing::info!(sp = %sp.sp_id, user = %user.user_id, "SAML sign-on refused: not a member of the SP's team");
                Err(Refusal::NotMember {
                    sp: sp.name.clone(),
                    email: user.shown_email.clone(),
                })
            }
        }
    }

    /// A signed response with only a status, to the kept sign-on's ACS URL: posted at once
    /// when `posts`, else on the person's press of a button on a page that says why.
    async fn status(
        &self,
        pending: &PendingSignOn,
        status: (&str, &str),
        posts: bool,
        now: DateTime<Utc>,
    ) -> Result<Reply, Refusal> {
        let idp = self.idp.for_sp(&pending.sp, now).await?;
        let (acs_url, sp) = (&pending.acs_url, &pending.sp.name);
        let response = idp.status_response(acs_url, pending.request_id.as_deref(), status, now)?;
        let relay_state = pending.relay_state.as_deref();
        let title = "Returning you to the application…".to_owned();
        let form = PostBack::response(acs_url, response, relay_state, title);
        if posts {
            return Ok(Reply::Post(form));
        }
        let (title, message) = if status == NO_PASSIVE {
            (
                "You are not signed in".to_owned(),
                format!(
                    "{sp} asked whether you are signed in to Latchkey, without asking you anything. You are not: nothing about you is sent to it."
                ),
            )
        } else {
            (
                "Latchkey cannot sign you in to this application".to_owned(),
                format!(
                    "{sp} asked Latchkey to name you in a way (a NameID format) Latchkey does not give: nothing about you is sent to it."
                ),
            )
        };
        Ok(Reply::StatusPage(StatusPage {
            form: PostBack { title, ..form },
            message,
            button: format!("Return to {sp}"),
        }))
    }

    /// The signed response for a signed-in member of the SP's team; `marked` when the
    /// sign-on was kept as answered already.
    async fn answer(
        &self,
        pending: &PendingSignOn,
        user: &SessionUser,
        marked: bool,
        now: DateTime<Utc>,
    ) -> Result<Reply, Refusal> {
        let sp = &pending.sp;
        let person = self.member(sp, user).await?;
        if !marked && !self.sps.answer(&pending.id, now).await? {
            return Err(Refusal::AlreadyCompleted);
        }
        let idp = self.idp.for_sp(sp, now).await?;
        let name_id_format = pending.name_id_format.unwrap_or(sp.name_id_format);
        let name_id = sp.name_id(&person, name_id_format, &user.sid);
        let attributes = sp.attribute_values(&person);
        let session_index = sp.session_index(&user.sid);
        // Kept so that a single logout can name the person to this SP as it was told.
        let lasts = self.session_max_ttl;
        self.sps
            .signed_on(&sp.sp_id, &user.sid, &name_id, &session_index, lasts, now)
            .await?;
        let issue = Issue {
            issuer: idp.entity_id(),
            audience: sp.audience(),
            destination: &pending.acs_url,
            in_response_to: pending.request_id.as_deref(),
            name_id_format,
            name_id: &name_id,
            session_index: &session_index,
            authenticated_at: user.signed_in_at,
            session_expires_at: user.signed_in_at + self.session_max_ttl,
            attributes: &attributes,
            sign: sp.sign,
            encrypt_to: sp.encrypt_cert.as_deref().map(|cert| (cert, sp.encryption)),
            now,
        };
        let response = idp.response(&issue)?;
        let initiated_by = if pending.request_id.is_some() {
            "sp"
        } else {
            "idp"
        };
        tracing::info!(sp = %sp.sp_id, user = %user.user_id, initiated_by, "SAML sign-on answered");
        metrics::counter!("saml_sign_ons_total").increment(1);
        let title = format!("Signing you in to {}…", sp.name);
        let relay_state = pending.relay_state.as_deref();
        Ok(Reply::Post(PostBack::response(
            &pending.acs_url,
            response,
            relay_state,
            title,
        )))
    }

    /// The SP registered with `identity` that sent a message, by the issuer it names.
    pub(crate) async fn sending_sp(
        &self,
        identity: &Identity,
        inbound: &Inbound,
    ) -> Result<ServiceProvider, Refusal> {
        let issuer = peek_issuer(inbound).map_err(|e| Refusal::Unreadable(e.to_string()))?;
        self.sps
            .by_entity_id(identity, &issuer)
            .await?
            .ok_or_else(|| {
                tracing::warn!(%issuer, "SAML request from an unknown service provider");
                Refusal::UnknownSp
            })
    }
}

/// What a received request gets.
enum Next<'a> {
    /// A status, posted at once or on a press.
    Status((&'static str, &'static str), bool),
    /// The signed-in person is asked first.
    Ask(&'a SessionUser),
    Answer(&'a SessionUser),
    /// Kept, while the person signs in.
    SignIn,
}

/// Whether a signed-in person is asked before an answer goes: for a request anyone could
/// have written (unsigned), to an SP that takes no sign-on it did not ask for.
fn asks_first(sp: &ServiceProvider, signed: bool) -> bool {
    !signed && !sp.idp_initiated
}

/// Where a kept sign-on continues.
fn continue_path(id: &SamlRequestId) -> String {
    urls::with_query(urls::SAML_CONTINUE, &[("request", id)])
}

/// Why a sign-on could not be kept.
fn held(sp: &ServiceProvider, request: &str, error: HoldError) -> Refusal {
    match error {
        HoldError::Replay => {
            tracing::warn!(sp = %sp.sp_id, %request, "SAML request replayed");
            Refusal::Replay
        }
        HoldError::Database(e) => Refusal::Database(e),
    }
}

impl Account {
    /// What an assertion may say of the person a session belongs to.
    pub fn of(user: &SessionUser) -> Self {
        Self {
            user_id: user.user_id.clone(),
            email: user.email.clone(),
            name: user.name.clone(),
            given_name: user.given_name.clone(),
            family_name: user.family_name.clone(),
        }
    }
}

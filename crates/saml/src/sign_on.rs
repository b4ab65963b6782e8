//! A sign-on, as the SAML exchange decides it: a message in (an `AuthnRequest` as its
//! binding carried it, a sign-on started here, or the return from signing in) and the next
//! step out (where to send the browser, or what to post to the SP). The web layer only reads
//! bindings and writes pages.
//!
//! Every sign-on is kept before anything else and continued at `/saml/continue` with a
//! top-level GET: an `AuthnRequest` posted from the SP's site carries no `SameSite=Lax`
//! session cookie, the GET does. Sign-in returns there too (`latchkey_login::Resume`).

use chrono::{DateTime, TimeDelta, Utc};
use latchkey_core::{SamlRequestId, urls};
use latchkey_login::SessionUser;

use crate::response::Issue;
use crate::{
    Account, CurrentIdentityProvider, Identity, HoldError, IdentityProvider, Inbound, PendingSignOn, Refusal,
    ServiceProvider, ServiceProviders, SignOnRequest, peek_issuer,
};

/// A NameID policy that leaves the format to the identity provider.
const UNSPECIFIED: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified";
/// The status an SP hears when it asked for a NameID format it is not given.
const INVALID_NAME_ID_POLICY: (&str, &str) = ("Requester", "InvalidNameIDPolicy");
/// The status an SP hears when it asked not to be interrupted and nobody is signed in.
const NO_PASSIVE: (&str, &str) = ("Responder", "NoPassive");

/// Where the browser goes next.
#[derive(Debug)]
pub enum Reply {
    /// A top-level GET to this URL or path.
    Redirect(String),
    /// A form posted to the SP.
    Post(PostBack),
}

/// A form to post to a service provider, and what its page says meanwhile.
#[derive(Debug)]
pub struct PostBack {
    pub action: String,
    pub fields: Vec<(String, String)>,
    pub title: String,
}

impl PostBack {
    fn response(acs_url: &str, response: String, relay_state: Option<&str>, title: String) -> Self {
        let mut fields = vec![("SAMLResponse".to_owned(), response)];
        if let Some(relay_state) = relay_state {
            fields.push(("RelayState".to_owned(), relay_state.to_owned()));
        }
        Self {
            action: acs_url.to_owned(),
            fields,
            title,
        }
    }
}

/// What [`SignOns::check`] made of a request.
#[derive(Debug)]
pub enum Checked {
    /// Authentic, and to be kept: [`SignOns::receive`] takes it on.
    Authentic(Box<SignOnAsked>),
    /// Authentic, and answered already (a status to post to the SP).
    Answered(Reply),
}

/// An authentic `AuthnRequest`, and the registered ACS URL its answer goes to.
#[derive(Debug)]
pub struct SignOnAsked {
    sp: ServiceProvider,
    asked: SignOnRequest,
    acs_url: String,
}

impl SignOnAsked {
    /// Whether a session already here may answer it: not when it asks the person to sign in
    /// again (`ForceAuthn`), so their session is not even read.
    pub fn takes_a_session(&self) -> bool {
        !self.asked.force_authn
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
    /// age, and the ACS URL it names). An authentic request the SP cannot be given what it
    /// asks is answered at once with a status. Nothing about the browser is read until a
    /// request passed these checks.
    pub async fn check(
        &self,
        identity: &Identity,
        inbound: Inbound,
        now: DateTime<Utc>,
    ) -> Result<Checked, Refusal> {
        let sp = self.sending_sp(identity, &inbound).await?;
        let idp = self.idp.for_sp(&sp, now).await?;
        let asked = idp
            .read_authn_request(&sp, inbound, now)
            .map_err(|e| Refusal::request(&sp, e))?;
        let Some(acs_url) = chosen_acs_url(&sp, &asked).map(str::to_owned) else {
            tracing::warn!(sp = %sp.sp_id, asked = ?asked.acs_url, index = ?asked.acs_index, "SAML request names an ACS URL that is not registered");
            return Err(Refusal::AcsNotRegistered { sp: sp.name });
        };
        if !name_id_policy_met(&sp, asked.name_id_format.as_deref()) {
            let relay_state = asked.relay_state.as_deref();
            let reply = status(
                &idp,
                &acs_url,
                Some(&asked.id),
                relay_state,
                INVALID_NAME_ID_POLICY,
                now,
            )?;
            return Ok(Checked::Answered(reply));
        }
        Ok(Checked::Authentic(Box::new(SignOnAsked {
            sp,
            asked,
            acs_url,
        })))
    }

    /// A request that passed its checks, kept: answered at once for a person signed in here
    /// (and not asked to sign in again), else continued after sign-in.
    pub async fn receive(
        &self,
        request: Box<SignOnAsked>,
        browser: Option<&SessionUser>,
        now: DateTime<Utc>,
    ) -> Result<Reply, Refusal> {
        let SignOnAsked { sp, asked, acs_url } = *request;
        let user = browser
            .filter(|_| !asked.force_authn)
            .filter(|user| user.acts_for(&sp.team_id));
        let relay_state = asked.relay_state.as_deref();
        let pending = self
            .sps
            .hold(
                &sp,
                Some(&asked.id),
                &acs_url,
                relay_state,
                asked.force_authn,
                user.is_some(),
                now,
            )
            .await
            .map_err(|e| held(&sp, &asked.id, e))?;
        match user {
            Some(user) => self.answer(&pending, user, true, now).await,
            None => Ok(Reply::Redirect(continue_path(
                &pending.id,
                asked.is_passive,
            ))),
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
        // SAML Bindings §3.4.3: at most 80 bytes.
        let relay_state = relay_state.filter(|r| !r.is_empty() && r.len() <= 80);
        let acs_url = sp.acs_url(None).ok_or(Refusal::UnknownSp)?.to_owned();
        let pending = self
            .sps
            .hold(&sp, None, &acs_url, relay_state, false, false, now)
            .await
            .map_err(|e| held(&sp, "", e))?;
        Ok(Reply::Redirect(continue_path(&pending.id, false)))
    }

    /// A kept sign-on, once more: answered for a person signed in (as a member of the SP's
    /// team, and since the request when it asked `ForceAuthn`), else sent to sign in, or,
    /// when it was `passive`, answered that nobody is.
    pub async fn resume(
        &self,
        id: &SamlRequestId,
        browser: Option<&SessionUser>,
        passive: bool,
        now: DateTime<Utc>,
    ) -> Result<Reply, Refusal> {
        let pending = self.sps.pending(id, now).await?.ok_or(Refusal::Expired)?;
        let user = browser
            .filter(|user| user.acts_for(&pending.sp.team_id))
            .filter(|user| !pending.force_authn || user.signed_in_at >= pending.created_at);
        if let Some(user) = user {
            return self.answer(&pending, user, false, now).await;
        }
        if !passive {
            let login = urls::with_query(urls::LOGIN, &[("request", pending.id.as_str())]);
            return Ok(Reply::Redirect(login));
        }
        // Answered, once: the SP hears that nobody is signed in.
        if !self.sps.answer(&pending.id, now).await? {
            return Err(Refusal::AlreadyCompleted);
        }
        let idp = self.idp.for_sp(&pending.sp, now).await?;
        let (acs_url, relay_state) = (&pending.acs_url, pending.relay_state.as_deref());
        status(
            &idp,
            acs_url,
            pending.request_id.as_deref(),
            relay_state,
            NO_PASSIVE,
            now,
        )
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
        let Some(person) = self.sps.admit(sp, Account::of(user)).await? else {
            tracing::info!(sp = %sp.sp_id, user = %user.user_id, "SAML sign-on refused: not a member of the SP's team");
            return Err(Refusal::NotMember {
                sp: sp.name.clone(),
                email: user.shown_email.clone(),
            });
        };
        if !marked && !self.sps.answer(&pending.id, now).await? {
            return Err(Refusal::AlreadyCompleted);
        }
        let idp = self.idp.for_sp(sp, now).await?;
        let (name_id, attributes) = (sp.name_id(&person), sp.attribute_values(&person));
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
            name_id_format: sp.name_id_format,
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
        self.sps.by_entity_id(identity, &issuer).await?.ok_or_else(|| {
            tracing::warn!(%issuer, "SAML request from an unknown service provider");
            Refusal::UnknownSp
        })
    }
}

/// The registered ACS URL a request names (by URL or by index), or the first when it names
/// none. An ACS URL is never taken from a request otherwise.
pub(crate) fn chosen_acs_url<'a>(
    sp: &'a ServiceProvider,
    asked: &SignOnRequest,
) -> Option<&'a str> {
    match asked.acs_index {
        Some(index) => sp.acs_urls.get(usize::from(index)).map(String::as_str),
        None => sp.acs_url(asked.acs_url.as_deref()),
    }
}

/// Whether the NameID format a request asks for (if any) is the one the SP is given.
pub(crate) fn name_id_policy_met(sp: &ServiceProvider, asked: Option<&str>) -> bool {
    asked.is_none_or(|format| format == sp.name_id_format.urn() || format == UNSPECIFIED)
}

/// Where a kept sign-on continues.
fn continue_path(id: &SamlRequestId, passive: bool) -> String {
    match passive {
        true => urls::with_query(urls::SAML_CONTINUE, &[("request", id), ("passive", "1")]),
        false => urls::with_query(urls::SAML_CONTINUE, &[("request", id)]),
    }
}

/// A signed response with only a status, posted to a registered ACS URL.
fn status(
    idp: &IdentityProvider,
    acs_url: &str,
    in_response_to: Option<&str>,
    relay_state: Option<&str>,
    status: (&str, &str),
    now: DateTime<Utc>,
) -> Result<Reply, Refusal> {
    let response = idp.status_response(acs_url, in_response_to, status, now)?;
    let title = "Returning you to the application…".to_owned();
    Ok(Reply::Post(PostBack::response(
        acs_url,
        response,
        relay_state,
        title,
    )))
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

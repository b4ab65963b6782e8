//! Asking for a link: the signed magic link and its code, or the "no account" note, written
//! with its mail in one go, within the per-address limit. Using it is `confirm`.

use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use latchkey_keys::SigningAlgorithm;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};

use super::model::{
    Continuing, JoinTarget, LinkClaims, LoginError, LoginSettings, Purpose, Requester,
};
use crate::address_limits::codes_exhausted;
use crate::entities::{login_link, user};
use crate::link_writer::{AddressLimit, LinkWriter, NewLink, Written};
use crate::mail::{MagicLinkMail, MailTemplates, NoAccountMail, Outbox, RenderedMail};
use crate::requester_text::{browser_summary, mailbox_key};
use crate::session::Sessions;
use latchkey_core::SharedKeyRing;
use latchkey_core::email::Email;
use latchkey_core::secret::{SecretToken, generate_code, sha256_hex};
use latchkey_core::{Db, Issuer};

/// The JWS `typ` of a magic link: no other endpoint accepts it, and it accepts nothing else.
pub(super) const LINK_TYPE: &str = "magic-link+jwt";
/// Wrong codes that void a link and its code.
pub const MAX_FAILED_CODES: i32 = 5;

/// The login flow.
#[derive(Clone)]
pub struct Login {
    pub(super) db: Db,
    pub(super) keys: SharedKeyRing,
    pub(super) issuer: Issuer,
    pub(super) settings: LoginSettings,
    pub(super) outbox: Outbox,
    pub(super) templates: Arc<MailTemplates>,
    pub(super) sessions: Sessions,
    /// Stores new links (and queues their mail) in batches.
    pub(super) writer: LinkWriter,
}

impl Login {
    pub fn new(
        db: Db,
        keys: SharedKeyRing,
        issuer: Issuer,
        settings: LoginSettings,
        outbox: Outbox,
        templates: Arc<MailTemplates>,
    ) -> Self {
        let writer = LinkWriter::start(
            db.clone(),
            AddressLimit {
                per_window: settings.rate_limit_per_address,
                window: settings.rate_limit_window,
            },
        );
        let sessions = Sessions::new(
            db.clone(),
            settings.session_idle_ttl,
            settings.session_max_ttl,
        );
        Self {
            db,
            keys,
            issuer,
            settings,
            outbox,
            templates,
            sessions,
            writer,
        }
    }

    pub fn sessions(&self) -> &Sessions {
        &self.sessions
    }

    pub(super) fn audience(&self) -> String {
        self.issuer.endpoint(latchkey_core::urls::LOGIN_VERIFY)
    }

    /// Handles a request for a link. Whatever the address, the caller answers the same way:
    /// an unknown address gets a "no account here" note rather than a link, and past the
    /// per-address limit nothing is sent at all. `continues` names the authorization request
    /// that signing in resumes; `name` is the name typed on the register or join form, given
    /// to an account made when the link is used. Returns whether a mail was queued.
    #[tracing::instrument(skip_all, err)]
    #[allow(clippy::too_many_arguments)] // each is a distinct fact of the request
    pub async fn request(
        &self,
        email: &Email,
        asked: Purpose,
        browser: &SecretToken,
        requester: &Requester,
        continues: Option<&Continuing>,
        join: Option<&JoinTarget>,
        name: Option<&latchkey_teams::PersonName>,
        now: DateTime<Utc>,
    ) -> Result<bool, LoginError> {
        let account = user::Entity::find()
            .filter(user::Column::Email.eq(email.as_str()))
            .one(self.db.read())
            .await?;
        let expires_at = now + self.settings.magic_link_ttl;
        let id = uuid::Uuid::now_v7().to_string();
        let jti = SecretToken::generate();
        let code = generate_code();
        let purpose = purpose_of(asked, account.is_some(), join);
        let mail = match purpose {
            Some(purpose) => {
                let codes_off = codes_exhausted(self.db.read(), email.as_str(), now).await?;
                let sent = SentLink {
                    purpose,
                    jti: &jti,
                    code: (!codes_off).then_some(code.as_str()),
                    application: continues.and_then(Continuing::named_in_mail),
                };
                self.magic_link_mail(email, &sent, requester, now)?
            }
            None => self.no_account_mail(email, continues.map(|c| c.request.as_str()), now)?,
        };
        let message = self.outbox.message(email, mail)?;
        let mail = self.outbox.seal(&message, email, expires_at, now)?;
        let email_hash = self.limit_counter(email, account.as_ref(), requester, now);

        // The link and the mail that carries it are written together, or not at all. An
        // address with no account gets a row too, whose link and code are never sent: the
        // asking browser then meets the same code form, answers and timing as for a real one.
        let link = login_link::ActiveModel {
            id: Set(id.clone()),
            token_hash: Set(jti.hash()),
            browser_hash: Set(browser.hash()),
            code_hash: Set(code_hash(&id, &code)),
            email: Set(email.to_string()),
            purpose: Set(purpose.map_or("none", Purpose::as_str).to_owned()),
            failed_codes: Set(0),
            created_at: Set(now),
            expires_at: Set(expires_at),
            used_at: Set(None),
            requested_ip: Set(truncate(&requester.ip, 64)),
            requested_user_agent: Set(truncate(&requester.user_agent, 512)),
            authorization_request: Set(continues.map(|c| c.request.to_string())),
            join_link: Set(join.map(|j| String::from(&j.link_id))),
            // Kept for a new account only: signing in never renames anyone.
            name: Set(name
                .filter(|_| purpose.is_some_and(|p| p != Purpose::Login))
                .map(|n| n.name.clone())),
        };
        self.write_within_limit(NewLink {
            email_hash,
            link,
            mail,
            now,
        })
        .await
    }

    /// The hashed key of the per-address limit's counter. Counted per mailbox: `ann+1@` and
    /// `ann+2@` reach one inbox. A browser that signed in to this account before asks from a
    /// budget of its own, which strangers cannot spend.
    fn limit_counter(
        &self,
        email: &Email,
        account: Option<&user::Model>,
        requester: &Requester,
        now: DateTime<Utc>,
    ) -> String {
        // The note is checked whatever the address, so the time taken does not tell whether
        // the address has an account.
        let noted = requester
            .device
            .as_deref()
            .and_then(|note| self.device_account(note, now));
        let known_browser =
            account.is_some_and(|account| noted.as_deref() == Some(account.id.as_str()));
        let counter = match known_browser {
            true => format!("known-browser:{}", mailbox_key(email.as_str())),
            false => mailbox_key(email.as_str()),
        };
        sha256_hex(counter.as_bytes())
    }

    /// Writes the link with its mail and wakes the outbox. Past the per-address limit nothing
    /// is written, and it returns false.
    async fn write_within_limit(&self, new: NewLink) -> Result<bool, LoginError> {
        let email_hash = new.email_hash.clone();
        if self.writer.write(new).await? == Written::OverLimit {
            tracing::warn!(%email_hash, "per-address link limit reached; no mail sent");
            metrics::counter!("login_rate_limited_total", "scope" => "address").increment(1);
            return Ok(false);
        }
        self.outbox.wake();
        Ok(true)
    }

    /// The mail with the link and its code.
    fn magic_link_mail(
        &self,
        email: &Email,
        sent: &SentLink<'_>,
        requester: &Requester,
        now: DateTime<Utc>,
    ) -> Result<RenderedMail, LoginError> {
        let claims = LinkClaims {
            iss: self.issuer.to_string(),
            aud: self.audience(),
            sub: email.to_string(),
            purpose: sent.purpose,
            jti: sent.jti.expose().to_owned(),
            iat: now.timestamp(),
            exp: (now + self.settings.magic_link_ttl).timestamp(),
        };
        let token = self
            .keys
            .load()
            .sign(SigningAlgorithm::Es256, LINK_TYPE, &claims, now)?;
        let link = format!("{}?token={token}", self.audience());
        // Nothing the asker typed goes into the mail: not the User-Agent as sent, not the
        // team's name, which the team's administrators choose (the link's page shows it), and
        // not a SAML application's name, which they choose too (`Continuing::named_in_mail`).
        let browser = browser_summary(&requester.user_agent);
        Ok(self.templates.magic_link(&MagicLinkMail {
            link: &link,
            code: sent.code,
            email: email.as_str(),
            purpose: sent.purpose,
            action: sent.purpose.action(),
            minutes: self.settings.magic_link_ttl.num_minutes().max(1),
            requested_at: now.to_rfc3339_opts(SecondsFormat::Secs, true),
            ip: &requester.ip,
            browser: &browser,
            issuer: self.issuer.as_str(),
            application: sent.application,
        })?)
    }

    /// The note to an address with no account. Its sign-up link carries the pending
    /// authorization request, so a person who meets the application first ends up back at it.
    /// Anyone can have it sent to any address, so it says nothing about the asker.
    fn no_account_mail(
        &self,
        email: &Email,
        continues: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<RenderedMail, LoginError> {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        query.append_pair("login_hint", email.as_str());
        if let Some(request) = continues {
            query.append_pair("request", request);
        }
        let register_url = format!(
            "{}?{}",
            self.issuer.endpoint(latchkey_core::urls::REGISTER),
            query.finish()
        );
        Ok(self.templates.no_account(&NoAccountMail {
            email: email.as_str(),
            register_url: &register_url,
            requested_at: now.to_rfc3339_opts(SecondsFormat::Secs, true),
        })?)
    }
}

/// What the link does: the purpose asked for, but only a join names a team to join, and an
/// address with no account is sent no link at all (None) unless it registers.
fn purpose_of(asked: Purpose, has_account: bool, join: Option<&JoinTarget>) -> Option<Purpose> {
    match (asked, has_account) {
        (Purpose::Join, _) => join.map(|_| Purpose::Join),
        (_, true) => Some(Purpose::Login),
        (Purpose::Register, false) => Some(Purpose::Register),
        (Purpose::Login, false) => None,
    }
}

/// What a link mail carries.
struct SentLink<'a> {
    purpose: Purpose,
    jti: &'a SecretToken,
    code: Option<&'a str>,
    /// The application signing in continues to.
    application: Option<&'a str>,
}

/// The stored form of a code: bound to its link, so equal codes of two links differ.
pub(super) fn code_hash(link_id: &str, code: &str) -> String {
    sha256_hex(format!("{link_id}:{code}").as_bytes())
}

fn truncate(value: &str, max: usize) -> String {
    value.chars().take(max).collect()
}

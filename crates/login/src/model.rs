//! The login flow's vocabulary: why a link was asked for, who asked, what a link shows and
//! what signing in yields, and how each step can fail.

use chrono::TimeDelta;
use latchkey_core::{JoinLinkId, UserId};
use serde::{Deserialize, Serialize};

use latchkey_teams::{Actor, JoinError, TeamError};

use crate::entities::user;
use crate::mail::OutboxError;
use latchkey_core::email::Email;
use latchkey_core::secret::SecretToken;

/// How the login flow is tuned (`login.*`).
#[derive(Clone, Debug)]
pub struct LoginSettings {
    pub magic_link_ttl: TimeDelta,
    pub rate_limit_per_address: u64,
    pub rate_limit_window: TimeDelta,
    pub session_idle_ttl: TimeDelta,
    pub session_max_ttl: TimeDelta,
}

/// Why a link was asked for. Registering an address that has an account signs in instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Purpose {
    Register,
    Login,
    /// Completing a team's join link: the account is created if need be, then joins.
    Join,
}

impl Purpose {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Purpose::Register => "register",
            Purpose::Login => "login",
            Purpose::Join => "join",
        }
    }

    pub(super) fn parse(raw: &str) -> Option<Self> {
        match raw {
            "register" => Some(Purpose::Register),
            "login" => Some(Purpose::Login),
            "join" => Some(Purpose::Join),
            _ => None,
        }
    }

    /// What the person is doing, in words for pages and mail.
    pub fn action(self) -> &'static str {
        match self {
            Purpose::Register => "create your account",
            Purpose::Login => "sign in",
            Purpose::Join => "join your team",
        }
    }
}

/// The request a sign-in continues (an OIDC authorization request or a SAML sign-on), and the
/// application that sent it. An OIDC client is registered by the operator, so its name is not
/// the asker's words and the mail names it; a SAML application's is not (`named_in_mail`).
#[derive(Clone, Debug)]
pub struct Continuing {
    pub request: crate::Resume,
    pub application: String,
}

impl Continuing {
    /// The application's name as the mail may print it: only an OIDC client's, which the
    /// operator registers. A SAML service provider's name is typed by a team's administrator,
    /// and the mail goes to any address that asks: it stays on Latchkey's own pages (the
    /// sign-in form and the link's confirm page), where the person sees it in context.
    pub fn named_in_mail(&self) -> Option<&str> {
        match self.request {
            crate::Resume::Authorization(_) => Some(&self.application),
            crate::Resume::SamlSignOn(_) | crate::Resume::Launcher => None,
        }
    }
}

/// Who asked for a link, told in the mail so a person can spot a request that was not theirs.
#[derive(Clone, Debug)]
pub struct Requester {
    pub ip: String,
    pub user_agent: String,
    /// The browser's note that it signed in before ([`crate::Login::device_note`]), if it has one.
    pub device: Option<String>,
}

impl Requester {
    pub(super) fn actor(&self, account: &user::Model) -> Actor {
        Actor::person(
            &UserId::from(account.id.as_str()),
            &account.email,
            &self.ip,
            &self.user_agent,
        )
    }
}

/// The join link a magic link completes. The team's name stays out of the mail (its
/// administrators choose it); the link's page shows it.
#[derive(Clone, Debug)]
pub struct JoinTarget {
    pub link_id: JoinLinkId,
}

/// The claims of a magic link.
#[derive(Serialize, Deserialize)]
pub(super) struct LinkClaims {
    pub(super) iss: String,
    pub(super) aud: String,
    pub(super) sub: String,
    pub(super) purpose: Purpose,
    pub(super) jti: String,
    pub(super) iat: i64,
    pub(super) exp: i64,
}

/// What the confirm page shows about a link before anything is consumed.
#[derive(Debug)]
pub struct LinkView {
    pub email: Email,
    pub purpose: Purpose,
    /// For a join: the team's name.
    pub team: Option<String>,
    /// The request signing in continues, if it began at an application.
    pub continues: Option<crate::Resume>,
}

/// A completed sign-in: the account and the new session's secret for the cookie.
#[derive(Debug)]
pub struct SignedIn {
    pub user_id: UserId,
    pub email: String,
    pub session: SecretToken,
    /// The request the sign-in continues, if it began at an application.
    pub continues: Option<crate::Resume>,
}

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("database: {0}")]
    Database(#[from] sea_orm::DbErr),
    #[error("signing the link: {0}")]
    Keys(#[from] latchkey_keys::KeyError),
    #[error("mail: {0}")]
    Outbox(#[from] OutboxError),
    #[error("rendering the mail: {0}")]
    Template(#[from] tera::Error),
    #[error("the account for this link no longer exists")]
    AccountGone,
    #[error(transparent)]
    Join(#[from] JoinError),
    #[error("teams: {0}")]
    Teams(#[from] TeamError),
}

/// Why a link cannot be used. Each says what happened, so the page can say what to do.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("the link is damaged or is not a sign-in link")]
    Invalid,
    #[error("the link has expired")]
    Expired,
    #[error("the link has already been used")]
    Used,
    #[error("the link was voided after too many wrong codes")]
    Voided,
    #[error(transparent)]
    Login(#[from] LoginError),
}

/// Why a typed code did not sign in.
#[derive(Debug, thiserror::Error)]
pub enum CodeError {
    #[error("no sign-in is waiting in this browser")]
    NothingPending,
    #[error("the code is wrong; {remaining} tries left")]
    Wrong { remaining: i32 },
    #[error("too many wrong codes; the link and code are void")]
    Voided,
    /// Too many wrong codes for this address of late, over all its links: only links work.
    #[error("too many wrong codes for this address today; use the link in the mail")]
    CodesOff,
    #[error(transparent)]
    Login(#[from] LoginError),
}

impl From<sea_orm::DbErr> for LinkError {
    fn from(e: sea_orm::DbErr) -> Self {
        LinkError::Login(e.into())
    }
}

impl From<sea_orm::DbErr> for CodeError {
    fn from(e: sea_orm::DbErr) -> Self {
        CodeError::Login(e.into())
    }
}

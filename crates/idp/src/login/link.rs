use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use latchkey_keys::{Expectations, SigningAlgorithm, VerifyError};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, TransactionTrait,
};
use serde::{Deserialize, Serialize};

use latchkey_teams::{Actor, AuditLog, JoinError, Subject, TeamError, TeamName, Teams};

use super::link_writer::{AddressLimit, LinkWriter, NewLink, Written};
use super::session::Sessions;
use crate::email::Email;
use crate::entities::{login_link, user};
use crate::issuer::Issuer;
use crate::mail::{MagicLinkMail, MailTemplates, NoAccountMail, Outbox, OutboxError};
use crate::secret::{SecretToken, constant_time_eq, generate_code, sha256_hex};
use crate::state::SharedKeyRing;
use crate::write_gate::WriteGate;

/// The JWS `typ` of a magic link: no other endpoint accepts it, and it accepts nothing else.
const LINK_TYPE: &str = "magic-link+jwt";
/// Wrong codes that void a link and its code.
pub const MAX_FAILED_CODES: i32 = 5;

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
    fn as_str(self) -> &'static str {
        match self {
            Purpose::Register => "register",
            Purpose::Login => "login",
            Purpose::Join => "join",
        }
    }

    fn parse(raw: &str) -> Option<Self> {
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

/// Who asked for a link, told in the mail so a person can spot a request that was not theirs.
#[derive(Clone, Debug)]
pub struct Requester {
    pub ip: String,
    pub user_agent: String,
}

impl Requester {
    fn actor(&self, account: &user::Model) -> Actor {
        Actor::person(&account.id, &account.email, &self.ip, &self.user_agent)
    }
}

/// The join link a magic link completes, and the team's name for the mail.
#[derive(Clone, Debug)]
pub struct JoinTarget {
    pub link_id: String,
    pub team_name: String,
}

/// The claims of a magic link.
#[derive(Serialize, Deserialize)]
struct LinkClaims {
    iss: String,
    aud: String,
    sub: String,
    purpose: Purpose,
    jti: String,
    iat: i64,
    exp: i64,
}

/// What the confirm page shows about a link before anything is consumed.
#[derive(Debug)]
pub struct LinkView {
    pub email: Email,
    pub purpose: Purpose,
    /// For a join: the team's name.
    pub team: Option<String>,
}

/// A completed sign-in: the account and the new session's secret for the cookie.
#[derive(Debug)]
pub struct SignedIn {
    pub user_id: String,
    pub email: String,
    pub session: SecretToken,
    /// The authorization request the sign-in continues, if it began at a client.
    pub continues: Option<String>,
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

/// The login flow.
#[derive(Clone)]
pub struct Login {
    db: DatabaseConnection,
    keys: SharedKeyRing,
    issuer: Issuer,
    settings: LoginSettings,
    outbox: Outbox,
    templates: Arc<MailTemplates>,
    sessions: Sessions,
    write_gate: WriteGate,
    /// Stores new links (and queues their mail) in batches.
    writer: LinkWriter,
}

impl Login {
    pub fn new(
        db: DatabaseConnection,
        keys: SharedKeyRing,
        issuer: Issuer,
        settings: LoginSettings,
        outbox: Outbox,
        templates: Arc<MailTemplates>,
        write_gate: WriteGate,
    ) -> Self {
        let writer = LinkWriter::start(
            db.clone(),
            write_gate.clone(),
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
            write_gate,
            writer,
        }
    }

    pub fn sessions(&self) -> &Sessions {
        &self.sessions
    }

    fn audience(&self) -> String {
        self.issuer.endpoint("/login/verify")
    }

    /// Handles a request for a link. Whatever the address, the caller answers the same way:
    /// an unknown address gets a "no account here" note rather than a link, and past the
    /// per-address limit nothing is sent at all. `continues` names the authorization request
    /// that signing in resumes. Returns whether a mail was queued.
    #[tracing::instrument(skip_all, err)]
    #[allow(clippy::too_many_arguments)] // each is a distinct fact of the request
    pub async fn request(
        &self,
        email: &Email,
        asked: Purpose,
        browser: &SecretToken,
        requester: &Requester,
        continues: Option<&str>,
        join: Option<&JoinTarget>,
        now: DateTime<Utc>,
    ) -> Result<bool, LoginError> {
        let account = user::Entity::find()
            .filter(user::Column::Email.eq(email.as_str()))
            .one(&self.db)
            .await?;
        let requested_at = now.to_rfc3339_opts(SecondsFormat::Secs, true);
        let expires_at = now + self.settings.magic_link_ttl;
        let id = uuid::Uuid::now_v7().to_string();
        let jti = SecretToken::generate();
        let code = generate_code();
        let purpose = match (asked, &account) {
            (Purpose::Join, _) => join.map(|_| Purpose::Join),
            (_, Some(_)) => Some(Purpose::Login),
            (Purpose::Register, None) => Some(Purpose::Register),
            (Purpose::Login, None) => None,
        };
        let join_action = join.map(|j| format!("join the team {}", j.team_name));
        let mail = match purpose {
            Some(purpose) => {
                let claims = LinkClaims {
                    iss: self.issuer.to_string(),
                    aud: self.audience(),
                    sub: email.to_string(),
                    purpose,
                    jti: jti.expose().to_owned(),
                    iat: now.timestamp(),
                    exp: expires_at.timestamp(),
                };
                let token =
                    self.keys
                        .load()
                        .sign(SigningAlgorithm::Es256, LINK_TYPE, &claims, now)?;
                let link = format!("{}?token={token}", self.audience());
                self.templates.magic_link(&MagicLinkMail {
                    link: &link,
                    code: &code,
                    email: email.as_str(),
                    action: join_action.as_deref().unwrap_or(purpose.action()),
                    minutes: self.settings.magic_link_ttl.num_minutes().max(1),
                    requested_at,
                    ip: &requester.ip,
                    browser: &requester.user_agent,
                    issuer: self.issuer.as_str(),
                })?
            }
            None => {
                // The sign-up link carries the pending authorization request, so a person
                // who meets the application first ends up back at it.
                let mut query = url::form_urlencoded::Serializer::new(String::new());
                query.append_pair("login_hint", email.as_str());
                if let Some(request) = continues {
                    query.append_pair("request", request);
                }
                let register_url =
                    format!("{}?{}", self.issuer.endpoint("/register"), query.finish());
                self.templates.no_account(&NoAccountMail {
                    email: email.as_str(),
                    register_url: &register_url,
                    requested_at,
                    ip: &requester.ip,
                    browser: &requester.user_agent,
                })?
            }
        };
        let message = self.outbox.message(email, mail)?;
        let mail = self.outbox.seal(&message, email, expires_at, now)?;
        let email_hash = sha256_hex(email.as_str().as_bytes());

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
            authorization_request: Set(continues.map(str::to_owned)),
            join_link: Set(join.map(|j| j.link_id.clone())),
        };
        let written = self
            .writer
            .write(NewLink {
                email_hash,
                link,
                mail,
                now,
            })
            .await?;
        if written == Written::OverLimit {
            tracing::warn!(email_hash = %sha256_hex(email.as_str().as_bytes()), "per-address link limit reached; no mail sent");
            metrics::counter!("login_rate_limited_total", "scope" => "address").increment(1);
            return Ok(false);
        }
        self.outbox.wake();
        Ok(true)
    }

    fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<LinkClaims, LinkError> {
        let audience = self.audience();
        let expect = Expectations {
            token_type: LINK_TYPE,
            audience: &audience,
            issuer: self.issuer.as_str(),
        };
        match self.keys.load().verify::<LinkClaims>(token, &expect, now) {
            Ok(verified) => Ok(verified.claims),
            Err(VerifyError::Expired) => Err(LinkError::Expired),
            Err(_) => Err(LinkError::Invalid),
        }
    }

    async fn find(&self, claims: &LinkClaims) -> Result<login_link::Model, LinkError> {
        let jti = SecretToken::from_client(&claims.jti).ok_or(LinkError::Invalid)?;
        login_link::Entity::find()
            .filter(login_link::Column::TokenHash.eq(jti.hash()))
            .one(&self.db)
            .await?
            .ok_or(LinkError::Invalid)
    }

    /// What a link would do, for the confirm page. Consumes nothing (scanners fetch links).
    pub async fn inspect(&self, token: &str, now: DateTime<Utc>) -> Result<LinkView, LinkError> {
        let claims = self.verify(token, now)?;
        let link = self.find(&claims).await?;
        usable(&link, now)?;
        let email = Email::parse(&link.email).map_err(|_| LinkError::Invalid)?;
        let purpose = Purpose::parse(&link.purpose).ok_or(LinkError::Invalid)?;
        let team = match (&link.join_link, purpose) {
            (Some(join_link), Purpose::Join) => {
                let (join_link, team) = Teams::join_link_in(&self.db, join_link, now)
                    .await
                    .map_err(LoginError::from)?;
                if let Some(error) = join_link.unusable() {
                    return Err(LinkError::Login(error.into()));
                }
                Some(team.name)
            }
            _ => None,
        };
        Ok(LinkView {
            email,
            purpose,
            team,
        })
    }

    /// Uses a link: of any number of concurrent confirmations, exactly one signs in.
    #[tracing::instrument(skip_all, err)]
    pub async fn confirm(
        &self,
        token: &str,
        requester: &Requester,
        now: DateTime<Utc>,
    ) -> Result<SignedIn, LinkError> {
        let claims = self.verify(token, now)?;
        let link = self.find(&claims).await?;
        match self.redeem(&link, requester, now).await? {
            Some(signed_in) => Ok(signed_in),
            None => {
                usable(&self.reload(&link.id).await?, now)?;
                Err(LinkError::Used)
            }
        }
    }

    /// Uses the code typed in the browser that asked for the link. Five wrong codes void both.
    #[tracing::instrument(skip_all, err)]
    pub async fn confirm_code(
        &self,
        browser: &SecretToken,
        code: &str,
        requester: &Requester,
        now: DateTime<Utc>,
    ) -> Result<SignedIn, CodeError> {
        let link = login_link::Entity::find()
            .filter(login_link::Column::BrowserHash.eq(browser.hash()))
            .filter(login_link::Column::UsedAt.is_null())
            .filter(login_link::Column::ExpiresAt.gt(now))
            .order_by_desc(login_link::Column::CreatedAt)
            .one(&self.db)
            .await?
            .ok_or(CodeError::NothingPending)?;
        if link.failed_codes >= MAX_FAILED_CODES {
            return Err(CodeError::Voided);
        }
        let typed: String = code.chars().filter(char::is_ascii_digit).collect();
        if !constant_time_eq(&code_hash(&link.id, &typed), &link.code_hash) {
            login_link::Entity::update_many()
                .col_expr(
                    login_link::Column::FailedCodes,
                    sea_orm::sea_query::ExprTrait::add(
                        Expr::col(login_link::Column::FailedCodes),
                        1,
                    ),
                )
                .filter(login_link::Column::Id.eq(link.id.as_str()))
                .filter(login_link::Column::UsedAt.is_null())
                .exec(&self.db)
                .await?;
            let failed = self.reload(&link.id).await?.failed_codes;
            tracing::warn!(link = %link.id, failed, "wrong sign-in code");
            return Err(if failed >= MAX_FAILED_CODES {
                CodeError::Voided
            } else {
                CodeError::Wrong {
                    remaining: MAX_FAILED_CODES - failed,
                }
            });
        }
        self.redeem(&link, requester, now)
            .await?
            .ok_or(CodeError::NothingPending)
    }

    /// Uses the link and signs in, in one transaction: either both happen or neither, so a
    /// failure cannot spend a link without signing anyone in. None: the link was not usable.
    async fn redeem(
        &self,
        link: &login_link::Model,
        requester: &Requester,
        now: DateTime<Utc>,
    ) -> Result<Option<SignedIn>, LoginError> {
        let _turn = self.write_gate.turn().await;
        let txn = self.db.begin().await?;
        if !consume(&txn, &link.id, now).await? {
            txn.rollback().await?;
            return Ok(None);
        }
        // On an error the transaction is dropped, which rolls it back: a join that fails
        // (the join link expired meanwhile) leaves the magic link unspent.
        let signed_in = self.sign_in(&txn, link, requester, now).await?;
        txn.commit().await?;
        tracing::info!(user = %signed_in.user_id, "signed in");
        Ok(Some(signed_in))
    }

    async fn reload(&self, id: &str) -> Result<login_link::Model, sea_orm::DbErr> {
        login_link::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .ok_or_else(|| sea_orm::DbErr::RecordNotFound(format!("login link {id}")))
    }

    /// Signs the person in, in the transaction that spends the link: registering creates the
    /// account and its team; a join creates the account if need be and adds it to the team.
    /// The session works in that team, or in the person's first one.
    async fn sign_in<C: ConnectionTrait>(
        &self,
        conn: &C,
        link: &login_link::Model,
        requester: &Requester,
        now: DateTime<Utc>,
    ) -> Result<SignedIn, LoginError> {
        let (account, team) = match Purpose::parse(&link.purpose) {
            None => return Err(LoginError::AccountGone),
            Some(Purpose::Register) => {
                let (account, created) =
                    latchkey_teams::ensure_user(conn, &link.email, now).await?;
                let team = if created {
                    let name = TeamName::from_email(&account.email);
                    let actor = requester.actor(&account);
                    Some(
                        Teams::create_in(conn, &name, &account, &actor, now)
                            .await?
                            .id,
                    )
                } else {
                    None
                };
                (account, team)
            }
            Some(Purpose::Join) => {
                let (account, _) = latchkey_teams::ensure_user(conn, &link.email, now).await?;
                let join_link = link.join_link.as_deref().ok_or(JoinError::NotFound)?;
                let actor = requester.actor(&account);
                let joined = Teams::join_in(conn, join_link, &account, &actor, now).await?;
                (account, Some(joined.team.id))
            }
            Some(Purpose::Login) => {
                let account = user::Entity::find()
                    .filter(user::Column::Email.eq(link.email.as_str()))
                    .one(conn)
                    .await?
                    .ok_or(LoginError::AccountGone)?;
                (account, None)
            }
        };
        user::Entity::update_many()
            .col_expr(user::Column::LastSignInAt, Expr::value(now))
            .filter(user::Column::Id.eq(account.id.as_str()))
            .exec(conn)
            .await?;
        let teams: Vec<String> = Teams::memberships_in(conn, &account.id)
            .await?
            .into_iter()
            .map(|m| m.team.id)
            .collect();
        AuditLog::record_for_teams(
            conn,
            &teams,
            "member.signed_in",
            &requester.actor(&account),
            &Subject::new(&account.id, &account.email),
            serde_json::json!({ "method": link.purpose }),
            now,
        )
        .await?;
        let team = team.or_else(|| teams.first().cloned());
        let session = self
            .sessions
            .create(conn, &account.id, team.as_deref(), now)
            .await?;
        Ok(SignedIn {
            user_id: account.id,
            email: account.email,
            session,
            continues: link.authorization_request.clone(),
        })
    }
}

/// The single-use rule, enforced by the database: only the first update wins.
async fn consume<C: ConnectionTrait>(
    conn: &C,
    id: &str,
    now: DateTime<Utc>,
) -> Result<bool, sea_orm::DbErr> {
    let result = login_link::Entity::update_many()
        .col_expr(login_link::Column::UsedAt, Expr::value(now))
        .filter(login_link::Column::Id.eq(id))
        .filter(login_link::Column::UsedAt.is_null())
        .filter(login_link::Column::ExpiresAt.gt(now))
        .filter(login_link::Column::FailedCodes.lt(MAX_FAILED_CODES))
        .exec(conn)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Says why a link that was not consumed cannot be used.
fn usable(link: &login_link::Model, now: DateTime<Utc>) -> Result<(), LinkError> {
    if link.used_at.is_some() {
        Err(LinkError::Used)
    } else if link.failed_codes >= MAX_FAILED_CODES {
        Err(LinkError::Voided)
    } else if link.expires_at <= now {
        Err(LinkError::Expired)
    } else {
        Ok(())
    }
}

/// The stored form of a code: bound to its link, so equal codes of two links differ.
fn code_hash(link_id: &str, code: &str) -> String {
    sha256_hex(format!("{link_id}:{code}").as_bytes())
}

fn truncate(value: &str, max: usize) -> String {
    value.chars().take(max).collect()
}

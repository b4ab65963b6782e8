//! Single logout across service providers, front channel, one after another (as the identity
//! providers SP administrators know do it): once a person's Latchkey session has ended (they
//! signed out at Latchkey, or an SP's `LogoutRequest` ended it), the browser carries a signed
//! `LogoutRequest` to each other SP that session signed in to and that has a logout URL, and
//! each SP's `LogoutResponse` back to `/saml/slo`, which sends the next.
//!
//! The chain's state is kept here, in a row whose short random id (unguessable, and within
//! the 80 bytes of RelayState saml-rs allows) is the only thing that travels, as RelayState.
//! Each step is answered once: the row is updated only if it still awaits the answer read.
//! An SP that answers with a failure status, or with a response that fails its checks, is
//! noted and the chain goes on; one that never answers leaves the person signed out of
//! Latchkey all the same (the session ended before the chain began), and the chain's page,
//! reachable from Latchkey while the chain lasts, says which applications may still be
//! signed in and lets the person go on without it.

use chrono::{DateTime, TimeDelta, Utc};
use latchkey_core::SamlSpId;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde::{Deserialize, Serialize};

use crate::entities::logout_chain;
use crate::idp::LogoutAnswer;
use crate::sign_on::{PostBack, Reply};
use crate::sign_on_records::SignedOn;
use crate::{Inbound, Outgoing, Refusal, SignOns};

/// How long a chain is kept: long enough to pass through every SP, and for the person to
/// come back to its page when one did not answer.
pub const LOGOUT_CHAIN_TTL: TimeDelta = TimeDelta::minutes(10);
/// The most SPs one chain visits; past them, the rest are listed as not signed out.
const MAX_STEPS: usize = 64;

/// What became of one SP in a chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepOutcome {
    /// It answered, checked, that it signed the person out.
    SignedOut,
    /// It answered with a failure status.
    Failed,
    /// Its answer could not be read or failed its checks.
    Refused,
    /// The person went on before it answered.
    NoAnswer,
    /// It has no logout URL: Latchkey cannot ask it.
    NoLogoutUrl,
    /// Latchkey could not write it a request (its registration changed or is unusable), or
    /// the chain had too many SPs to visit.
    NotAsked,
}

impl StepOutcome {
    /// Why the person may still be signed in there, for the chain's page.
    pub fn reason(self) -> &'static str {
        match self {
            Self::SignedOut => "signed out",
            Self::Failed => "it answered that it could not sign you out",
            Self::Refused => "its answer could not be checked",
            Self::NoAnswer => "it did not answer",
            Self::NoLogoutUrl => "it has no logout URL registered with Latchkey",
            Self::NotAsked => "Latchkey could not ask it to sign you out",
        }
    }
}

/// One SP of a chain, named to it as it was told of the person.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Step {
    sp_id: String,
    /// Its name, shown on Latchkey's own page only.
    name: String,
    name_id: String,
    session_indexes: Vec<String>,
    outcome: Option<StepOutcome>,
}

/// The `LogoutResponse` owed to the SP that started the chain.
#[derive(Clone, Debug, Serialize, Deserialize)]
enum Finish {
    Redirect(String),
    Post {
        action: String,
        fields: Vec<(String, String)>,
    },
}

impl Finish {
    fn of(reply: Reply) -> Self {
        match reply {
            Reply::Redirect(to) => Self::Redirect(to),
            Reply::Post(form) => Self::Post {
                action: form.action,
                fields: form.fields,
            },
            // A LogoutResponse is redirected or posted; these sign-on replies never finish a
            // chain, and would end on its page.
            Reply::StatusPage(_) | Reply::Confirm(_) => {
                Self::Redirect(latchkey_core::urls::SIGN_OUT_STATUS.to_owned())
            }
        }
    }

    fn reply(self) -> Reply {
        match self {
            Self::Redirect(to) => Reply::Redirect(to),
            Self::Post { action, fields } => Reply::Post(PostBack {
                action,
                fields,
                title: "Signing you out…".to_owned(),
            }),
        }
    }
}

/// A chain as kept.
struct Chain {
    id: String,
    steps: Vec<Step>,
    current: Option<usize>,
    request_id: Option<String>,
    finish: Option<Finish>,
}

/// Where a single logout stands, for its page.
#[derive(Clone, Debug, Default)]
pub struct SignOutStatus {
    /// The applications that confirmed the person is signed out.
    pub signed_out: Vec<String>,
    /// The applications that may still be signed in, and why.
    pub may_be_signed_in: Vec<(String, StepOutcome)>,
    /// The application whose answer is awaited.
    pub waiting_on: Option<String>,
    /// The applications not asked yet (after the one awaited).
    pub not_yet: Vec<String>,
    /// The application that started the logout still has its answer to receive.
    pub returns_to_application: bool,
}

impl SignOutStatus {
    /// Nothing left to tell the person: every application confirmed, none is awaited, and
    /// no application waits for its answer.
    pub fn settled(&self) -> bool {
        self.may_be_signed_in.is_empty()
            && self.waiting_on.is_none()
            && self.not_yet.is_empty()
            && !self.returns_to_application
    }
}

/// What the browser does next in a chain.
#[derive(Debug)]
pub enum SignOutNext {
    /// Go there: the next SP's `LogoutRequest` (or, without a chain, the `LogoutResponse`).
    Go(Reply),
    /// The chain is over and nothing is left to tell the person: the `LogoutResponse` to the
    /// SP that started the logout, every other SP having confirmed or the person having seen
    /// the chain's page.
    Over(Reply),
    /// The chain is over (or waits for the person): its page says how it went.
    Done(SignOutStatus),
}

/// A chain, and its next step.
#[derive(Debug)]
pub struct LogoutChain {
    /// Its id: the web layer keeps it in a cookie, so the chain's page finds it.
    pub id: String,
    pub next: SignOutNext,
}

impl SignOns {
    /// After a sign-out at Latchkey ended session `sid`: signs it out of the SPs it signed in
    /// to. None when it signed in to none.
    pub async fn sign_out_of_applications(
        &self,
        sid: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<LogoutChain>, Refusal> {
        let steps = self.steps_for(&[sid.to_owned()], None, now).await?;
        if steps.is_empty() {
            return Ok(None);
        }
        self.begin(steps, None, now).await.map(Some)
    }

    /// The SPs the sessions `sids` signed in to, but `except`, as a chain's steps.
    pub(crate) async fn steps_for(
        &self,
        sids: &[String],
        except: Option<&SamlSpId>,
        now: DateTime<Utc>,
    ) -> Result<Vec<StepsFor>, Refusal> {
        let signed_on = self.sps.sign_ons_of(sids, now).await?;
        let mut steps: Vec<StepsFor> = Vec::new();
        for record in signed_on {
            if except.is_some_and(|sp| sp.as_str() == record.sp_id) {
                continue;
            }
            match steps.iter_mut().find(|s| s.0.sp_id == record.sp_id) {
                Some(step) => step.add(record),
                None => {
                    let Some(sp) = self.sps.by_id(&record.sp_id).await? else {
                        continue; // removed since: nothing to sign out of
                    };
                    steps.push(StepsFor(Step {
                        sp_id: record.sp_id,
                        name: sp.name,
                        name_id: record.name_id,
                        session_indexes: vec![record.session_index],
                        outcome: sp.slo_url.is_none().then_some(StepOutcome::NoLogoutUrl),
                    }));
                }
            }
        }
        for step in steps.iter_mut().skip(MAX_STEPS) {
            step.0.outcome.get_or_insert(StepOutcome::NotAsked);
        }
        Ok(steps)
    }

    /// Keeps a new chain through `steps` (`finish`: the answer owed to the SP that started
    /// it) and takes its first step.
    pub(crate) async fn begin(
        &self,
        steps: Vec<StepsFor>,
        finish: Option<Reply>,
        now: DateTime<Utc>,
    ) -> Result<LogoutChain, Refusal> {
        let chain = Chain {
            id: latchkey_core::secret::random_id(),
            steps: steps.into_iter().map(|s| s.0).collect(),
            current: None,
            request_id: None,
            finish: finish.map(Finish::of),
        };
        let row = logout_chain::Model {
            id: chain.id.clone(),
            steps: to_json(&chain.steps)?,
            current: None,
            request_id: None,
            finish: chain.finish.as_ref().map(to_json).transpose()?,
            created_at: now,
            expires_at: now + LOGOUT_CHAIN_TTL,
        };
        logout_chain::Entity::insert(logout_chain::ActiveModel::from(row))
            .exec_without_returning(&*self.sps.db().write().await)
            .await?;
        tracing::info!(chain = %chain.id, sps = chain.steps.len(), "SAML single logout started");
        self.advance(chain, None, now).await
    }

    /// A `LogoutResponse` arrived at `/saml/slo`: the chain its RelayState names notes what
    /// the SP it awaits answered, and goes on.
    pub async fn logout_answered(
        &self,
        inbound: Inbound,
        now: DateTime<Utc>,
    ) -> Result<LogoutChain, Refusal> {
        let id = relay_state_of(&inbound).ok_or(Refusal::SignOutOver)?;
        let mut chain = self.chain(&id, now).await?.ok_or(Refusal::SignOutOver)?;
        let (Some(at), Some(request_id)) = (chain.current, chain.request_id.clone()) else {
            return Err(Refusal::SignOutOver);
        };
        let step = &chain.steps[at];
        let answer = match self.sps.by_id(&step.sp_id).await? {
            Some(sp) => {
                let idp = self.idp.for_sp(&sp, now).await?;
                idp.read_logout_response(&sp, inbound, &request_id, &id, now)
            }
            None => LogoutAnswer::Refused("the application was removed".to_owned()),
        };
        let outcome = match answer {
            LogoutAnswer::SignedOut => StepOutcome::SignedOut,
            LogoutAnswer::Failed(status) => {
                tracing::info!(sp = %step.sp_id, %status, "SAML single logout: the SP did not sign the person out");
                StepOutcome::Failed
            }
            LogoutAnswer::Refused(why) => {
                tracing::warn!(sp = %step.sp_id, %why, "SAML single logout: the SP's answer is refused");
                StepOutcome::Refused
            }
        };
        chain.steps[at].outcome = Some(outcome);
        self.advance(chain, Some(&request_id), now).await
    }

    /// The person goes on without the answer the chain awaits (that SP is noted as not
    /// answering), or, once the chain is over, to the SP that started it.
    pub async fn go_on(&self, id: &str, now: DateTime<Utc>) -> Result<SignOutNext, Refusal> {
        let mut chain = self.chain(id, now).await?.ok_or(Refusal::SignOutOver)?;
        match (chain.current, chain.request_id.clone()) {
            (Some(at), Some(request_id)) => {
                chain.steps[at].outcome = Some(StepOutcome::NoAnswer);
                Ok(self.advance(chain, Some(&request_id), now).await?.next)
            }
            _ => match self.take_finish(&chain).await? {
                Some(reply) => Ok(SignOutNext::Over(reply)),
                None => Ok(SignOutNext::Done(status(&chain))),
            },
        }
    }

    /// Where the chain `id` stands, while it is kept.
    pub async fn sign_out_status(
        &self,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<SignOutStatus>, Refusal> {
        Ok(self.chain(id, now).await?.map(|chain| status(&chain)))
    }

    /// Sends the request of the next SP that has not answered, or ends the chain. `consumed`
    /// is the request whose answer (or absence) was just noted: the row changes only while
    /// it still awaits that one, so each answer moves the chain once.
    async fn advance(
        &self,
        mut chain: Chain,
        consumed: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<LogoutChain, Refusal> {
        loop {
            let Some(at) = chain.steps.iter().position(|s| s.outcome.is_none()) else {
                chain.current = None;
                chain.request_id = None;
                return self.end(chain, consumed).await;
            };
            let step = &chain.steps[at];
            let sp = self
                .sps
                .by_id(&step.sp_id)
                .await?
                .filter(|sp| sp.slo_url.is_some());
            let Some(sp) = sp else {
                chain.steps[at].outcome = Some(StepOutcome::NoLogoutUrl);
                continue;
            };
            let idp = self.idp.for_sp(&sp, now).await?;
            match idp.logout_request(&sp, &step.name_id, &step.session_indexes, &chain.id) {
                Ok((request_id, outgoing)) => {
                    chain.current = Some(at);
                    chain.request_id = Some(request_id);
                    self.save(&chain, consumed).await?;
                    tracing::info!(chain = %chain.id, sp = %sp.sp_id, "SAML single logout: asking the next SP");
                    let reply = match outgoing {
                        Outgoing::Redirect(url) => Reply::Redirect(url),
                        Outgoing::Post { action, fields } => Reply::Post(PostBack {
                            action,
                            fields,
                            title: "Signing you out…".to_owned(),
                        }),
                    };
                    return Ok(LogoutChain {
                        id: chain.id,
                        next: SignOutNext::Go(reply),
                    });
                }
                Err(error) => {
                    tracing::warn!(sp = %sp.sp_id, %error, "SAML single logout: no request could be written for the SP");
                    chain.steps[at].outcome = Some(StepOutcome::NotAsked);
                }
            }
        }
    }

    /// Every SP had its turn: to the SP that started the logout at once when every other one
    /// confirmed, else to the chain's page, which says which may still be signed in.
    async fn end(&self, chain: Chain, consumed: Option<&str>) -> Result<LogoutChain, Refusal> {
        self.save(&chain, consumed).await?;
        let status = status(&chain);
        tracing::info!(chain = %chain.id, signed_out = status.signed_out.len(), may_be_signed_in = status.may_be_signed_in.len(), "SAML single logout over");
        let next = match status.may_be_signed_in.is_empty() {
            true => match self.take_finish(&chain).await? {
                Some(reply) => SignOutNext::Over(reply),
                None => SignOutNext::Done(status),
            },
            false => SignOutNext::Done(status),
        };
        Ok(LogoutChain { id: chain.id, next })
    }

    /// The answer owed to the SP that started the chain, given once.
    async fn take_finish(&self, chain: &Chain) -> Result<Option<Reply>, Refusal> {
        let Some(finish) = chain.finish.clone() else {
            return Ok(None);
        };
        let taken = logout_chain::Entity::update_many()
            .col_expr(
                logout_chain::Column::Finish,
                Expr::value(Option::<String>::None),
            )
            .filter(logout_chain::Column::Id.eq(chain.id.as_str()))
            .filter(logout_chain::Column::Finish.is_not_null())
            .exec(&*self.sps.db().write().await)
            .await?;
        Ok((taken.rows_affected == 1).then(|| finish.reply()))
    }

    /// Writes the chain's steps and the request it awaits, if it still awaits `consumed`.
    async fn save(&self, chain: &Chain, consumed: Option<&str>) -> Result<(), Refusal> {
        let current = chain.current.and_then(|at| i32::try_from(at).ok());
        let update = logout_chain::Entity::update_many()
            .col_expr(
                logout_chain::Column::Steps,
                Expr::value(to_json(&chain.steps)?),
            )
            .col_expr(logout_chain::Column::Current, Expr::value(current))
            .col_expr(
                logout_chain::Column::RequestId,
                Expr::value(chain.request_id.clone()),
            )
            .filter(logout_chain::Column::Id.eq(chain.id.as_str()));
        let update = match consumed {
            Some(request_id) => update.filter(logout_chain::Column::RequestId.eq(request_id)),
            None => update.filter(logout_chain::Column::RequestId.is_null()),
        };
        let saved = update.exec(&*self.sps.db().write().await).await?;
        if saved.rows_affected != 1 {
            // Another tab or replica moved it first.
            return Err(Refusal::SignOutOver);
        }
        Ok(())
    }

    /// The chain `id`, while it is kept.
    async fn chain(&self, id: &str, now: DateTime<Utc>) -> Result<Option<Chain>, Refusal> {
        let Some(row) = logout_chain::Entity::find_by_id(id)
            .one(self.sps.db().read())
            .await?
            .filter(|row| row.expires_at > now)
        else {
            return Ok(None);
        };
        let steps: Vec<Step> = serde_json::from_str(&row.steps).map_err(unreadable)?;
        let finish = row
            .finish
            .as_deref()
            .map(serde_json::from_str)
            .transpose()
            .map_err(unreadable)?;
        let current = row
            .current
            .and_then(|at| usize::try_from(at).ok())
            .filter(|at| *at < steps.len());
        Ok(Some(Chain {
            id: row.id,
            steps,
            current,
            request_id: row.request_id,
            finish,
        }))
    }
}

/// A chain's step as it is made: one SP and every session index it was given.
pub(crate) struct StepsFor(Step);

impl StepsFor {
    /// Another session of the chain signed in to the same SP: its index is named too, and
    /// the NameID given last.
    fn add(&mut self, record: SignedOn) {
        if !self.0.session_indexes.contains(&record.session_index) {
            self.0.session_indexes.push(record.session_index);
        }
        self.0.name_id = record.name_id;
    }
}

fn status(chain: &Chain) -> SignOutStatus {
    let mut status = SignOutStatus {
        returns_to_application: chain.finish.is_some(),
        ..SignOutStatus::default()
    };
    for (at, step) in chain.steps.iter().enumerate() {
        match step.outcome {
            Some(StepOutcome::SignedOut) => status.signed_out.push(step.name.clone()),
            Some(other) => status.may_be_signed_in.push((step.name.clone(), other)),
            None if chain.current == Some(at) => status.waiting_on = Some(step.name.clone()),
            None => status.not_yet.push(step.name.clone()),
        }
    }
    status
}

/// The RelayState a message carries.
fn relay_state_of(inbound: &Inbound) -> Option<String> {
    match inbound {
        Inbound::Redirect(query) => url::form_urlencoded::parse(query.as_bytes())
            .find(|(name, _)| name == "RelayState")
            .map(|(_, value)| value.into_owned()),
        Inbound::Post { relay_state, .. } => relay_state.clone(),
    }
    .filter(|id| !id.is_empty() && id.len() <= 64)
}

fn to_json(value: &impl Serialize) -> Result<String, Refusal> {
    serde_json::to_string(value).map_err(unreadable)
}

/// A chain's row that cannot be read back: the database holds something else than was written.
fn unreadable(error: serde_json::Error) -> Refusal {
    Refusal::Database(sea_orm::DbErr::Json(error.to_string()))
}

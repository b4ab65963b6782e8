//! Browser sign-on on SQLite, written in batches.
//!
//! A sign-on writes four or five rows (the token's use, the audit event, the session, and for
//! a new member the identity and its membership). On SQLite every statement is a hand-off to
//! the connection's own thread and back, and SQLite has one writer, so one transaction per
//! sign-on held that writer for about a millisecond: under a thousand sign-ons a second. The
//! common cases are therefore decided beforehand, on the read pool ([`plan`]): a member already
//! linked to the identity whose role the token leaves alone, or a person no one here has, to
//! be provisioned. One writer takes every sign-on waiting when it is free, checks in two
//! queries that what each was decided on still holds, and writes them all in one transaction
//! of a few multi-row statements. Anything else (linking an existing member, a role the token
//! changes, a decision that no longer holds) is answered [`Outcome::Redo`] and takes the
//! general path, one transaction of its own that decides and writes together. A request still
//! waits for its own commit, so nothing it answers can be lost.
//!
//! PostgreSQL runs many writers at once and commits them together by itself: there every
//! sign-on takes the general path.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use latchkey_core::{Db, TeamId, UserId};
use latchkey_login::entities::session;
use latchkey_teams::entities::{membership, user};
use latchkey_teams::{Actor, AuditLog, Role, Subject, Teams};
use sea_orm::{
    ActiveValue, ColumnTrait, Condition, DbBackend, DbErr, EntityTrait, QueryFilter, QuerySelect,
};
use serde_json::json;
use tokio::sync::{mpsc, oneshot};

use super::members::{Admitted, carries, member_with_address, name_in, named_person};
use crate::assertion::Verified;
use crate::entities::{seen_assertion, trusted_issuer};

/// The most sign-ons one transaction writes: it bounds the statements' size (an audit event
/// has 11 columns; two events a sign-on is 2,816 parameters, far below SQLite's 32,766) and
/// the wait of the last request in a batch.
const MAX_BATCH: usize = 128;
/// Sign-ons waiting for the writer; beyond this, requests wait to be queued.
const QUEUE: usize = 1024;

/// What a sign-on was decided on, before it is written.
pub(crate) enum Plan {
    /// A member linked to the token's identity, in the role the token leaves as it is.
    Returning {
        user_id: String,
        shown_email: String,
        role: Role,
        /// The token's name, where it differs from the stored one and may replace it.
        rename: Option<latchkey_teams::PersonName>,
    },
    /// No member here has the identity or the address: a new identity of the team's.
    Provision {
        sub: String,
        asserted_email: String,
        identity: Box<user::ActiveModel>,
    },
}

impl Plan {
    /// The account the session is for.
    pub(crate) fn user_id(&self) -> String {
        match self {
            Plan::Returning { user_id, .. } => user_id.clone(),
            Plan::Provision { identity, .. } => match &identity.id {
                ActiveValue::Set(id) | ActiveValue::Unchanged(id) => id.clone(),
                ActiveValue::NotSet => String::new(),
            },
        }
    }
}

/// Decides, on the read pool, whether the token's sign-on is one of the common cases the
/// writer handles; `None` for every other (the general path decides and refuses those).
pub(crate) async fn plan(
    db: &Db,
    trusted: &trusted_issuer::Model,
    verified: &Verified,
    now: DateTime<Utc>,
) -> Result<Option<Plan>, DbErr> {
    let Ok((sub, email)) = named_person(verified, trusted) else {
        return Ok(None);
    };
    let name = name_in(verified, trusted);
    let conn = db.read();
    let linked = membership::Entity::find()
        .filter(membership::Column::TeamId.eq(trusted.team_id.as_str()))
        .filter(membership::Column::ExternalIssuer.eq(trusted.issuer.as_str()))
        .filter(membership::Column::ExternalId.eq(sub))
        .find_also_related(user::Entity)
        .one(conn)
        .await?;
    let wanted = match (&trusted.admin_claim, &trusted.admin_value) {
        (Some(claim), Some(value)) if carries(verified.claims.get(claim), value) => {
            Role::Administrator
        }
        _ => Role::Member,
    };
    if let Some((found, Some(account))) = linked {
        let role = Role::from_stored(&found.role);
        if role != wanted {
            return Ok(None);
        }
        let rename = name.filter(|name| {
            !account.name_edited
                && (account.name.as_deref() != Some(name.name.as_str())
                    || account.family_name != name.family_name)
        });
        return Ok(Some(Plan::Returning {
            shown_email: account.shown_email().to_owned(),
            user_id: account.id,
            role,
            rename,
        }));
    }
    // An address some member here has is linked by the general path (or refused there).
    if wanted != Role::Member
        || !matches!(member_with_address(conn, trusted, &email).await, Ok(None))
    {
        return Ok(None);
    }
    Ok(Some(Plan::Provision {
        sub: sub.to_owned(),
        asserted_email: email.as_str().to_owned(),
        identity: Box::new(latchkey_teams::identity_row(
            &trusted.team_id,
            email.as_str(),
            name.as_ref(),
            now,
        )),
    }))
}

/// One sign-on for the writer.
pub(crate) struct Job {
    pub seen: seen_assertion::ActiveModel,
    pub team_id: TeamId,
    pub issuer: String,
    pub plan: Plan,
    pub ip: String,
    pub user_agent: String,
    pub session: session::ActiveModel,
    pub now: DateTime<Utc>,
}

/// What became of a sign-on handed to the writer.
pub(crate) enum Outcome {
    /// Written: the member, and the session, exist.
    Admitted(Admitted),
    /// The token was used before (or twice in one batch).
    Replay,
    /// What the plan was decided on no longer holds: take the general path.
    Redo,
}

struct Pending {
    job: Job,
    reply: oneshot::Sender<Result<Outcome, String>>,
}

/// The batching writer of browser sign-ons (SQLite only). Cloning shares it; it stops once
/// every clone is gone.
#[derive(Clone)]
pub(crate) struct SignOnWriter {
    queue: mpsc::Sender<Pending>,
}

impl SignOnWriter {
    /// Starts the writer on the current tokio runtime, on SQLite; `None` elsewhere.
    pub(crate) fn start(db: &Db) -> Option<Self> {
        if db.backend() != DbBackend::Sqlite {
            return None;
        }
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        let (queue, waiting) = mpsc::channel(QUEUE);
        runtime.spawn(run(db.clone(), waiting));
        Some(Self { queue })
    }

    /// Writes `job` with whatever else is waiting, and returns once it is committed.
    pub(crate) async fn write(&self, job: Job) -> Result<Outcome, DbErr> {
        let stopped = || DbErr::Custom("the sign-on writer has stopped".to_owned());
        let (reply, written) = oneshot::channel();
        self.queue
            .send(Pending { job, reply })
            .await
            .map_err(|_| stopped())?;
        written.await.map_err(|_| stopped())?.map_err(DbErr::Custom)
    }
}

async fn run(db: Db, mut waiting: mpsc::Receiver<Pending>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while waiting.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let pending = std::mem::take(&mut batch);
        metrics::histogram!("sign_on_batch_size").record(pending.len() as f64);
        let (jobs, replies): (Vec<Job>, Vec<_>) =
            pending.into_iter().map(|p| (p.job, p.reply)).unzip();
        match write(&db, jobs).await {
            Ok(outcomes) => {
                for (reply, outcome) in replies.into_iter().zip(outcomes) {
                    // A request that gave up waiting no longer needs its answer.
                    let _ = reply.send(Ok(outcome));
                }
            }
            Err(error) => {
                tracing::error!(%error, sign_ons = replies.len(), "writing a batch of sign-ons failed");
                for reply in replies {
                    let _ = reply.send(Err(error.to_string()));
                }
            }
        }
    }
}

fn text(value: &ActiveValue<String>) -> &str {
    match value {
        ActiveValue::Set(v) | ActiveValue::Unchanged(v) => v,
        ActiveValue::NotSet => "",
    }
}

/// One transaction: which tokens were used before, and which plans still hold (two queries);
/// then the rows of every sign-on that goes ahead, a statement per table.
async fn write(db: &Db, jobs: Vec<Job>) -> Result<Vec<Outcome>, DbErr> {
    let txn = db.transaction().await?;
    let ids: Vec<&str> = jobs.iter().map(|job| text(&job.seen.id)).collect();
    let seen: HashSet<String> = seen_assertion::Entity::find()
        .select_only()
        .column(seen_assertion::Column::Id)
        .filter(seen_assertion::Column::Id.is_in(ids))
        .into_tuple()
        .all(&*txn)
        .await?
        .into_iter()
        .collect();
    let mut now_members = Condition::any();
    for job in &jobs {
        let team = membership::Column::TeamId.eq(job.team_id.as_str());
        now_members = now_members.add(match &job.plan {
            Plan::Returning { user_id, .. } => Condition::all()
                .add(team)
                .add(membership::Column::UserId.eq(user_id.as_str())),
            Plan::Provision { sub, .. } => Condition::all()
                .add(team)
                .add(membership::Column::ExternalIssuer.eq(job.issuer.as_str()))
                .add(membership::Column::ExternalId.eq(sub.as_str())),
        });
    }
    let members = membership::Entity::find()
        .filter(now_members)
        .all(&*txn)
        .await?;

    let mut spent = HashSet::new();
    let mut provisioning = HashSet::new();
    let mut outcomes = Vec::with_capacity(jobs.len());
    let (mut seen_rows, mut identities, mut memberships, mut events, mut sessions, mut renames) = (
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
    );
    for job in jobs {
        let id = text(&job.seen.id).to_owned();
        if seen.contains(&id) || !spent.insert(id) {
            outcomes.push(Outcome::Replay);
            continue;
        }
        let team = job.team_id.as_str();
        let holds = match &job.plan {
            Plan::Returning { user_id, role, .. } => members.iter().any(|m| {
                m.team_id == team
                    && m.user_id == *user_id
                    && m.role == role.as_str()
                    && m.external_issuer.as_deref() == Some(job.issuer.as_str())
            }),
            Plan::Provision { sub, .. } => {
                !members.iter().any(|m| {
                    m.team_id == team
                        && m.external_issuer.as_deref() == Some(job.issuer.as_str())
                        && m.external_id.as_deref() == Some(sub.as_str())
                }) && provisioning.insert((team.to_owned(), job.issuer.clone(), sub.clone()))
            }
        };
        if !holds {
            spent.remove(text(&job.seen.id));
            outcomes.push(Outcome::Redo);
            continue;
        }
        let user_id = job.plan.user_id();
        let uid = UserId::from(user_id.as_str());
        let (shown_email, role) = match job.plan {
            Plan::Returning {
                shown_email,
                role,
                rename,
                ..
            } => {
                if let Some(name) = rename {
                    renames.push((user_id.clone(), name, job.now));
                }
                (shown_email, role)
            }
            Plan::Provision {
                sub,
                asserted_email,
                identity,
            } => {
                identities.push(*identity);
                memberships.push(Teams::membership_row(
                    &job.team_id,
                    &user_id,
                    Role::Member,
                    Some((&job.issuer, &sub)),
                    job.now,
                ));
                let integration = Actor {
                    user_id: None,
                    label: format!("integration {}", job.issuer),
                    ip: job.ip.clone(),
                    user_agent: job.user_agent.clone(),
                };
                events.push(AuditLog::row(
                    Some(&job.team_id),
                    "member.provisioned",
                    &integration,
                    &Subject::new(&user_id, &asserted_email),
                    &json!({ "issuer": job.issuer, "external_id": sub, "client_id": null }),
                    job.now,
                ));
                (asserted_email, Role::Member)
            }
        };
        events.push(AuditLog::row(
            Some(&job.team_id),
            "member.signed_in",
            &Actor::person(&uid, &shown_email, &job.ip, &job.user_agent),
            &Subject::new(&user_id, &shown_email),
            &json!({ "via": "jwt", "issuer": job.issuer, "role": role }),
            job.now,
        ));
        seen_rows.push(job.seen);
        sessions.push(job.session);
        outcomes.push(Outcome::Admitted(Admitted {
            user_id: uid,
            shown_email,
            role,
        }));
    }
    if !seen_rows.is_empty() {
        seen_assertion::Entity::insert_many(seen_rows)
            .exec_without_returning(&*txn)
            .await?;
    }
    if !identities.is_empty() {
        user::Entity::insert_many(identities)
            .exec_without_returning(&*txn)
            .await?;
        membership::Entity::insert_many(memberships)
            .exec_without_returning(&*txn)
            .await?;
    }
    for (user_id, name, now) in renames {
        latchkey_teams::sync_name(&*txn, &user_id, &name, now).await?;
    }
    if !events.is_empty() {
        latchkey_teams::entities::audit_event::Entity::insert_many(events)
            .exec_without_returning(&*txn)
            .await?;
    }
    if !sessions.is_empty() {
        session::Entity::insert_many(sessions)
            .exec_without_returning(&*txn)
            .await?;
    }
    txn.commit().await?;
    Ok(outcomes)
}

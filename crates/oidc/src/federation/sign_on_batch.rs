//! Browser sign-on on SQLite, written in batches.
//!
//! A sign-on writes four or five rows (the token's use, the audit event, the session, and for
//! a new member the identity and its membership). On SQLite every statement is a hand-off to
//! the connection's own thread and back, and SQLite has one writer, so one transaction per
//! sign-on held that writer for about a millisecond: under a thousand sign-ons a second. So one
//! writer takes every sign-on waiting when it is free and, in one transaction, reads what it
//! needs for all of them (which tokens were used before, who is linked to each identity, who
//! here has each new address: three queries) and writes them all with a few multi-row
//! statements. It handles the common cases: a member linked to the identity whose role the
//! token leaves alone, and a person no one here has, provisioned. Anything else (linking an
//! existing member, a role the token changes) is answered [`Outcome::Redo`] and takes the
//! general path, one transaction of its own. A request still waits for its own commit, so
//! nothing it answers can be lost.
//!
//! PostgreSQL runs many writers at once and commits them together by itself: there every
//! sign-on takes the general path.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use latchkey_core::secret::SecretToken;
use latchkey_core::{Db, TeamId, UserId};
use latchkey_login::entities::session;
use latchkey_login::{Opening, Requester, Sessions};
use latchkey_teams::entities::audit_event;
use latchkey_teams::entities::{membership, user};
use latchkey_teams::{Actor, AuditLog, PersonName, Role, Subject, Teams};
use sea_orm::{
    ActiveValue, ColumnTrait, Condition, ConnectionTrait, DbBackend, DbErr, EntityTrait,
    QueryFilter, QuerySelect,
};
use serde_json::json;
use tokio::sync::{mpsc, oneshot};

use super::members::{Admitted, carries, name_in, named_person, replay_scope};
use crate::assertion::{Verified, seen_row};
use crate::entities::{seen_assertion, trusted_issuer};

/// The most sign-ons one transaction writes: it bounds the statements' size (an audit event
/// has 11 columns; two events a sign-on is 2,816 parameters, far below SQLite's 32,766) and
/// the wait of the last request in a batch.
const MAX_BATCH: usize = 128;
/// Sign-ons waiting for the writer; beyond this, requests wait to be queued.
const QUEUE: usize = 1024;

/// One sign-on for the writer: the token's use, whom it names, and the session to open.
pub(crate) struct Job {
    seen: seen_assertion::ActiveModel,
    team_id: TeamId,
    issuer: String,
    sub: String,
    email: String,
    name: Option<PersonName>,
    /// The role the token gives: administrator only where the issuer's claim says so.
    wanted: Role,
    ip: String,
    user_agent: String,
    sessions: Sessions,
    frame_ancestors: Option<String>,
    now: DateTime<Utc>,
}

impl Job {
    /// The job for a verified token; `None` when it names no one usable (the general path
    /// says why).
    pub(crate) fn new(
        trusted: &trusted_issuer::Model,
        verified: &Verified,
        from: &Requester,
        sessions: &Sessions,
        frame_ancestors: Option<&str>,
        now: DateTime<Utc>,
    ) -> Option<Self> {
        let (sub, email) = named_person(verified, trusted).ok()?;
        let wanted = match (&trusted.admin_claim, &trusted.admin_value) {
            (Some(claim), Some(value)) if carries(verified.claims.get(claim), value) => {
                Role::Administrator
            }
            _ => Role::Member,
        };
        Some(Self {
            seen: seen_row(&replay_scope(trusted), verified),
            team_id: TeamId::from(trusted.team_id.as_str()),
            issuer: trusted.issuer.clone(),
            sub: sub.to_owned(),
            email: email.as_str().to_owned(),
            name: name_in(verified, trusted),
            wanted,
            ip: from.ip.clone(),
            user_agent: from.user_agent.clone(),
            sessions: sessions.clone(),
            frame_ancestors: frame_ancestors.map(str::to_owned),
            now,
        })
    }

    fn opening(&self) -> Opening<'_> {
        Opening {
            team_id: Some(&self.team_id),
            opened_by: Some(&self.issuer),
            frame_ancestors: self.frame_ancestors.as_deref(),
            connection: None,
        }
    }
}

/// What became of a sign-on handed to the writer.
pub(crate) enum Outcome {
    /// Written: the member and the session exist; the session's secret is for the cookie.
    Admitted(Admitted, SecretToken),
    /// The token was used before (or twice in one batch).
    Replay,
    /// Not one of the common cases: take the general path.
    Redo,
}

struct Pending {
    job: Job,
    reply: oneshot::Sender<Outcome>,
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
        written.await.map_err(|_| stopped())
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
                    let _ = reply.send(outcome);
                }
            }
            Err(error) => {
                // Nothing of the batch was written: each sign-on takes the general path, where
                // only its own fault can fail it.
                tracing::warn!(%error, sign_ons = replies.len(), "a batch of sign-ons failed; each is tried on its own");
                for reply in replies {
                    let _ = reply.send(Outcome::Redo);
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

/// One transaction: what is known of every sign-on (three queries), each decided in turn,
/// then the rows of every sign-on that goes ahead, a statement per table, each written by
/// the crate that owns the table.
async fn write(db: &Db, jobs: Vec<Job>) -> Result<Vec<Outcome>, DbErr> {
    let txn = db.transaction().await?;
    let known = Known::read(&*txn, &jobs).await?;
    let mut batch = Batch::default();
    let outcomes = jobs.iter().map(|job| batch.decide(job, &known)).collect();
    batch.rows.insert(&*txn).await?;
    txn.commit().await?;
    Ok(outcomes)
}

/// A member and their account.
type Member = (membership::Model, Option<user::Model>);

/// What the database already holds about a batch's sign-ons.
struct Known {
    /// The tokens used before.
    seen: HashSet<String>,
    /// Members linked to the identities the tokens name.
    linked: Vec<Member>,
    /// Members with the addresses of identities no one is linked to yet.
    with_address: Vec<Member>,
}

impl Known {
    async fn read<C: ConnectionTrait>(conn: &C, jobs: &[Job]) -> Result<Self, DbErr> {
        let ids: Vec<&str> = jobs.iter().map(|job| text(&job.seen.id)).collect();
        let seen: HashSet<String> = seen_assertion::Entity::find()
            .select_only()
            .column(seen_assertion::Column::Id)
            .filter(seen_assertion::Column::Id.is_in(ids))
            .into_tuple()
            .all(conn)
            .await?
            .into_iter()
            .collect();
        let mut identities = Condition::any();
        for job in jobs {
            identities = identities.add(
                Condition::all()
                    .add(membership::Column::TeamId.eq(job.team_id.as_str()))
                    .add(membership::Column::ExternalIssuer.eq(job.issuer.as_str()))
                    .add(membership::Column::ExternalId.eq(job.sub.as_str())),
            );
        }
        let linked = membership::Entity::find()
            .find_also_related(user::Entity)
            .filter(identities)
            .all(conn)
            .await?;
        let mut known = Self {
            seen,
            linked,
            with_address: Vec::new(),
        };
        let unlinked: Vec<&Job> = jobs
            .iter()
            .filter(|job| known.linked_to(job).is_none())
            .collect();
        known.with_address = members_with_addresses(conn, &unlinked).await?;
        Ok(known)
    }

    /// The member linked to the identity `job` names, with their account.
    fn linked_to(&self, job: &Job) -> Option<(&membership::Model, &user::Model)> {
        self.linked.iter().find_map(|(m, account)| {
            let this = m.team_id == job.team_id.as_str()
                && m.external_issuer.as_deref() == Some(job.issuer.as_str())
                && m.external_id.as_deref() == Some(job.sub.as_str());
            this.then_some((m, account.as_ref()?))
        })
    }

    /// Whether a member of `job`'s team has its address already (their own, or one an
    /// integration of that team gave).
    fn has_address(&self, job: &Job) -> bool {
        self.with_address.iter().any(|(m, account)| {
            m.team_id == job.team_id.as_str()
                && account.as_ref().is_some_and(|u| {
                    (u.email == job.email && u.provisioned_by.is_none())
                        || (u.provisioned_by.as_deref() == Some(job.team_id.as_str())
                            && u.asserted_email.as_deref() == Some(job.email.as_str()))
                })
        })
    }
}

/// Members of the jobs' teams with the jobs' addresses.
async fn members_with_addresses<C: ConnectionTrait>(
    conn: &C,
    jobs: &[&Job],
) -> Result<Vec<Member>, DbErr> {
    if jobs.is_empty() {
        return Ok(Vec::new());
    }
    let teams: Vec<&str> = jobs.iter().map(|job| job.team_id.as_str()).collect();
    let emails: Vec<&str> = jobs.iter().map(|job| job.email.as_str()).collect();
    membership::Entity::find()
        .find_also_related(user::Entity)
        .filter(membership::Column::TeamId.is_in(teams))
        .filter(
            Condition::any()
                .add(user::Column::Email.is_in(emails.clone()))
                .add(user::Column::AssertedEmail.is_in(emails)),
        )
        .all(conn)
        .await
}

/// The batch as it is decided: what its sign-ons spent and provisioned so far, and the rows
/// of those that go ahead.
#[derive(Default)]
struct Batch {
    /// Tokens used by an earlier sign-on of this batch.
    spent: HashSet<String>,
    /// Identities and addresses provisioned by an earlier sign-on of this batch.
    provisioning: HashSet<(String, &'static str, String)>,
    rows: Rows,
}

/// The rows a batch writes.
#[derive(Default)]
struct Rows {
    seen: Vec<seen_assertion::ActiveModel>,
    identities: Vec<user::ActiveModel>,
    memberships: Vec<membership::ActiveModel>,
    events: Vec<audit_event::ActiveModel>,
    sessions: Vec<session::ActiveModel>,
    renames: Vec<(String, PersonName, DateTime<Utc>)>,
}

impl Batch {
    /// One sign-on: a replay, a sign-on for the general path, or admitted (its rows added).
    fn decide(&mut self, job: &Job, known: &Known) -> Outcome {
        let id = text(&job.seen.id);
        if known.seen.contains(id) || self.spent.contains(id) {
            return Outcome::Replay;
        }
        let admitted = match known.linked_to(job) {
            Some((member, account)) => self.linked(job, member, account),
            None => self.provision(job, known),
        };
        let Some((user_id, shown_email, role)) = admitted else {
            return Outcome::Redo;
        };
        self.spent.insert(id.to_owned());
        let uid = UserId::from(user_id.as_str());
        self.rows.events.push(AuditLog::row(
            Some(&job.team_id),
            "member.signed_in",
            &Actor::person(&uid, &shown_email, &job.ip, &job.user_agent),
            &Subject::new(&user_id, &shown_email),
            &json!({ "via": "jwt", "issuer": job.issuer, "role": role }),
            job.now,
        ));
        let (secret, session) = job.sessions.row(&uid, job.opening(), job.now);
        self.rows.seen.push(job.seen.clone());
        self.rows.sessions.push(session);
        let admitted = Admitted {
            user_id: uid,
            shown_email,
            role,
        };
        Outcome::Admitted(admitted, secret)
    }

    /// A member linked to the identity: admitted when the token leaves their role alone,
    /// their name kept as the issuer says unless they edited it.
    fn linked(
        &mut self,
        job: &Job,
        member: &membership::Model,
        account: &user::Model,
    ) -> Option<(String, String, Role)> {
        let role = Role::from_stored(&member.role);
        if role != job.wanted {
            return None;
        }
        if let Some(name) = job.name.as_ref().filter(|name| {
            !account.name_edited
                && (account.name.as_deref() != Some(name.name.as_str())
                    || account.family_name != name.family_name)
        }) {
            self.rows
                .renames
                .push((account.id.clone(), name.clone(), job.now));
        }
        Some((account.id.clone(), account.shown_email().to_owned(), role))
    }

    /// A person no one here has, provisioned as a member. Linking a member, or giving a new
    /// one a role, is the general path's; so is a second new identity for one person in one
    /// batch.
    fn provision(&mut self, job: &Job, known: &Known) -> Option<(String, String, Role)> {
        let team = job.team_id.to_string();
        let first = self.provisioning.insert((
            team.clone(),
            "identity",
            format!("{}\n{}", job.issuer, job.sub),
        )) && self
            .provisioning
            .insert((team, "address", job.email.clone()));
        if job.wanted != Role::Member || known.has_address(job) || !first {
            return None;
        }
        let identity =
            latchkey_teams::identity_row(&job.team_id, &job.email, job.name.as_ref(), job.now);
        let user_id = text(&identity.id).to_owned();
        self.rows.identities.push(identity);
        self.rows.memberships.push(Teams::membership_row(
            &job.team_id,
            &user_id,
            Role::Member,
            Some((&job.issuer, &job.sub)),
            job.now,
        ));
        let integration = Actor::integration(&job.issuer, &job.ip, &job.user_agent);
        self.rows.events.push(AuditLog::row(
            Some(&job.team_id),
            "member.provisioned",
            &integration,
            &Subject::new(&user_id, &job.email),
            &json!({ "issuer": job.issuer, "external_id": job.sub, "client_id": null }),
            job.now,
        ));
        Some((user_id, job.email.clone(), Role::Member))
    }
}

impl Rows {
    /// A statement per table; the people's, the audit log's and the sessions' through their
    /// own crates.
    async fn insert<C: ConnectionTrait>(self, conn: &C) -> Result<(), DbErr> {
        if !self.seen.is_empty() {
            seen_assertion::Entity::insert_many(self.seen)
                .exec_without_returning(conn)
                .await?;
        }
        latchkey_teams::provision_many(conn, self.identities, self.memberships).await?;
        for (user_id, name, now) in self.renames {
            latchkey_teams::sync_name(conn, &user_id, &name, now).await?;
        }
        AuditLog::record_rows(conn, self.events).await?;
        Sessions::open_many(conn, self.sessions).await
    }
}

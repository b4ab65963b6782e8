//! The person a connection's provider names, admitted in its team: the account linked to
//! their `(connection, sub)`, or else one found or made now. A domain the team has proven is
//! the team's to speak for, so its addresses sign in to the accounts that own them (created
//! if need be). Any other address is only the provider's word: it gets an identity of the
//! team's alone (as an integration's assertions do), which cannot be signed in to elsewhere
//! and whose sessions work only in the team.

use chrono::{DateTime, Utc};
use latchkey_core::{Email, TeamId, UserId};
use latchkey_login::Requester;
use latchkey_teams::entities::user;
use latchkey_teams::{Actor, AuditLog, PersonName, Role, Subject, Teams};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter};
use serde_json::{Value, json};

use crate::domain_proof::domain_owner_in;
use crate::entities::{connection, connection_link};
use crate::failure::SignInFailure;

/// Who the verified ID token names.
pub(crate) struct Person {
    pub subject: String,
    pub email: Email,
    /// Whether the provider vouches for the address: `email_verified`, or the sign-in name
    /// (`preferred_username`) its administrators assign.
    pub vouched: bool,
    pub name: Option<PersonName>,
}

/// The account signed in.
pub(crate) struct Admitted {
    pub user_id: UserId,
    pub shown_email: String,
    /// An identity of the team's alone: its session is bound to the team.
    pub bound: bool,
}

/// Finds, links or provisions the person and makes them a member of the connection's team,
/// auditing each step, in the caller's transaction.
pub(crate) async fn admit(
    txn: &DatabaseTransaction,
    row: &connection::Model,
    person: &Person,
    proven: bool,
    from: &Requester,
    now: DateTime<Utc>,
) -> Result<Admitted, SignInFailure> {
    let trail = Trail::new(row, person, from);
    lock_while_present(txn, row, &trail.team_id, now).await?;
    let account = match linked(txn, row, &person.subject).await? {
        Some(account) => still_covered(txn, row, account).await?,
        None => link_new(txn, row, person, proven, &trail, now).await?,
    };
    make_member(txn, &account, &trail, now).await?;
    if let Some(name) = &person.name {
        latchkey_teams::sync_name(txn, &account.id, name, now).await?;
    }
    user::Entity::update_many()
        .col_expr(user::Column::LastSignInAt, Expr::value(now))
        .filter(user::Column::Id.eq(account.id.as_str()))
        .exec(txn)
        .await?;
    let user_id = UserId::from(account.id.as_str());
    let shown_email = account.shown_email().to_owned();
    let actor = Actor::person(&user_id, &shown_email, &from.ip, &from.user_agent);
    trail
        .record(txn, "member.signed_in", &actor, &account, now)
        .await?;
    Ok(Admitted {
        user_id,
        shown_email,
        bound: account.provisioned_by.is_some(),
    })
}

/// What each audit event of one sign-in names: the team, the connection acting for it, and
/// the connection and `sub` the person came through.
struct Trail {
    team_id: TeamId,
    connection: Actor,
    details: Value,
}

impl Trail {
    fn new(row: &connection::Model, person: &Person, from: &Requester) -> Self {
        Self {
            team_id: TeamId::from(row.team_id.as_str()),
            connection: Actor {
                user_id: None,
                label: format!("connection {}", row.name),
                ip: from.ip.clone(),
                user_agent: from.user_agent.clone(),
            },
            details: json!({ "via": "oidc", "connection": row.id, "connection_name": row.name, "external_id": person.subject }),
        }
    }

    /// Records `action` by `actor` on `account` in the team's log.
    async fn record(
        &self,
        txn: &DatabaseTransaction,
        action: &str,
        actor: &Actor,
        account: &user::Model,
        now: DateTime<Utc>,
    ) -> Result<(), sea_orm::DbErr> {
        AuditLog::record(
            txn,
            Some(&self.team_id),
            action,
            actor,
            &Subject::new(&account.id, account.shown_email()),
            self.details.clone(),
            now,
        )
        .await
    }
}

/// Locks the team (the first write: links and memberships in a team are made one at a time),
/// then checks the connection is still there: removed while the person was at the provider,
/// nothing is made for it.
async fn lock_while_present(
    txn: &DatabaseTransaction,
    row: &connection::Model,
    team_id: &TeamId,
    now: DateTime<Utc>,
) -> Result<(), SignInFailure> {
    latchkey_teams::lock_team(txn, team_id, now)
        .await
        .map_err(|_| SignInFailure::Removed)?;
    if connection::Entity::find_by_id(row.id.as_str())
        .one(txn)
        .await?
        .is_none()
    {
        return Err(SignInFailure::Removed);
    }
    Ok(())
}

/// The linked account, if it may still be signed in to through this connection. A person's
/// own account, linked while its domain was proven: only while this connection's proof is
/// still the one that covers the account's own address, whatever address the token carries
/// now.
async fn still_covered(
    txn: &DatabaseTransaction,
    row: &connection::Model,
    account: user::Model,
) -> Result<user::Model, SignInFailure> {
    if account.provisioned_by.is_none()
        && domain_owner_in(txn, &account.email).await?.as_deref() != Some(row.id.as_str())
    {
        return Err(SignInFailure::NoLongerProven(account.email));
    }
    Ok(account)
}

/// Links the provider's `sub` to an account found or made now: the one that owns the address
/// where the domain is proven, else an identity of the team's alone.
async fn link_new(
    txn: &DatabaseTransaction,
    row: &connection::Model,
    person: &Person,
    proven: bool,
    trail: &Trail,
    now: DateTime<Utc>,
) -> Result<user::Model, SignInFailure> {
    let account = if proven {
        let (account, created) =
            latchkey_teams::ensure_user(txn, person.email.as_str(), now).await?;
        if created {
            tracing::info!(user = %account.id, "account created through a connection");
        }
        account
    } else {
        latchkey_teams::provision_identity(txn, &row.team_id, person.email.as_str(), now).await?
    };
    connection_link::Entity::insert(connection_link::ActiveModel::from(connection_link::Model {
        connection_id: row.id.clone(),
        subject: person.subject.clone(),
        user_id: account.id.clone(),
        created_at: now,
    }))
    .exec_without_returning(txn)
    .await?;
    trail
        .record(txn, "member.linked", &trail.connection, &account, now)
        .await?;
    Ok(account)
}

/// Whoever the team's provider lets in is a member (just-in-time provisioning).
async fn make_member(
    txn: &DatabaseTransaction,
    account: &user::Model,
    trail: &Trail,
    now: DateTime<Utc>,
) -> Result<(), SignInFailure> {
    let added = Teams::add_member_in(txn, &trail.team_id, account, Role::Member, None, now)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "adding a member through a connection failed");
            SignInFailure::Internal
        })?;
    if added {
        trail
            .record(txn, "member.provisioned", &trail.connection, account, now)
            .await?;
    }
    Ok(())
}

/// The account linked to the provider's `sub`, if any.
async fn linked(
    txn: &DatabaseTransaction,
    row: &connection::Model,
    subject: &str,
) -> Result<Option<user::Model>, SignInFailure> {
    let Some(link) = connection_link::Entity::find_by_id((row.id.clone(), subject.to_owned()))
        .one(txn)
        .await?
    else {
        return Ok(None);
    };
    Ok(user::Entity::find_by_id(link.user_id.as_str())
        .one(txn)
        .await?)
}

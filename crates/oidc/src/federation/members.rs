//! The member a trusted issuer's token names: spent once, then found, linked or provisioned in
//! the issuer's team, given the role the issuer's administrator claim asserts, and named.
//! Shared by the jwt-bearer grant and browser sign-on, in the caller's transaction.

use chrono::{DateTime, Utc};
use latchkey_core::{Email, TeamId, UserId};
use latchkey_teams::entities::{membership, user};
use latchkey_teams::{Actor, AuditLog, Role, Subject, TeamError, Teams};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, Condition, DatabaseTransaction, EntityTrait, QueryFilter};
use serde_json::{Value, json};

use super::rejection::Rejection;
use crate::assertion::{self, Verified};
use crate::entities::trusted_issuer;

/// The one refusal for a person this integration may not speak for (an administrator without
/// the issuer's administrator claim, or a member already linked to another external identity).
pub(crate) const NOT_SIGNABLE: &str = "this integration cannot sign in the person it names";

/// The member a token admitted.
pub(crate) struct Admitted {
    pub user_id: UserId,
    /// The address the audit log shows: the person's own, or the one the integration asserted.
    pub shown_email: String,
    pub role: Role,
}

/// Where a token's use is remembered: per team and issuer, so another team that trusts the
/// same issuer cannot spend (or burn) this team's tokens.
pub(crate) fn replay_scope(trusted: &trusted_issuer::Model) -> String {
    format!("issuer:{}:{}", trusted.team_id, trusted.issuer)
}

/// The refusal of a token used before.
pub(crate) fn replayed(verified: &Verified) -> Rejection {
    refused(if verified.replay_key.starts_with("jti:") {
        "this jti was used before (replay)"
    } else {
        "this token was used before (replay)"
    })
}

/// The name the token gives, in the issuer's name claim.
pub(crate) fn name_in(
    verified: &Verified,
    trusted: &trusted_issuer::Model,
) -> Option<latchkey_teams::PersonName> {
    verified
        .claims
        .get(&trusted.name_claim)
        .and_then(Value::as_str)
        .and_then(latchkey_teams::PersonName::parse)
}

fn refused(why: impl Into<String>) -> Rejection {
    Rejection::Refused(why.into())
}

fn internal(error: impl std::fmt::Display) -> Rejection {
    Rejection::Internal(crate::error::OAuthError::internal(error))
}

/// Spends the token, then admits the member it names: linked to the external identity, or a
/// plain member of this team whose own account has the address (linked now), or else a new
/// identity of this team's alone. An integration never creates or claims anyone's account
/// (M1). `actor` is how the audit log names the integration; `client_id` the client that
/// exchanged the token, if one did.
pub(crate) async fn admit(
    txn: &DatabaseTransaction,
    trusted: &trusted_issuer::Model,
    verified: &Verified,
    actor: &Actor,
    client_id: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Admitted, Rejection> {
    let (sub, email) = named_person(verified, trusted)?;
    // The first write of the transaction (see `lock_team`).
    if !assertion::first_use(txn, &replay_scope(trusted), verified).await? {
        return Err(replayed(verified));
    }
    let team_id = TeamId::from(trusted.team_id.as_str());
    let (account, role) = linked_member(txn, trusted, sub, &email, actor, client_id, now).await?;
    let role = asserted_role(txn, trusted, verified, &team_id, &account, role, actor, now).await?;
    // The integration's name for the person, unless they (or the operator) set their own.
    if let Some(name) = name_in(verified, trusted) {
        latchkey_teams::sync_name(txn, &account.id, &name, now).await?;
    }
    Ok(Admitted {
        user_id: UserId::from(account.id.as_str()),
        shown_email: account.shown_email().to_owned(),
        role,
    })
}

/// The member's account and role: already linked, linked now, or provisioned.
async fn linked_member(
    txn: &DatabaseTransaction,
    trusted: &trusted_issuer::Model,
    sub: &str,
    email: &Email,
    actor: &Actor,
    client_id: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(user::Model, Role), Rejection> {
    if let Some(found) = linked(txn, trusted, sub).await? {
        return Ok(found);
    }
    // Linking and provisioning happen one at a time in a team, so two first tokens for one
    // person at once make one member: the second, once it holds the lock, finds the first's.
    latchkey_teams::lock_team(txn, &trusted.team_id.as_str().into(), now)
        .await
        .map_err(internal)?;
    if let Some(found) = linked(txn, trusted, sub).await? {
        return Ok(found);
    }
    let (account, role, action) = match member_with_address(txn, trusted, email).await? {
        Some((account, role)) => {
            link_existing(txn, trusted, sub, &account, role).await?;
            (account, role, "member.linked")
        }
        None => (
            provision(txn, trusted, sub, email, now).await?,
            Role::Member,
            "member.provisioned",
        ),
    };
    AuditLog::record(
        txn,
        Some(&trusted.team_id.as_str().into()),
        action,
        actor,
        &Subject::new(&account.id, account.shown_email()),
        json!({ "issuer": trusted.issuer, "external_id": sub, "client_id": client_id }),
        now,
    )
    .await?;
    Ok((account, role))
}

/// The member linked to the external identity, with their role.
pub(crate) async fn linked<C: sea_orm::ConnectionTrait>(
    txn: &C,
    trusted: &trusted_issuer::Model,
    sub: &str,
) -> Result<Option<(user::Model, Role)>, Rejection> {
    let found = membership::Entity::find()
        .filter(membership::Column::TeamId.eq(trusted.team_id.as_str()))
        .filter(membership::Column::ExternalIssuer.eq(trusted.issuer.as_str()))
        .filter(membership::Column::ExternalId.eq(sub))
        .find_also_related(user::Entity)
        .one(txn)
        .await?;
    Ok(match found {
        Some((member, Some(account))) => Some((account, Role::from_stored(&member.role))),
        _ => None,
    })
}

/// The role the member ends with. Without an administrator claim configured, an integration
/// never speaks for an administrator. With one, the token decides: carrying the claim makes
/// an administrator; lacking it makes a plain member again, except the team's last
/// administrator, who is refused instead.
#[allow(clippy::too_many_arguments)]
async fn asserted_role(
    txn: &DatabaseTransaction,
    trusted: &trusted_issuer::Model,
    verified: &Verified,
    team_id: &TeamId,
    account: &user::Model,
    role: Role,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Role, Rejection> {
    let (Some(claim), Some(value)) = (&trusted.admin_claim, &trusted.admin_value) else {
        return if role == Role::Member {
            Ok(role)
        } else {
            Err(refused(NOT_SIGNABLE))
        };
    };
    let wanted = if carries(verified.claims.get(claim), value) {
        Role::Administrator
    } else {
        Role::Member
    };
    let details = json!({ "issuer": trusted.issuer, "via": "admin_claim", "claim": claim });
    let user_id = UserId::from(account.id.as_str());
    match latchkey_teams::assert_role(txn, team_id, &user_id, wanted, actor, details, now).await {
        Ok(_) => Ok(wanted),
        Err(TeamError::LastAdministrator) => Err(refused(format!(
            "{NOT_SIGNABLE}: the token lacks {claim}={value}, and they are the team's last administrator"
        ))),
        Err(TeamError::Database(e)) => Err(e.into()),
        Err(other) => Err(internal(other)),
    }
}

/// Whether a claim is the value, or a list holding it (groups, roles).
pub(crate) fn carries(claim: Option<&Value>, value: &str) -> bool {
    match claim {
        Some(Value::String(s)) => s == value,
        Some(Value::Array(items)) => items.iter().any(|item| item.as_str() == Some(value)),
        Some(Value::Bool(b)) => b.to_string() == value,
        _ => false,
    }
}

/// The account of this team with the address, and its role: a person's own account that is a
/// member here, or an identity this team's integrations made for it. None for an address no
/// one here has, whatever accounts exist elsewhere, so the answer reveals nothing.
pub(crate) async fn member_with_address<C: sea_orm::ConnectionTrait>(
    txn: &C,
    trusted: &trusted_issuer::Model,
    email: &Email,
) -> Result<Option<(user::Model, Role)>, Rejection> {
    let team = trusted.team_id.as_str();
    let mut candidates = user::Entity::find()
        .filter(
            Condition::any()
                .add(
                    Condition::all()
                        .add(user::Column::Email.eq(email.as_str()))
                        .add(user::Column::ProvisionedBy.is_null()),
                )
                .add(
                    Condition::all()
                        .add(user::Column::ProvisionedBy.eq(team))
                        .add(user::Column::AssertedEmail.eq(email.as_str())),
                ),
        )
        .all(txn)
        .await?;
    // The person's own account first, on every database: it is the one to link.
    candidates.sort_by_key(|account| account.provisioned_by.is_some());
    for account in candidates {
        if let Some(member) = membership::Entity::find_by_id((team.to_owned(), account.id.clone()))
            .one(txn)
            .await?
        {
            // Linked to another external identity: not this one's to take.
            if member.external_issuer.is_some() {
                return Err(refused(NOT_SIGNABLE));
            }
            return Ok(Some((account, Role::from_stored(&member.role))));
        }
    }
    Ok(None)
}

/// A new identity of the issuer's team, a member of it linked to the external identity.
async fn provision(
    txn: &DatabaseTransaction,
    trusted: &trusted_issuer::Model,
    sub: &str,
    email: &Email,
    now: DateTime<Utc>,
) -> Result<user::Model, Rejection> {
    let identity =
        latchkey_teams::provision_identity(txn, trusted.team_id.as_str(), email.as_str(), now)
            .await?;
    Teams::add_member_in(
        txn,
        &trusted.team_id.as_str().into(),
        &identity,
        Role::Member,
        Some((&trusted.issuer, sub)),
        now,
    )
    .await
    .map_err(internal)?;
    Ok(identity)
}

/// Links a member's account to the external identity. An administrator is linked only where
/// the issuer has an administrator claim (which then decides the role); whatever the reason
/// for a refusal, it reads the same.
async fn link_existing(
    txn: &DatabaseTransaction,
    trusted: &trusted_issuer::Model,
    sub: &str,
    account: &user::Model,
    role: Role,
) -> Result<(), Rejection> {
    if role != Role::Member && trusted.admin_claim.is_none() {
        return Err(refused(NOT_SIGNABLE));
    }
    membership::Entity::update_many()
        .col_expr(
            membership::Column::ExternalIssuer,
            Expr::value(trusted.issuer.as_str()),
        )
        .col_expr(membership::Column::ExternalId, Expr::value(sub))
        .filter(membership::Column::TeamId.eq(trusted.team_id.as_str()))
        .filter(membership::Column::UserId.eq(account.id.as_str()))
        .exec(txn)
        .await?;
    Ok(())
}

/// The person the token names: its `sub`, and the address in the issuer's email claim (which
/// may be `sub` itself).
pub(crate) fn named_person<'a>(
    verified: &'a Verified,
    trusted: &trusted_issuer::Model,
) -> Result<(&'a str, Email), Rejection> {
    let claims = &verified.claims;
    let sub = claims
        .get("sub")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty() && s.len() <= 255)
        .ok_or_else(|| refused("sub must be a string of 1 to 255 characters"))?;
    let email = claims
        .get(&trusted.email_claim)
        .and_then(Value::as_str)
        .and_then(|e| Email::parse(e).ok())
        .ok_or_else(|| {
            refused(format!(
                "the {} claim must be an email address",
                trusted.email_claim
            ))
        })?;
    Ok((sub, email))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claim_carries_the_value_as_itself_or_in_a_list() {
        assert!(carries(Some(&json!("admin")), "admin"));
        assert!(carries(Some(&json!(["agent", "admin"])), "admin"));
        assert!(carries(Some(&json!(true)), "true"));
        assert!(!carries(Some(&json!("administrator")), "admin"));
        assert!(!carries(Some(&json!(["agent"])), "admin"));
        assert!(!carries(Some(&json!({ "admin": true })), "admin"));
        assert!(!carries(None, "admin"));
    }
}

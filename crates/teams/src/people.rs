use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};

use crate::entities::user;

/// The account for an address, created if there is none. `ON CONFLICT DO NOTHING` rather
/// than catching the violation, which would abort a PostgreSQL transaction; two concurrent
/// calls for one address get the same account.
pub async fn ensure_user<C: ConnectionTrait>(
    conn: &C,
    email: &str,
    now: DateTime<Utc>,
) -> Result<(user::Model, bool), DbErr> {
    let id = uuid::Uuid::now_v7().to_string();
    let inserted = user::Entity::insert(user::ActiveModel {
        id: Set(id.clone()),
        email: Set(email.to_owned()),
        created_at: Set(now),
        last_sign_in_at: Set(None),
        provisioned_by: Set(None),
        asserted_email: Set(None),
        name: Set(None),
        given_name: Set(None),
        family_name: Set(None),
        name_updated_at: Set(None),
        name_edited: Set(false),
    })
    .on_conflict(
        OnConflict::column(user::Column::Email)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(conn)
    .await?;
    if inserted == 1 {
        tracing::info!(user = %id, "account created");
    }
    let account = user::Entity::find()
        .filter(user::Column::Email.eq(email))
        .one(conn)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("account for {email}")))?;
    Ok((account, inserted == 1))
}

/// The reserved domain (RFC 2606 §2) of the `email` an integration identity holds: no mail
/// reaches it and no one can sign in with it, so the identity is never a person's account.
pub const INTEGRATION_DOMAIN: &str = "integration.invalid";

/// A new identity for a team's integration: the team's alone, signed in only by that
/// integration, holding the address it asserted beside a reserved one of its own.
pub async fn provision_identity<C: ConnectionTrait>(
    conn: &C,
    team_id: &str,
    asserted_email: &str,
    now: DateTime<Utc>,
) -> Result<user::Model, DbErr> {
    let row = identity_row(team_id, asserted_email, None, now);
    let identity = user::Entity::insert(row).exec_with_returning(conn).await?;
    tracing::info!(user = %identity.id, team = %team_id, "integration identity provisioned");
    Ok(identity)
}

/// Writes identities made with [`identity_row`] and their memberships (made with
/// `Teams::membership_row`), many in one statement each.
pub async fn provision_many<C: ConnectionTrait>(
    conn: &C,
    identities: Vec<user::ActiveModel>,
    memberships: Vec<crate::entities::membership::ActiveModel>,
) -> Result<(), DbErr> {
    if !identities.is_empty() {
        user::Entity::insert_many(identities)
            .exec_without_returning(conn)
            .await?;
    }
    if !memberships.is_empty() {
        crate::entities::membership::Entity::insert_many(memberships)
            .exec_without_returning(conn)
            .await?;
    }
    Ok(())
}

/// The row of a new integration identity (see [`provision_identity`]), named if the
/// integration gave a name, for a caller that writes many at once.
pub fn identity_row(
    team_id: &str,
    asserted_email: &str,
    name: Option<&crate::PersonName>,
    now: DateTime<Utc>,
) -> user::ActiveModel {
    let id = uuid::Uuid::now_v7().to_string();
    user::ActiveModel {
        email: Set(format!("{id}@{INTEGRATION_DOMAIN}")),
        id: Set(id),
        created_at: Set(now),
        last_sign_in_at: Set(None),
        provisioned_by: Set(Some(team_id.to_owned())),
        asserted_email: Set(Some(asserted_email.to_owned())),
        name: Set(name.map(|n| n.name.clone())),
        given_name: Set(name.map(|n| n.given_name.clone())),
        family_name: Set(name.and_then(|n| n.family_name.clone())),
        name_updated_at: Set(name.map(|_| now)),
        name_edited: Set(false),
    }
}

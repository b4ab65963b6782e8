//! A person's name, as one field people type, split the way directories want it: Salesforce
//! needs a last name, Freshworks maps first and last names (OpenID Connect Core §5.1).

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};

use crate::entities::user;

/// The longest name kept.
const LONGEST: usize = 200;

/// A name, its given part (all but the last word) and its family part (the last word).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PersonName {
    pub name: String,
    pub given_name: String,
    pub family_name: Option<String>,
}

impl PersonName {
    /// Whitespace runs collapsed; `None` for nothing, a control character, or too long.
    pub fn parse(raw: &str) -> Option<Self> {
        if raw.chars().any(char::is_control) {
            return None;
        }
        let words: Vec<&str> = raw.split_whitespace().collect();
        let name = words.join(" ");
        if name.is_empty() || name.chars().count() > LONGEST {
            return None;
        }
        let (given, family) = match words.split_last() {
            Some((last, rest)) if !rest.is_empty() => (rest.join(" "), Some((*last).to_owned())),
            _ => (name.clone(), None),
        };
        Some(Self {
            name,
            given_name: given,
            family_name: family,
        })
    }
}

/// Sets an account's name, as the person or the operator chose it.
pub async fn set_name<C: ConnectionTrait>(
    conn: &C,
    user_id: &str,
    name: &PersonName,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    write(conn, user_id, name, true, now).await
}

/// Sets the name an integration's assertion gives, unless the person (or the operator) set
/// one themselves.
pub async fn sync_name<C: ConnectionTrait>(
    conn: &C,
    user_id: &str,
    name: &PersonName,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    write(conn, user_id, name, false, now).await
}

async fn write<C: ConnectionTrait>(
    conn: &C,
    user_id: &str,
    name: &PersonName,
    edited: bool,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let mut update = user::Entity::update_many()
        .col_expr(user::Column::Name, Expr::value(name.name.as_str()))
        .col_expr(
            user::Column::GivenName,
            Expr::value(name.given_name.as_str()),
        )
        .col_expr(
            user::Column::FamilyName,
            Expr::value(name.family_name.clone()),
        )
        .col_expr(user::Column::NameUpdatedAt, Expr::value(now))
        .filter(user::Column::Id.eq(user_id));
    if edited {
        update = update.col_expr(user::Column::NameEdited, Expr::value(true));
    } else {
        // Unchanged names are not rewritten, so updated_at means a change.
        update = update.filter(user::Column::NameEdited.eq(false)).filter(
            sea_orm::Condition::any()
                .add(user::Column::Name.is_null())
                .add(user::Column::Name.ne(name.name.as_str())),
        );
    }
    Ok(update.exec(conn).await?.rows_affected == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_field_is_split_into_given_and_family_names() {
        let ada = PersonName::parse("  Ada   King Lovelace ").expect("name");
        assert_eq!(ada.name, "Ada King Lovelace");
        assert_eq!(ada.given_name, "Ada King");
        assert_eq!(ada.family_name.as_deref(), Some("Lovelace"));
        let cher = PersonName::parse("Cher").expect("name");
        assert_eq!((cher.given_name.as_str(), cher.family_name), ("Cher", None));
        for bad in ["", "   ", "a\u{0}b", "line\nbreak", &"x".repeat(201)] {
            assert_eq!(PersonName::parse(bad), None, "{bad:?}");
        }
    }
}

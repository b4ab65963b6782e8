//! `latchkey user set-name`: a person's name, as the operator sets it.

use chrono::Utc;
use latchkey_core::Email;
use latchkey_teams::PersonName;
use latchkey_teams::entities::user;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::commands::open_database;
use crate::config::Settings;
use crate::errors::CliError;

/// `latchkey user set-name --email EMAIL --name NAME`. From then on an integration's name
/// claim no longer changes it.
pub async fn set_name(
    settings: &Settings,
    email: &str,
    name: &str,
    json: bool,
) -> Result<(), CliError> {
    let email = Email::parse(email)
        .map_err(|_| CliError::Usage(format!("--email {email:?} is not an email address")))?;
    let name = PersonName::parse(name).ok_or_else(|| {
        CliError::Usage("--name must be 1 to 200 characters, without control characters".into())
    })?;
    let db = open_database(settings).await?;
    let account = user::Entity::find()
        .filter(user::Column::Email.eq(email.as_str()))
        .one(db.read())
        .await
        .map_err(|e| CliError::Usage(e.to_string()))?
        .ok_or_else(|| CliError::Usage(format!("there is no account for {email}")))?;
    latchkey_teams::set_name(&*db.write().await, &account.id, &name, Utc::now())
        .await
        .map_err(|e| CliError::Usage(e.to_string()))?;
    if json {
        println!(
            "{}",
            serde_json::json!({
                "user_id": account.id,
                "email": account.email,
                "name": name.name,
                "given_name": name.given_name,
                "family_name": name.family_name,
            })
        );
    } else {
        println!("{} is now named {:?}.", account.email, name.name);
    }
    Ok(())
}

//! `latchkey team create | members`, `latchkey join-link create` and `latchkey audit`. The
//! operator at the command line acts with an administrator's rights and is named so in the log.

use chrono::Utc;
use latchkey_core::TeamId;
use latchkey_core::email::Email;
use latchkey_core::secret::SecretToken;
use latchkey_teams::{Actor, AuditFilter, AuditLog, NewJoinLink, Role, TeamError, TeamName, Teams};
use serde_json::json;

use crate::cli::{AuditArgs, JoinLinkCreateArgs};
use crate::commands::open_database;
use crate::config::Settings;
use crate::duration::Ttl;
use crate::errors::CliError;

async fn teams(settings: &Settings) -> Result<Teams, CliError> {
    Ok(Teams::new(
        open_database(settings).await?,
        settings.join_link_max_ttl,
    ))
}

fn print_json(value: &impl serde::Serialize) {
    println!(
        "{}",
        serde_json::to_string(value).unwrap_or_else(|_| "null".into())
    );
}

/// What a refused team command should say.
fn explain(team: &TeamId, error: TeamError) -> CliError {
    match error {
        TeamError::NotFound => CliError::Usage(format!(
            "there is no team {team:?}: use the team_id that `latchkey team create` printed"
        )),
        other => CliError::Usage(other.to_string()),
    }
}

fn email(raw: &str, flag: &str) -> Result<Email, CliError> {
    Email::parse(raw)
        .map_err(|_| CliError::Usage(format!("{flag} {raw:?} is not an email address")))
}

/// `latchkey team create --name NAME --admin EMAIL`.
pub async fn create(
    settings: &Settings,
    name: &str,
    admin: &str,
    json: bool,
) -> Result<(), CliError> {
    let name = TeamName::parse(name).map_err(|e| CliError::Usage(format!("--name: {e}")))?;
    let admin = email(admin, "--admin")?;
    let team = teams(settings)
        .await?
        .create(&name, admin.as_str(), &Actor::operator(), Utc::now())
        .await
        .map_err(|e| CliError::Usage(e.to_string()))?;
    if json {
        print_json(&json!({
            "team_id": team.id,
            "name": team.name,
            "created_at": team.created_at,
            "administrator": admin.as_str(),
        }));
    } else {
        println!("Created team {:?}.", team.name);
        println!("  team_id:       {}", team.id);
        println!(
            "  administrator: {admin} (signs in at {})",
            settings.issuer.endpoint(latchkey_core::urls::LOGIN)
        );
    }
    Ok(())
}

/// `latchkey team members --team TEAM`.
pub async fn members(settings: &Settings, team: &TeamId, json: bool) -> Result<(), CliError> {
    let members = teams(settings)
        .await?
        .members(team, &Actor::operator())
        .await
        .map_err(|e| explain(team, e))?;
    if json {
        print_json(&members);
        return Ok(());
    }
    println!("{:<40} {:<14} JOINED", "EMAIL", "ROLE");
    for m in &members {
        println!(
            "{:<40} {:<14} {}",
            m.email,
            m.role,
            m.joined_at.to_rfc3339()
        );
    }
    Ok(())
}

/// `latchkey join-link create --team TEAM --created-by EMAIL [--ttl 72h] [--role member]`.
pub async fn create_join_link(
    settings: &Settings,
    args: JoinLinkCreateArgs,
    json: bool,
) -> Result<(), CliError> {
    let ttl = args
        .ttl
        .map_or(settings.join_link_max_ttl, Ttl::as_time_delta);
    let role = args.role.unwrap_or(Role::Member);
    let creator = email(&args.created_by, "--created-by")?;
    let teams = teams(settings).await?;
    // The creator must be one of the team's administrators: the log names a person.
    let members = teams
        .members(&args.team, &Actor::operator())
        .await
        .map_err(|e| explain(&args.team, e))?;
    let Some(admin) = members
        .iter()
        .find(|m| !m.unclaimed && m.email == creator.as_str())
    else {
        return Err(CliError::Usage(format!(
            "--created-by {creator} is not a member of team {}",
            args.team
        )));
    };
    if admin.role != Role::Administrator {
        return Err(CliError::Usage(format!(
            "--created-by {creator} is not an administrator of team {}: only administrators create join links",
            args.team
        )));
    }
    let actor = Actor {
        user_id: Some(admin.user_id.clone()),
        label: admin.email.clone(),
        ..Actor::operator()
    };
    let token = SecretToken::generate();
    let link = teams
        .create_join_link(
            NewJoinLink {
                team_id: args.team.clone(),
                role,
                ttl,
                max_uses: args.max_uses,
                token_hash: token.hash(),
            },
            &actor,
            Utc::now(),
        )
        .await
        .map_err(|e| explain(&args.team, e))?;
    let url = settings
        .issuer
        .endpoint(&latchkey_core::urls::join(token.expose()));
    if json {
        let mut value = serde_json::to_value(&link).unwrap_or_default();
        if let Some(object) = value.as_object_mut() {
            object.insert("url".into(), url.into());
        }
        print_json(&value);
    } else {
        println!(
            "Join link for team {} (as {}):",
            args.team,
            link.role.as_str()
        );
        println!("  {url}");
        println!("  expires at {}", link.expires_at.to_rfc3339());
        println!("Share it now: it is not kept and cannot be shown again.");
    }
    Ok(())
}

/// `latchkey audit --team TEAM`: newest first.
pub async fn audit(settings: &Settings, args: AuditArgs, json: bool) -> Result<(), CliError> {
    let filter = AuditFilter {
        action: args.action,
        person: args.person,
        before: args.before,
        limit: args.limit,
    };
    let teams = teams(settings).await?;
    let events = match &args.team {
        Some(team) => teams
            .audit_log(team, &Actor::operator(), &filter)
            .await
            .map_err(|e| explain(team, e))?,
        None => AuditLog::list(open_database(settings).await?.read(), None, &filter)
            .await
            .map_err(|e| CliError::Usage(format!("reading the audit log: {e}")))?,
    };
    if json {
        print_json(&events);
        return Ok(());
    }
    for e in &events {
        println!(
            "{}  {:<22} {:<32} {}  {}",
            e.at.to_rfc3339(),
            e.action,
            e.actor,
            e.subject,
            e.details
        );
    }
    Ok(())
}

/// Records a client's creation or deletion in its team's log (or the instance's, without one).
pub async fn record_client_event(
    db: &sea_orm::DatabaseConnection,
    team: Option<&TeamId>,
    action: &str,
    client_id: &str,
    name: &str,
) -> Result<(), CliError> {
    AuditLog::record(
        db,
        team,
        action,
        &Actor::operator(),
        &latchkey_teams::Subject::new(client_id, name),
        json!({ "client_id": client_id, "name": name }),
        Utc::now(),
    )
    .await
    .map_err(|e| CliError::Usage(format!("writing the audit log: {e}")))
}

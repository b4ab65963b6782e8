//! `latchkey resource add | list | remove`: the APIs access tokens are issued for (RFC 8707).

use chrono::Utc;
use latchkey_oidc::{NewResourceServer, ResourceServers};

use crate::cli::ResourceCommand;
use crate::commands::open_database;
use crate::config::Settings;
use crate::errors::CliError;

pub async fn run(
    settings: &Settings,
    command: ResourceCommand,
    json: bool,
) -> Result<(), CliError> {
    let resources = ResourceServers::new(open_database(settings).await?);
    match command {
        ResourceCommand::Add {
            identifier,
            scopes,
            name,
            team,
            introspection_client,
        } => {
            let added = resources
                .add(
                    NewResourceServer {
                        identifier,
                        name,
                        scopes,
                        team_id: team,
                        introspection_client,
                    },
                    settings.issuer.as_str(),
                    Utc::now(),
                )
                .await?;
            if json {
                println!("{}", serde_json::to_string(&added).unwrap_or_default());
                return Ok(());
            }
            println!("Registered {} ({}).", added.identifier, added.name);
            println!(
                "Clients ask {} for its tokens with resource={}; they carry aud {:?} and the scopes {}.",
                settings.issuer.endpoint(latchkey_core::urls::TOKEN),
                added.identifier,
                added.identifier,
                added.scopes.join(" ")
            );
            println!(
                "The API must check iss {:?}, aud {:?}, typ at+jwt and exp, against {}.",
                settings.issuer.as_str(),
                added.identifier,
                settings.issuer.endpoint("/.well-known/jwks.json")
            );
        }
        ResourceCommand::List { team } => {
            let listed = resources.list(team.as_ref()).await?;
            if json {
                println!("{}", serde_json::to_string(&listed).unwrap_or_default());
            } else if listed.is_empty() {
                println!(
                    "No resource servers yet: `latchkey resource add --identifier URI --scope SCOPE` registers one."
                );
            } else {
                for server in &listed {
                    println!(
                        "{}  {}  {}",
                        server.identifier,
                        server.name,
                        server.scopes.join(" ")
                    );
                }
            }
        }
        ResourceCommand::Remove { identifier } => {
            resources.remove(&identifier).await?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({ "identifier": identifier, "removed": true })
                );
            } else {
                println!("Removed {identifier}: no new tokens are issued for it.");
            }
        }
    }
    Ok(())
}

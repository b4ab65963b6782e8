//! `latchkey issuer add | list | remove`: the integrations a team trusts to sign assertions.

use chrono::Utc;
use latchkey_core::Clock;
use latchkey_oidc::federation::{NewIssuer, TrustedIssuers};
use latchkey_oidc::remote_jwks::RemoteJwks;
use latchkey_teams::Actor;

use crate::cli::IssuerCommand;
use crate::commands::open_database;
use crate::config::Settings;
use crate::serve::ServeError;

pub async fn run(
    settings: &Settings,
    command: IssuerCommand,
    json: bool,
) -> Result<(), ServeError> {
    let jwks = RemoteJwks::new(Clock::system(), settings.allow_private_networks)
        .map_err(|e| ServeError::Usage(format!("building the key fetcher: {e}")))?;
    let issuers = TrustedIssuers::new(open_database(settings).await?, jwks);
    match command {
        IssuerCommand::Add(args) => {
            let jwks = match &args.jwks_file {
                Some(path) => Some(std::fs::read_to_string(path).map_err(|e| {
                    ServeError::Usage(format!("--jwks-file {}: {e}", path.display()))
                })?),
                None => None,
            };
            let added = issuers
                .add(
                    NewIssuer {
                        team_id: args.team,
                        issuer: args.issuer,
                        jwks_uri: args.jwks_uri,
                        jwks,
                        algorithms: args.algorithms,
                        audience: args.audience,
                        max_lifetime: args.max_lifetime.as_time_delta(),
                        email_claim: args.email_claim,
                        name_claim: args.name_claim,
                    },
                    &Actor::operator(),
                    Utc::now(),
                )
                .await?;
            if json {
                println!("{}", serde_json::to_string(&added).unwrap_or_default());
            } else {
                println!(
                    "Trusting {} for team {} (id {}).",
                    added.issuer, added.team_id, added.id
                );
                println!(
                    "Its assertions go to {} with grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer.",
                    settings.issuer.endpoint("/token")
                );
            }
        }
        IssuerCommand::List { team } => {
            let listed = issuers.list(&team, &Actor::operator()).await?;
            if json {
                println!("{}", serde_json::to_string(&listed).unwrap_or_default());
            } else {
                for issuer in &listed {
                    println!(
                        "{}  {}  {}",
                        issuer.id,
                        issuer.issuer,
                        issuer.algorithms.join(",")
                    );
                }
            }
        }
        IssuerCommand::Remove { team, id } => {
            issuers
                .remove(&team, &id, &Actor::operator(), Utc::now())
                .await?;
            if json {
                println!("{}", serde_json::json!({ "id": id, "removed": true }));
            } else {
                println!("No longer trusting issuer {id}.");
            }
        }
    }
    Ok(())
}

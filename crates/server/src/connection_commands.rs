//! `latchkey connection add | list | remove | verify-domain`: a team's own identity providers.

use chrono::Utc;
use latchkey_connections::{Connection, Connections, NewConnection, TxtLookup, Upstream};
use latchkey_core::{ConnectionId, TeamId};
use latchkey_teams::Actor;

use crate::cli::{ConnectionAddArgs, ConnectionCommand};
use crate::commands::open_database;
use crate::config::Settings;
use crate::errors::CliError;
use crate::master_key;

/// The operator's view of connections, with what they need to reach providers and DNS.
pub async fn connections(settings: &Settings) -> Result<Connections, CliError> {
    let upstream = Upstream::new(settings.allow_private_networks, settings.upstream_timeout)
        .map_err(|e| CliError::Usage(format!("building the HTTP client: {e}")))?;
    let dns = TxtLookup::new(settings.dns_server);
    Ok(Connections::new(
        open_database(settings).await?,
        master_key::resolve(&settings.master_key)?,
        upstream,
        dns,
        settings.issuer.clone(),
    ))
}

pub async fn run(
    settings: &Settings,
    command: ConnectionCommand,
    json: bool,
) -> Result<(), CliError> {
    let connections = connections(settings).await?;
    match command {
        ConnectionCommand::Add(args) => add(&connections, *args, json).await,
        ConnectionCommand::List { team } => list(&connections, team.as_ref(), json).await,
        ConnectionCommand::Remove { connection } => remove(&connections, &connection, json).await,
        ConnectionCommand::VerifyDomain { connection, domain } => {
            verify_domain(&connections, &connection, &domain, json).await
        }
    }
}

/// `latchkey connection add`: reads the provider's discovery document, then prints what to
/// register there and the DNS records that prove the domains.
async fn add(
    connections: &Connections,
    args: ConnectionAddArgs,
    json: bool,
) -> Result<(), CliError> {
    let path = &args.client_secret_file;
    let secret = std::fs::read_to_string(path)
        .map_err(|e| CliError::Usage(format!("--client-secret-file {}: {e}", path.display())))?;
    let new = NewConnection {
        client_secret: secret,
        domains: args.domains,
        scopes: args.scopes,
        email_claim: args.email_claim,
        require_email_verified: args.require_email_verified,
        hosted_domain: args.hosted_domain,
        ..NewConnection::new(args.team, args.name, args.issuer, args.client_id)
    };
    if !json {
        eprintln!("Reading {}'s discovery document…", new.issuer.trim());
    }
    let added = connections.add(new, &Actor::operator(), Utc::now()).await?;
    if json {
        println!("{}", serde_json::to_string(&added).unwrap_or_default());
    } else {
        println!(
            "Added {} (connection_id {}) for team {}.",
            added.name, added.connection_id, added.team_id
        );
        println!(
            "Register this redirect URI at the identity provider: {}",
            added.redirect_uri
        );
        if let Some(hd) = &added.hosted_domain {
            println!("Only accounts of the Google Workspace domain {hd} (hd) sign in.");
        }
        print_domains(&added);
    }
    Ok(())
}

/// `latchkey connection list`.
async fn list(
    connections: &Connections,
    team: Option<&TeamId>,
    json: bool,
) -> Result<(), CliError> {
    let listed = connections.list(team, &Actor::operator()).await?;
    if json {
        println!("{}", serde_json::to_string(&listed).unwrap_or_default());
    } else if listed.is_empty() {
        println!("No connections.");
    } else {
        for connection in &listed {
            println!(
                "{}  {}  team {}  {}",
                connection.connection_id, connection.name, connection.team_id, connection.issuer
            );
            print_domains(connection);
        }
    }
    Ok(())
}

/// `latchkey connection remove`.
async fn remove(
    connections: &Connections,
    connection: &ConnectionId,
    json: bool,
) -> Result<(), CliError> {
    let removed = connections
        .remove(connection, &Actor::operator(), Utc::now())
        .await?;
    if json {
        println!("{}", serde_json::to_string(&removed).unwrap_or_default());
    } else {
        println!("Removed {} ({}).", removed.name, removed.connection_id);
    }
    Ok(())
}

/// `latchkey connection verify-domain`.
async fn verify_domain(
    connections: &Connections,
    connection: &ConnectionId,
    domain: &str,
    json: bool,
) -> Result<(), CliError> {
    if !json {
        eprintln!("Looking up the TXT record of {}…", domain.trim());
    }
    let proven = connections
        .verify_domain(connection, domain, &Actor::operator(), Utc::now())
        .await?;
    if json {
        println!("{}", serde_json::to_string(&proven).unwrap_or_default());
    } else {
        println!(
            "{} is proven: its addresses now sign in with this connection.",
            proven.domain
        );
    }
    Ok(())
}

fn print_domains(connection: &Connection) {
    for domain in &connection.domains {
        if domain.proven {
            println!("  {}: proven", domain.domain);
        } else {
            println!(
                "  {}: not proven. Publish the TXT record {} with the text \"{}\", then run: latchkey connection verify-domain --connection {} --domain {}",
                domain.domain,
                domain.txt_name,
                domain.txt_value,
                connection.connection_id,
                domain.domain
            );
        }
    }
}

//! `latchkey client create | list | delete | rotate-secret`.

use chrono::Utc;
use latchkey_oidc::{Clients, NewClient};

use crate::cli::ClientCreateArgs;
use crate::commands::open_database;
use crate::config::Settings;
use crate::errors::CliError;
use crate::team_commands::record_client_event;
use sea_orm::EntityTrait;

/// `latchkey client create`: prints the client with its secret, which is not stored.
pub async fn create(
    settings: &Settings,
    args: ClientCreateArgs,
    json: bool,
) -> Result<(), CliError> {
    let jwks = match &args.jwks_file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .map_err(|e| CliError::Usage(format!("--jwks-file {}: {e}", path.display())))?,
        ),
        None => None,
    };
    let db = open_database(settings).await?;
    if let Some(team) = &args.team
        && latchkey_teams::entities::team::Entity::find_by_id(team.as_str())
            .one(db.read())
            .await
            .map_err(|e| CliError::Usage(e.to_string()))?
            .is_none()
    {
        return Err(CliError::Usage(format!(
            "--team {team:?} is not a team id of this instance: use the team_id that `latchkey team create` printed"
        )));
    }
    let clients = Clients::new(db.clone());
    let created = clients
        .create(
            NewClient {
                name: args.name,
                team_id: args.team,
                redirect_uris: args.redirect_uris,
                post_logout_redirect_uris: args.post_logout_redirect_uris,
                public: args.public,
                grant_types: args.grant_types,
                auth_method: args.auth_method,
                jwks_uri: args.jwks_uri,
                jwks,
                scopes: args.scopes,
                first_party: args.first_party,
                pkce_optional: args.pkce_optional,
                id_token_alg: args.id_token_alg,
                initiate_login_uri: args.initiate_login_uri,
            },
            Utc::now(),
        )
        .await?;
    if json {
        println!(
            "{}",
            serde_json::to_string(&created).unwrap_or_else(|_| "{}".into())
        );
        return audit_created(&db, &created).await;
    }
    println!("Created client {:?}.", created.details.name);
    println!("  client_id:     {}", created.client_id);
    match &created.client_secret {
        Some(secret) => {
            println!("  client_secret: {secret}");
            println!("Store the secret now: it is not kept and cannot be shown again.");
        }
        None => println!(
            "  client_secret: none ({})",
            created.details.token_endpoint_auth_method
        ),
    }
    if let Some(uri) = &created.details.initiate_login_uri {
        println!("  login URI:     {uri} (members open it from /apps)");
    }
    println!("  issuer:        {}", settings.issuer);
    println!(
        "  discovery:     {}",
        settings
            .issuer
            .endpoint("/.well-known/openid-configuration")
    );
    audit_created(&db, &created).await
}

/// Recorded after the secret is printed: a failure to write the log must not lose it.
async fn audit_created(
    db: &latchkey_core::Db,
    created: &latchkey_oidc::CreatedClient,
) -> Result<(), CliError> {
    record_client_event(
        &*db.write().await,
        created.details.team.as_ref(),
        "client.created",
        &created.client_id,
        &created.details.name,
    )
    .await
}

/// `latchkey client list`.
pub async fn list(settings: &Settings, json: bool) -> Result<(), CliError> {
    let clients = Clients::new(open_database(settings).await?).list().await?;
    if json {
        let views: Vec<serde_json::Value> = clients
            .iter()
            .map(|(id, summary)| {
                let mut value = serde_json::to_value(summary).unwrap_or_default();
                if let Some(object) = value.as_object_mut() {
                    object.insert("client_id".into(), id.to_string().into());
                }
                value
            })
            .collect();
        println!("{}", serde_json::Value::Array(views));
        return Ok(());
    }
    if clients.is_empty() {
        println!(
            "No clients yet: `latchkey client create --name NAME --redirect-uri URI` registers one."
        );
        return Ok(());
    }
    println!("{:<24} {:<28} {:<20} GRANTS", "CLIENT_ID", "NAME", "AUTH");
    for (id, c) in &clients {
        println!(
            "{:<24} {:<28} {:<20} {}",
            id,
            c.name,
            c.token_endpoint_auth_method,
            c.grant_types.join(",")
        );
        if let Some(uri) = &c.initiate_login_uri {
            println!("{:<24} opens from /apps at {uri}", "");
        }
    }
    Ok(())
}

/// `latchkey client delete`.
pub async fn delete(
    settings: &Settings,
    client_id: &latchkey_core::ClientId,
    json: bool,
) -> Result<(), CliError> {
    let db = open_database(settings).await?;
    let clients = Clients::new(db.clone());
    let found = clients.find(client_id).await?;
    clients.delete(client_id).await?;
    if let Some(client) = found {
        record_client_event(
            &*db.write().await,
            client.team_id.as_ref(),
            "client.deleted",
            client_id,
            &client.name,
        )
        .await?;
    }
    if json {
        println!(
            "{}",
            serde_json::json!({ "client_id": client_id, "deleted": true })
        );
    } else {
        println!("Deleted client {client_id} and everything issued to it.");
    }
    Ok(())
}

/// `latchkey client rotate-secret`: prints the new secret, which is not stored.
pub async fn rotate_secret(
    settings: &Settings,
    client_id: &latchkey_core::ClientId,
    grace: latchkey_oidc::Grace,
    json: bool,
) -> Result<(), CliError> {
    let db = open_database(settings).await?;
    let (client, secret, until) = Clients::new(db.clone())
        .rotate_secret(client_id, grace, Utc::now())
        .await?;
    let until = until.map(|at| at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    if json {
        println!(
            "{}",
            serde_json::json!({
                "client_id": client_id,
                "client_secret": secret,
                "previous_secret_until": until,
            })
        );
    } else {
        println!("New secret of client {client_id} (shown once, only its hash is kept):");
        println!("  client_secret: {secret}");
        match &until {
            Some(at) => println!("The previous secret keeps working until {at}."),
            None => println!("The previous secret no longer works."),
        }
    }
    // Recorded after the secret is printed: a failure to write the log must not lose it.
    record_client_event(
        &*db.write().await,
        client.team_id.as_ref(),
        "client.secret_rotated",
        client_id,
        &client.name,
    )
    .await
}

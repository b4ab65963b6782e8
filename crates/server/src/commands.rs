//! The one-shot commands: each connects, migrates, does its work and prints the result.

use chrono::{DateTime, SecondsFormat, Utc};
use latchkey_keys::{KeyStore, ScheduledKey};
use serde::Serialize;

use crate::config::Settings;
use crate::errors::CliError;
use crate::{database, master_key};

pub(crate) async fn open_database(settings: &Settings) -> Result<latchkey_core::Db, CliError> {
    let db = database::connect(&settings.database_url, settings.database_max_connections).await?;
    database::migrate(&db, &settings.database_url).await?;
    Ok(db)
}

async fn key_store(settings: &Settings) -> Result<KeyStore, CliError> {
    let db = open_database(settings).await?;
    Ok(KeyStore::new(
        db.read().clone(),
        master_key::resolve(&settings.master_key)?,
        settings.key_policy,
    ))
}

/// `latchkey migrate`.
pub async fn migrate(settings: &Settings, json: bool) -> Result<(), CliError> {
    open_database(settings).await?;
    if json {
        println!(
            "{}",
            serde_json::json!({ "migrated": true, "database_url": database::redact(&settings.database_url) })
        );
    } else {
        println!(
            "The database at {} is up to date.",
            database::redact(&settings.database_url)
        );
    }
    Ok(())
}

/// `latchkey keys list`.
pub async fn keys_list(settings: &Settings, json: bool) -> Result<(), CliError> {
    // Listing reads no private key: it neither needs nor generates a master key.
    let db = open_database(settings).await?;
    let keys = latchkey_keys::list_keys(db.read(), &settings.key_policy, Utc::now()).await?;
    if keys.is_empty() && !json {
        println!(
            "There are no signing keys yet: `latchkey serve` or `latchkey keys rotate` creates them."
        );
        return Ok(());
    }
    print_keys(&keys, json);
    Ok(())
}

/// `latchkey keys rotate`: prints the keys the rotation created or moved.
pub async fn keys_rotate(settings: &Settings, json: bool) -> Result<(), CliError> {
    let store = key_store(settings).await?;
    let now = Utc::now();
    let before = store.schedule(now).await?;
    let after = store.rotate(now).await?;
    record_rotation(settings, now).await?;
    let changed: Vec<ScheduledKey> = after
        .into_iter()
        .filter(|key| {
            !before
                .iter()
                .any(|old| old.kid == key.kid && old.activates_at == key.activates_at)
        })
        .collect();
    print_keys(&changed, json);
    Ok(())
}

/// `latchkey keys rotate-master`: seals every signing key, waiting mail, connection client
/// secret, SAML certificate key and SAML pairwise key under the new master key, with the previous one configured to open them. (Pending
/// upstream sign-ins, sealed too, last ten minutes: they are left to expire.)
pub async fn keys_rotate_master(settings: &Settings, json: bool) -> Result<(), CliError> {
    let master_key = master_key::resolve(&settings.master_key)?;
    if !master_key.has_previous() {
        return Err(CliError::Usage(
            "set keys.master_key to the new master key and keys.previous_master_key to the one it replaces, then run this again".into(),
        ));
    }
    let db = open_database(settings).await?;
    let store = KeyStore::new(db.read().clone(), master_key.clone(), settings.key_policy);
    if !json {
        eprintln!("Sealing the signing keys under the new master key…");
    }
    let keys = store.reseal_all().await?;
    if !json {
        eprintln!("  {keys} signing keys done. Sealing the mail waiting to be sent…");
    }
    let mails = latchkey_login::mail::reseal_waiting(&db, &master_key)
        .await
        .map_err(|e| CliError::Usage(format!("sealing the waiting mail: {e}")))?;
    if !json {
        eprintln!("  {mails} mails done. Sealing the identity providers' client secrets…");
    }
    let secrets = crate::connection_commands::connections(settings)
        .await?
        .reseal_secrets()
        .await?;
    if !json {
        eprintln!(
            "  {secrets} client secrets done. Sealing the SAML certificates' keys and pairwise keys…"
        );
    }
    let saml = crate::saml_commands::registry(settings).await?;
    let certificates = saml.certificates().reseal().await?;
    let pairwise = latchkey_saml::seal_pairwise_keys(&db, &master_key, true).await?;
    if json {
        println!(
            "{}",
            serde_json::json!({
                "signing_keys": keys,
                "mails": mails,
                "connection_secrets": secrets,
                "saml_certificates": certificates,
                "saml_pairwise_keys": pairwise,
            })
        );
    } else {
        println!(
            "Sealed {keys} signing keys, {mails} waiting mails, {secrets} client secrets, {certificates} SAML certificate keys and {pairwise} SAML pairwise keys under the new master key. Remove keys.previous_master_key from every replica's configuration and restart them."
        );
    }
    Ok(())
}

/// A rotation changes which key signs every team's tokens, so each team's log records it.
async fn record_rotation(settings: &Settings, now: chrono::DateTime<Utc>) -> Result<(), CliError> {
    use latchkey_teams::entities::team;
    use sea_orm::{EntityTrait, QuerySelect};
    let db = open_database(settings).await?;
    let teams: Vec<latchkey_core::TeamId> = team::Entity::find()
        .select_only()
        .column(team::Column::Id)
        .into_tuple::<String>()
        .all(db.read())
        .await
        .map_err(|e| CliError::Usage(format!("writing the audit log: {e}")))?
        .into_iter()
        .map(latchkey_core::TeamId::from)
        .collect();
    latchkey_teams::AuditLog::record_for_teams(
        &*db.write().await,
        &teams,
        "key.rotated",
        &latchkey_teams::Actor::operator(),
        &latchkey_teams::Subject {
            id: None,
            label: "signing keys".into(),
        },
        serde_json::json!({}),
        now,
    )
    .await
    .map_err(|e| CliError::Usage(format!("writing the audit log: {e}")))
}

#[derive(Serialize)]
struct KeyView<'a> {
    kid: &'a str,
    algorithm: &'a str,
    state: latchkey_keys::KeyState,
    created_at: String,
    activates_at: String,
    retires_at: Option<String>,
    unpublished_at: Option<String>,
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn print_keys(keys: &[ScheduledKey], json: bool) {
    let views: Vec<KeyView<'_>> = keys
        .iter()
        .map(|k| KeyView {
            kid: &k.kid,
            algorithm: k.algorithm.as_str(),
            state: k.state,
            created_at: rfc3339(k.created_at),
            activates_at: rfc3339(k.activates_at),
            retires_at: k.retires_at.map(rfc3339),
            unpublished_at: k.unpublished_at.map(rfc3339),
        })
        .collect();
    if json {
        println!(
            "{}",
            serde_json::to_string(&views).unwrap_or_else(|_| "[]".into())
        );
        return;
    }
    println!(
        "{:<44} {:<6} {:<8} {:<21} {:<21}",
        "KID", "ALG", "STATE", "ACTIVATES", "RETIRES"
    );
    for v in &views {
        let state = serde_json::to_value(v.state)
            .ok()
            .and_then(|s| s.as_str().map(str::to_owned))
            .unwrap_or_default();
        println!(
            "{:<44} {:<6} {:<8} {:<21} {:<21}",
            v.kid,
            v.algorithm,
            state,
            v.activates_at,
            v.retires_at.as_deref().unwrap_or("-")
        );
    }
}

/// `latchkey probe`: GET /readyz on this configuration's `listen` address (an unspecified
/// address, 0.0.0.0 or ::, is asked on loopback).
pub async fn probe(settings: &Settings) -> Result<(), CliError> {
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;

    let mut addr = settings.listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            std::net::SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    let uri = format!("http://{addr}/readyz");
    let client = Client::builder(TokioExecutor::new()).build_http::<axum::body::Body>();
    let request = axum::http::Request::get(&uri)
        .body(axum::body::Body::empty())
        .map_err(|e| CliError::Usage(format!("{uri}: {e}")))?;
    match tokio::time::timeout(std::time::Duration::from_secs(5), client.request(request)).await {
        Ok(Ok(response)) if response.status().is_success() => {
            println!("ready: {uri} answered {}", response.status());
            Ok(())
        }
        Ok(Ok(response)) => Err(CliError::Usage(format!(
            "not ready: {uri} answered {}",
            response.status()
        ))),
        Ok(Err(error)) => Err(CliError::Usage(format!("not ready: {uri}: {error}"))),
        Err(_) => Err(CliError::Usage(format!(
            "not ready: {uri} did not answer within 5 s"
        ))),
    }
}

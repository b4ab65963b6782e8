//! `latchkey issuer add | list | remove`: the integrations a team trusts to sign assertions.

use chrono::Utc;
use latchkey_core::{Clock, TeamId, TrustedIssuerId};
use latchkey_oidc::federation::{AdminClaim, NewIssuer, TrustedIssuers};
use latchkey_oidc::remote_jwks::RemoteJwks;
use latchkey_teams::Actor;

use crate::cli::{IssuerAddArgs, IssuerCommand};
use crate::commands::open_database;
use crate::config::Settings;
use crate::errors::CliError;

pub async fn run(settings: &Settings, command: IssuerCommand, json: bool) -> Result<(), CliError> {
    let jwks = RemoteJwks::new(Clock::system(), settings.allow_private_networks)
        .map_err(|e| CliError::Usage(format!("building the key fetcher: {e}")))?;
    let issuers = TrustedIssuers::new(open_database(settings).await?, jwks);
    match command {
        IssuerCommand::Add(args) => add(settings, &issuers, *args, json).await,
        IssuerCommand::List { team } => list(&issuers, &team, json).await,
        IssuerCommand::Remove { team, id } => remove(&issuers, &team, &id, json).await,
    }
}

/// `latchkey issuer add`: prints where the issuer's tokens go, and its keys' ids.
async fn add(
    settings: &Settings,
    issuers: &TrustedIssuers,
    args: IssuerAddArgs,
    json: bool,
) -> Result<(), CliError> {
    let new = new_issuer(args)?;
    let added = issuers.add(new, &Actor::operator(), Utc::now()).await?;
    // The team's own browser sign-on URL: only its trusts count there (see `urls::SSO_JWT_TEAM`).
    let sign_on_url = settings
        .issuer
        .endpoint(&latchkey_core::urls::sso_jwt_team(added.team_id.as_str()));
    if json {
        let mut shown = serde_json::to_value(&added).unwrap_or_default();
        if let Some(fields) = shown.as_object_mut() {
            fields.insert("sign_on_url".into(), sign_on_url.into());
        }
        println!("{shown}");
        return Ok(());
    }
    println!(
        "Trusting {} for team {} (id {}).",
        added.issuer, added.team_id, added.id
    );
    println!(
        "Its tokens go to {} with grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer,",
        settings.issuer.endpoint(latchkey_core::urls::TOKEN)
    );
    println!(
        "or sign a person in to Latchkey by posting the form field token=JWT to {sign_on_url}."
    );
    for kid in &added.key_ids {
        println!("Key id (RFC 7638 thumbprint): {kid}");
    }
    Ok(())
}

/// The issuer `issuer add` describes, with the key files it names read.
fn new_issuer(args: IssuerAddArgs) -> Result<NewIssuer, CliError> {
    let read = |flag: &str, path: &std::path::Path| {
        std::fs::read_to_string(path)
            .map_err(|e| CliError::Usage(format!("{flag} {}: {e}", path.display())))
    };
    let jwks = match &args.jwks_file {
        Some(path) => Some(read("--jwks-file", path)?),
        None => None,
    };
    let public_keys_pem = args
        .public_key_files
        .iter()
        .map(|path| read("--public-key-file", path))
        .collect::<Result<_, _>>()?;
    let admin_claim = args
        .allow_admin_claim
        .as_deref()
        .map(AdminClaim::parse)
        .transpose()?;
    Ok(NewIssuer {
        jwks_uri: args.jwks_uri,
        jwks,
        public_keys_pem,
        algorithms: args.algorithms,
        audience: args.audience,
        max_lifetime: args.max_lifetime.as_time_delta(),
        email_claim: args.email_claim,
        name_claim: args.name_claim,
        require_jti: args.require_jti,
        admin_claim,
        frame_origins: args.frame_origins,
        ..NewIssuer::new(args.team, args.issuer)
    })
}

/// `latchkey issuer list`.
async fn list(issuers: &TrustedIssuers, team: &TeamId, json: bool) -> Result<(), CliError> {
    let listed = issuers.list(team, &Actor::operator()).await?;
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
    Ok(())
}

/// `latchkey issuer remove`.
async fn remove(
    issuers: &TrustedIssuers,
    team: &TeamId,
    id: &TrustedIssuerId,
    json: bool,
) -> Result<(), CliError> {
    issuers
        .remove(team, id, &Actor::operator(), Utc::now())
        .await?;
    if json {
        println!("{}", serde_json::json!({ "id": id, "removed": true }));
    } else {
        println!("No longer trusting issuer {id}.");
    }
    Ok(())
}

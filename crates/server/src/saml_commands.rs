//! `latchkey saml-sp add | list | update | remove`: a team's SAML 2.0 service providers.

use std::path::PathBuf;

use chrono::Utc;
use latchkey_saml::{
    Attribute, AttributeFormat, Certificates, MAX_METADATA, NewServiceProvider, ServiceProvider,
    ServiceProviderChange, ServiceProviders, SpMetadata,
};
use latchkey_teams::Actor;

use crate::cli::{SamlSpAddArgs, SamlSpCommand, SamlSpUpdateArgs};
use crate::commands::open_database;
use crate::config::Settings;
use crate::errors::CliError;

/// Every team's service providers and SAML certificates, on the configured database.
pub async fn registry(settings: &Settings) -> Result<ServiceProviders, CliError> {
    let db = open_database(settings).await?;
    let master_key = crate::master_key::resolve(&settings.master_key)?;
    let certificates =
        Certificates::new(db.clone(), master_key, settings.saml_certificate_lifetime);
    Ok(ServiceProviders::new(
        db,
        settings.issuer.clone(),
        certificates,
    ))
}

pub async fn run(settings: &Settings, command: SamlSpCommand, json: bool) -> Result<(), CliError> {
    let registry = registry(settings).await?;
    let operator = Actor::operator();
    match command {
        SamlSpCommand::Add(args) => {
            let new = new_service_provider(*args, json).await?;
            let mut added = registry.add(new, &operator, Utc::now()).await?;
            registry.describe_certificate(&mut added).await?;
            if json {
                println!("{}", serde_json::to_string(&added).unwrap_or_default());
            } else {
                println!(
                    "Added {} (sp_id {}) for team {}.",
                    added.name, added.sp_id, added.team_id
                );
                println!(
                    "Give the SP this identity provider metadata: {}",
                    added.metadata_url
                );
                println!(
                    "(or by hand: entity ID {}, sign-on URL {}, logout URL {}, and the certificate in the metadata, which lasts until {})",
                    added.idp_entity_id,
                    added.idp_sso_url,
                    added.idp_slo_url,
                    added.certificate_expires_at.as_deref().unwrap_or("-")
                );
                match &added.init_url {
                    Some(url) => println!("People can start signing in to it at: {url}"),
                    None => println!("Sign-ons start at the SP only (--idp-initiated false)."),
                }
            }
        }
        SamlSpCommand::List { team } => {
            let listed = registry.list(team.as_ref(), &operator).await?;
            if json {
                println!("{}", serde_json::to_string(&listed).unwrap_or_default());
            } else if listed.is_empty() {
                println!("No SAML service providers.");
            } else {
                for sp in &listed {
                    print_line(sp);
                }
            }
        }
        SamlSpCommand::Update(args) => {
            let sp = args.sp.clone();
            let change = service_provider_change(*args, json).await?;
            let (updated, changed) = registry.update(&sp, change, &operator, Utc::now()).await?;
            if json {
                let mut out = serde_json::to_value(&updated).unwrap_or_default();
                out["changed"] = serde_json::json!(changed);
                println!("{out}");
            } else if changed.is_empty() {
                println!("Nothing changed: {} is as registered.", updated.name);
            } else {
                println!(
                    "Updated {} ({}): {}.",
                    updated.name,
                    updated.sp_id,
                    changed.join(", ")
                );
            }
        }
        SamlSpCommand::Remove { sp } => {
            let removed = registry.remove(&sp, &operator, Utc::now()).await?;
            if json {
                println!("{}", serde_json::to_string(&removed).unwrap_or_default());
            } else {
                println!("Removed {} ({}).", removed.name, removed.sp_id);
            }
        }
    }
    Ok(())
}

fn print_line(sp: &ServiceProvider) {
    let audience = sp
        .audience
        .as_deref()
        .map(|audience| format!("  audience {audience}"))
        .unwrap_or_default();

    let certificate = match (&sp.certificate_expires_at, sp.certificate_expires_soon) {
        (Some(at), true) => {
            format!("certificate ends {at}: roll it over (saml-cert add, then use)")
        }
        (Some(at), false) => format!("certificate until {at}"),
        (None, _) => "shared identity: move it with --identity team".to_owned(),
    };
    println!(
        "{}  {}  team {}  {}{audience}  {}  IdP {}  {}",
        sp.sp_id,
        sp.name,
        sp.team_id,
        sp.entity_id,
        sp.acs_urls.join(", "),
        sp.idp_entity_id,
        certificate
    );
}

/// The flags, over what the SP's metadata says when it is given, over what is registered.
async fn service_provider_change(
    args: SamlSpUpdateArgs,
    json: bool,
) -> Result<ServiceProviderChange, CliError> {
    let usage = CliError::Usage;
    let metadata = read_metadata(
        &args.settings.metadata_file,
        &args.settings.metadata_url,
        json,
    )
    .await?;
    let from_metadata = metadata.is_some();
    let metadata = metadata.unwrap_or_default();
    // A certificate: the file given, none when told, or the metadata's when it was read.
    let cert = |path: &Option<PathBuf>, flag: &str, none: bool, read: Option<String>| {
        Ok::<_, CliError>(match read_pem(path, flag)? {
            Some(pem) => Some(Some(pem)),
            None if none => Some(None),
            None => from_metadata.then_some(read),
        })
    };
    Ok(ServiceProviderChange {
        entity_id: args
            .entity_id
            .or(from_metadata.then_some(metadata.entity_id)),
        name: args.settings.name,
        // The metadata's endpoints come with its URLs; URLs given alone forget them.
        acs_endpoints: (args.acs_urls.is_empty() && from_metadata && !metadata.acs_urls.is_empty())
            .then(|| metadata.acs_endpoints.clone()),
        acs_urls: match args.acs_urls.is_empty() {
            false => Some(args.acs_urls),
            true => (from_metadata && !metadata.acs_urls.is_empty()).then_some(metadata.acs_urls),
        },
        requires_signed_requests: args
            .settings
            .require_signed_requests
            .or(metadata.authn_requests_signed),
        allow_sha1: args.settings.allow_sha1_signatures,
        slo_url: match (args.settings.slo_url, args.no_slo_url) {
            (Some(url), _) => Some(Some(url)),
            (None, true) => Some(None),
            (None, false) => from_metadata.then_some(metadata.slo_url),
        },
        name_id_format: match args.settings.name_id_format {
            Some(format) => Some(format.parse().map_err(usage)?),
            None => metadata.name_id_format,
        },
        // The metadata's requested attributes are not taken here: the registered ones may
        // hold fixed values an administrator gave.
        attributes: match args.settings.attributes.is_empty() {
            false => Some(parse_attributes(&args.settings.attributes)?),
            true => None,
        },
        attribute_formats: parse_formats(&args.settings.attribute_formats)?,
        audience: match (args.settings.audience, args.no_audience) {
            (Some(audience), _) => Some(Some(audience)),
            (None, true) => Some(None),
            (None, false) => None,
        },
        sign: args
            .settings
            .sign
            .map(|s| s.parse())
            .transpose()
            .map_err(usage)?,
        signing_cert: cert(
            &args.settings.signing_cert,
            "--signing-cert",
            args.no_signing_cert,
            metadata.signing_cert,
        )?,
        encrypt_cert: cert(
            &args.settings.encrypt_cert,
            "--encrypt-cert",
            args.no_encrypt_cert,
            metadata.encrypt_cert,
        )?,
        encryption: match args.settings.encryption {
            Some(encryption) => Some(encryption.parse().map_err(usage)?),
            None => metadata.encryption,
        },
        idp_initiated: args.idp_initiated,
        move_to_team_identity: args.identity.is_some(),
    })
}

/// The SP's metadata, from the file or URL given.
async fn read_metadata(
    file: &Option<PathBuf>,
    url: &Option<String>,
    json: bool,
) -> Result<Option<SpMetadata>, CliError> {
    Ok(match (file, url) {
        (Some(path), _) => {
            let xml = std::fs::read_to_string(path)
                .map_err(|e| CliError::Usage(format!("--metadata-file {}: {e}", path.display())))?;
            Some(SpMetadata::parse(&xml)?)
        }
        (None, Some(url)) => {
            if !json {
                eprintln!("Reading the SP's metadata from {url}…");
            }
            Some(SpMetadata::parse(&fetch_metadata(url).await?)?)
        }
        (None, None) => None,
    })
}

fn read_pem(path: &Option<PathBuf>, flag: &str) -> Result<Option<String>, CliError> {
    path.as_ref()
        .map(|p| {
            std::fs::read_to_string(p)
                .map_err(|e| CliError::Usage(format!("{flag} {}: {e}", p.display())))
        })
        .transpose()
}

/// Each `--attribute`, a comma list or one attribute (a fixed value takes the rest).
fn parse_attributes(flags: &[String]) -> Result<Vec<Attribute>, CliError> {
    Ok(flags
        .iter()
        .flat_map(|flag| latchkey_saml::split_attribute_list(flag))
        .map(Attribute::parse)
        .collect::<Result<Vec<_>, _>>()?)
}

fn parse_formats(pairs: &[String]) -> Result<Vec<(String, AttributeFormat)>, CliError> {
    Ok(pairs
        .iter()
        .map(|pair| latchkey_saml::parse_attribute_format(pair))
        .collect::<Result<Vec<_>, _>>()?)
}

/// The flags, over what the SP's metadata says when it is given.
async fn new_service_provider(
    args: SamlSpAddArgs,
    json: bool,
) -> Result<NewServiceProvider, CliError> {
    let usage = CliError::Usage;
    let metadata = read_metadata(
        &args.settings.metadata_file,
        &args.settings.metadata_url,
        json,
    )
    .await?
    .unwrap_or_default();
    // The flags, else what the SP's metadata requests (else, when both are empty, the usual).
    let attributes = match parse_attributes(&args.settings.attributes)? {
        given if given.is_empty() => metadata.attributes,
        given => given,
    };
    Ok(NewServiceProvider {
        team_id: args.team,
        entity_id: args.entity_id.unwrap_or(metadata.entity_id),
        name: args.settings.name,
        // The metadata's endpoints (each with its index) come with its URLs only.
        acs_endpoints: match args.acs_urls.is_empty() {
            true => metadata.acs_endpoints,
            false => Vec::new(),
        },
        acs_urls: if args.acs_urls.is_empty() {
            metadata.acs_urls
        } else {
            args.acs_urls
        },
        requires_signed_requests: args
            .settings
            .require_signed_requests
            .or(metadata.authn_requests_signed)
            .unwrap_or(false),
        allow_sha1: args.settings.allow_sha1_signatures.unwrap_or(false),
        slo_url: args.settings.slo_url.or(metadata.slo_url),
        name_id_format: match args.settings.name_id_format {
            Some(format) => format.parse().map_err(usage)?,
            None => metadata.name_id_format.unwrap_or_default(),
        },
        attributes,
        attribute_formats: parse_formats(&args.settings.attribute_formats)?,
        audience: args.settings.audience,
        sign: match args.settings.sign {
            Some(sign) => sign.parse().map_err(usage)?,
            None => Default::default(),
        },
        signing_cert: read_pem(&args.settings.signing_cert, "--signing-cert")?
            .or(metadata.signing_cert),
        encrypt_cert: read_pem(&args.settings.encrypt_cert, "--encrypt-cert")?
            .or(metadata.encrypt_cert),
        encryption: match args.settings.encryption {
            Some(encryption) => encryption.parse().map_err(usage)?,
            None => metadata.encryption.unwrap_or_default(),
        },
        idp_initiated: args.idp_initiated,
    })
}

async fn fetch_metadata(url: &str) -> Result<String, CliError> {
    let failed = |e: String| CliError::Usage(format!("--metadata-url {url}: {e}"));
    // What it says is trusted (the certificates): it comes over TLS, or from this machine.
    // The operator names it, so any host of theirs is reached; redirects are not followed,
    // as for every fetch: give the metadata's own URL.
    let egress = latchkey_egress::Egress::for_operator(std::time::Duration::from_secs(10))
        .map_err(|e| failed(e.to_string()))?;
    let bytes = egress.get(url, MAX_METADATA).await.map_err(|e| match e {
        latchkey_egress::FetchError::TooLarge(_) => {
            failed(format!("larger than {} KiB", MAX_METADATA / 1024))
        }
        latchkey_egress::FetchError::Refused(_) => failed("give an https URL".to_owned()),
        other => failed(other.to_string()),
    })?;
    String::from_utf8(bytes).map_err(|_| failed("not UTF-8".to_owned()))
}

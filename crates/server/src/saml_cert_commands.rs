//! `latchkey saml-cert list | add | use | retire`: a team's SAML signing certificates.

use chrono::Utc;
use latchkey_saml::TeamCertificate;
use latchkey_teams::Actor;

use crate::cli::SamlCertCommand;
use crate::config::Settings;
use crate::errors::CliError;

pub async fn run(
    settings: &Settings,
    command: SamlCertCommand,
    json: bool,
) -> Result<(), CliError> {
    let registry = crate::saml_commands::registry(settings).await?;
    let certificates = registry.certificates();
    let operator = Actor::operator();
    let now = Utc::now();
    match command {
        SamlCertCommand::List { team } => {
            let listed = certificates.list(&team, &operator, now).await?;
            if json {
                println!("{}", serde_json::to_string(&listed).unwrap_or_default());
            } else if listed.is_empty() {
                println!(
                    "No SAML certificates: the team gets one with its first SAML service provider."
                );
            } else {
                listed.iter().for_each(print_line);
            }
        }
        SamlCertCommand::Add { team } => {
            let added = certificates.add(&team, &operator, now).await?;
            if json {
                println!("{}", serde_json::to_string(&added).unwrap_or_default());
            } else {
                print_line(&added);
                println!(
                    "Published in the team's metadata; nothing signs with it yet. Give it to each SP, then run: latchkey saml-cert use --team {team} --certificate {}",
                    added.certificate_id
                );
                print!("{}", added.cert_pem);
            }
        }
        SamlCertCommand::Use {
            team,
            certificate,
            sp,
        } => {
            let (used, switched) = certificates
                .use_for(&team, &certificate, sp.as_ref(), &operator, now)
                .await?;
            if json {
                let mut out = serde_json::to_value(&used).unwrap_or_default();
                out["switched"] = serde_json::json!(switched);
                println!("{out}");
            } else {
                println!(
                    "{switched} service providers now get responses signed with {} (SHA-256 {}).",
                    used.certificate_id, used.fingerprint_sha256
                );
            }
        }
        SamlCertCommand::Retire { certificate } => {
            let retired = certificates
                .retire(None, &certificate, &operator, now)
                .await?;
            if json {
                println!("{}", serde_json::to_string(&retired).unwrap_or_default());
            } else {
                println!(
                    "Retired {}: it is no longer in the team's metadata.",
                    retired.certificate_id
                );
            }
        }
    }
    Ok(())
}

fn print_line(cert: &TeamCertificate) {
    let warning = match cert.expires_soon {
        true => "  ENDS SOON: publish a next one (saml-cert add) and switch to it",
        false => "",
    };
    println!(
        "{}  {}  {} service providers  until {}  SHA-256 {}{warning}",
        cert.certificate_id, cert.state, cert.used_by, cert.not_after, cert.fingerprint_sha256
    );
}

//! `latchkey saml-cert …`: the arguments of a team's SAML signing certificates.

use clap::Subcommand;
use latchkey_core::{SamlSpId, TeamId};

#[derive(Debug, Subcommand)]
pub enum SamlCertCommand {
    /// List a team's SAML signing certificates: which signs, which is next, when each ends.
    List {
        #[arg(long)]
        team: TeamId,
    },
    /// Publish a next certificate in the team's SAML metadata, ahead of use: nothing signs
    /// with it until `saml-cert use`. Give it to each SP (or let them read the metadata).
    Add {
        #[arg(long)]
        team: TeamId,
    },
    /// Sign with a published certificate: for every SP of the team (and the ones it adds
    /// next), or for the one --sp names. The previous one stays published.
    Use {
        #[arg(long)]
        team: TeamId,
        /// The certificate_id `saml-cert add` printed.
        #[arg(long)]
        certificate: String,
        /// Only this service provider (the sp_id `saml-sp add` printed).
        #[arg(long)]
        sp: Option<SamlSpId>,
    },
    /// Take a certificate nothing signs with any more out of the team's metadata.
    Retire {
        /// The certificate_id `saml-cert list` shows.
        #[arg(long)]
        certificate: String,
    },
}

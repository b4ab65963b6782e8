//! `latchkey connection …`: the arguments of a team's own identity providers.

use std::path::PathBuf;

use clap::Subcommand;
use latchkey_core::{ConnectionId, TeamId};

#[derive(Debug, Subcommand)]
pub enum ConnectionCommand {
    /// Add a team's identity provider. Prints the redirect URI to register there, and the
    /// DNS TXT record that proves each domain.
    Add(Box<ConnectionAddArgs>),
    /// List the connections of a team, or of every team.
    List {
        #[arg(long)]
        team: Option<TeamId>,
    },
    /// Remove a connection; the sessions of the identities it made end.
    Remove {
        /// The connection_id `connection add` printed.
        #[arg(long)]
        connection: ConnectionId,
    },
    /// Check a domain's DNS TXT record and, once it carries the challenge, prove the domain:
    /// its addresses then sign in with the connection, from every sign-in page.
    #[command(name = "verify-domain")]
    VerifyDomain {
        #[arg(long)]
        connection: ConnectionId,
        #[arg(long)]
        domain: String,
    },
}

#[derive(Debug, clap::Args)]
pub struct ConnectionAddArgs {
    #[arg(long)]
    pub team: TeamId,
    /// The name on the sign-in button ("Acme Okta").
    #[arg(long)]
    pub name: String,
    /// The provider's issuer URL; its discovery document is read at once.
    #[arg(long)]
    pub issuer: String,
    #[arg(long = "client-id")]
    pub client_id: String,
    /// A file holding the client secret (kept out of the shell history and process list).
    #[arg(long = "client-secret-file", value_name = "FILE")]
    pub client_secret_file: PathBuf,
    /// An address domain it signs in, proven later with `verify-domain`. Repeatable.
    #[arg(long = "domain", value_name = "DOMAIN", value_delimiter = ',')]
    pub domains: Vec<String>,
    /// Scopes to ask for.
    #[arg(
        long = "scope",
        value_delimiter = ',',
        default_value = "openid,email,profile"
    )]
    pub scopes: Vec<String>,
    /// The claim holding the address: email, or preferred_username (Entra ID).
    #[arg(long = "email-claim", default_value = "email")]
    pub email_claim: String,
    /// Refuse an address the provider does not say is verified (Entra ID never says: false).
    #[arg(long = "require-email-verified", value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set)]
    pub require_email_verified: bool,
    /// Google Workspace: the domain every account must belong to (the ID token's `hd` claim),
    /// also sent as `hd` to narrow Google's account chooser.
    #[arg(long = "hosted-domain", value_name = "DOMAIN")]
    pub hosted_domain: Option<String>,
}

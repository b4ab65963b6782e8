//! The command line: the top-level commands and the smaller command groups; the larger
//! groups' arguments each have a module of their own.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use latchkey_core::TeamId;

mod client;
mod connection;
mod issuer;
mod saml;
mod saml_cert;

pub use client::{ClientCommand, ClientCreateArgs};
pub use connection::{ConnectionAddArgs, ConnectionCommand};
pub use issuer::{IssuerAddArgs, IssuerCommand};
pub use saml::{SamlSpAddArgs, SamlSpCommand, SamlSpSettings, SamlSpUpdateArgs};
pub use saml_cert::SamlCertCommand;

/// Latchkey: a passwordless identity provider (OpenID Connect and SAML 2.0).
///
/// People sign in with single-use links emailed to them; integrations federate single
/// sign-on through OpenID Connect or SAML 2.0. Configuration is read from config/latchkey.toml
/// (or --config FILE), then from LATCHKEY_* environment variables, e.g. LATCHKEY_ISSUER or
/// LATCHKEY_KEYS__ROTATION_PERIOD.
#[derive(Debug, Parser)]
#[command(name = "latchkey", version, propagate_version = true)]
pub struct Cli {
    /// Read configuration from FILE instead of config/latchkey.toml.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Print the result as one JSON value on stdout (times as RFC 3339), and nothing else there.
    #[arg(long, global = true)]
    pub json: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the provider (applies pending migrations first). Stops gracefully on SIGTERM or Ctrl-C.
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Ask the provider this configuration runs (on `listen`) whether it is ready: exits 0 when
    /// /readyz answers 2xx within 5 s, 1 otherwise. For container health checks, where no curl is.
    Probe,
    /// Inspect and rotate the signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Register, list and delete the applications (OAuth clients) that sign people in.
    #[command(subcommand)]
    Client(ClientCommand),
    /// Create teams and list their members.
    #[command(subcommand)]
    Team(TeamCommand),
    /// Create join links: a person who opens one and completes the emailed link joins the team.
    #[command(subcommand, name = "join-link")]
    JoinLink(JoinLinkCommand),
    /// Show a team's audit log, newest first.
    Audit(AuditArgs),
    /// Trust an integration's own JWTs (RFC 7523 jwt-bearer grant) for a team.
    #[command(subcommand)]
    Issuer(IssuerCommand),
    /// Register the APIs (resource servers, RFC 8707) access tokens are issued for.
    #[command(subcommand)]
    Resource(ResourceCommand),
    /// People's accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Let a team sign in with its own OpenID provider (Okta, Entra ID, Google Workspace…).
    #[command(subcommand)]
    Connection(ConnectionCommand),
    /// Register the SAML 2.0 service providers (Genesys Cloud, Intercom…) a team signs in to.
    #[command(subcommand, name = "saml-sp")]
    SamlSp(SamlSpCommand),
    /// Roll over a team's SAML signing certificate: publish a next one, switch to it, retire
    /// the old one. Independent of the JWT keys; each lasts saml.certificate_lifetime.
    #[command(subcommand, name = "saml-cert")]
    SamlCert(SamlCertCommand),
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Set a person's name (for the profile scope); split into given and family names at the
    /// last space.
    #[command(name = "set-name")]
    SetName {
        #[arg(long, value_name = "EMAIL")]
        email: String,
        #[arg(long)]
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ResourceCommand {
    /// Register an API: tokens asked for with `resource=IDENTIFIER` carry it as `aud`, and only
    /// the scopes given here.
    Add {
        /// The API's identifier, an absolute URI (https://api.example.com); tokens' `aud`.
        #[arg(long, value_name = "URI")]
        identifier: String,
        /// A scope the API defines; repeat it or give a comma list.
        #[arg(
            long = "scope",
            value_name = "SCOPE",
            value_delimiter = ',',
            required = true
        )]
        scopes: Vec<String>,
        /// A name people recognise [default: the identifier].
        #[arg(long)]
        name: Option<String>,
        /// Only this team's clients may get tokens for it (a team id).
        #[arg(long)]
        team: Option<TeamId>,
        /// The confidential client whose credentials the API introspects tokens with.
        #[arg(long = "introspection-client", value_name = "CLIENT_ID")]
        introspection_client: Option<latchkey_core::ClientId>,
    },
    /// List the registered APIs.
    List {
        /// Only this team's.
        #[arg(long)]
        team: Option<TeamId>,
    },
    /// Remove an API: no new tokens are issued for it.
    Remove {
        #[arg(long, value_name = "URI")]
        identifier: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum TeamCommand {
    /// Create a team with its first administrator (their account is created if need be).
    Create {
        #[arg(long)]
        name: String,
        /// The administrator's email address.
        #[arg(long, value_name = "EMAIL")]
        admin: String,
    },
    /// List a team's members and roles.
    Members {
        /// The team id `team create` printed.
        #[arg(long)]
        team: TeamId,
    },
}

#[derive(Debug, Subcommand)]
pub enum JoinLinkCommand {
    /// Create a join link; its URL is printed once.
    Create(JoinLinkCreateArgs),
}

#[derive(Debug, clap::Args)]
pub struct JoinLinkCreateArgs {
    /// The team id.
    #[arg(long)]
    pub team: TeamId,
    /// The administrator the audit log names as its creator.
    #[arg(long = "created-by", value_name = "EMAIL")]
    pub created_by: String,
    /// How long it works, at most teams.join_link_max_ttl [default: that maximum, 72h].
    #[arg(long, value_parser = crate::duration::Ttl::parse)]
    pub ttl: Option<crate::duration::Ttl>,
    /// The role it grants: member (default) or administrator.
    #[arg(long, value_parser = parse_role)]
    pub role: Option<latchkey_teams::Role>,
    /// How many people may use it [default: no limit].
    #[arg(long = "max-uses", value_parser = clap::value_parser!(i32).range(1..))]
    pub max_uses: Option<i32>,
}

#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    /// The team id; without it, the events of no team (clients created without --team).
    #[arg(long)]
    pub team: Option<TeamId>,
    /// Only this action (`member.joined`), or a prefix ending in a dot (`member.`).
    #[arg(long)]
    pub action: Option<String>,
    /// Only events whose actor or subject contains this text.
    #[arg(long)]
    pub person: Option<String>,
    /// Only events older than this event id (the next page).
    #[arg(long)]
    pub before: Option<String>,
    /// At most this many events.
    #[arg(long, default_value_t = 100)]
    pub limit: u64,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List the signing keys with their state (next, active, retired) and when it changes.
    List,
    /// Rotate now: each algorithm's next key becomes active (as soon as it has been published
    /// for keys.publish_ahead) and a new next key is published.
    Rotate,
    /// After setting keys.master_key to a new key and keys.previous_master_key to the old
    /// one: seal every signing key and waiting mail under the new key. Then remove
    /// keys.previous_master_key.
    #[command(name = "rotate-master")]
    RotateMaster,
}

/// `--role`: read as people write it (`admin` is accepted for `administrator`).
fn parse_role(raw: &str) -> Result<latchkey_teams::Role, String> {
    latchkey_teams::Role::parse(raw).map_err(|e| e.to_string())
}

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Latchkey: a passwordless OpenID Connect identity provider.
///
/// People sign in with single-use links emailed to them; integrations federate single
/// sign-on through standard OpenID Connect. Configuration is read from config/latchkey.toml
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
    /// Inspect and rotate the signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List the signing keys with their state (next, active, retired) and when it changes.
    List,
    /// Rotate now: each algorithm's next key becomes active (as soon as it has been published
    /// for keys.publish_ahead) and a new next key is published.
    Rotate,
}

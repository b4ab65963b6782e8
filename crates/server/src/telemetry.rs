//! Structured logs on stderr (stdout is kept for `--json` output), text or JSON.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the log subscriber. `RUST_LOG`, when set, overrides `log.level`. A one-shot command
/// (`client create`, `team members`…) applies migrations as it connects, and its person wants
/// the answer, not the migrator's progress: `quiet_migrations` keeps that at warnings. Colour
/// only when stderr is a terminal, so `serve 2> file` and log collectors get plain text.
pub fn init(format: LogFormat, level: &str, quiet_migrations: bool) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let filter = match "sea_orm_migration=warn".parse() {
        Ok(directive) if quiet_migrations && std::env::var_os("RUST_LOG").is_none() => {
            filter.add_directive(directive)
        }
        _ => filter,
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let installed = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
        LogFormat::Text => builder.try_init(),
    };
    // A second call (several servers in one test process) keeps the first subscriber.
    drop(installed);
}

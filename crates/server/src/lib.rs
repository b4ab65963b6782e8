//! The `latchkey` program: configuration, command line, wiring, background workers and
//! telemetry. The only crate that reads files and the environment.
//!
//! Composition lives here and only here: `app` builds every service once from the settings,
//! `serve` opens the database and keys and starts the web application, and `workers`
//! schedules every periodic task with one `every()` (each owning crate does the work: its
//! `sweep_expired`, the key ring's refresh, revocations, domain proofs). Errors are
//! `StartError` for `serve` and `CliError` for the one-shot commands (`errors`).

pub mod app;
#[cfg(test)]
mod app_tests;
pub mod cli;
pub mod client_commands;
pub mod commands;
pub mod config;
pub mod connection_commands;
pub mod database;
pub mod duration;
pub mod errors;
pub mod http_server;
pub mod issuer_commands;
pub mod master_key;
pub mod resource_commands;
pub mod saml_cert_commands;
pub mod saml_commands;
pub mod serve;
pub mod team_commands;
pub mod telemetry;
pub mod user_commands;
pub mod workers;

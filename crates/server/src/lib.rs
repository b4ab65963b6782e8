//! The `latchkey` program: configuration, command line, wiring, background workers and
//! telemetry. The only crate that reads files and the environment.

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
pub mod saml_commands;
pub mod serve;
pub mod team_commands;
pub mod telemetry;
pub mod user_commands;
pub mod workers;

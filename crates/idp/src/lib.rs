//! The identity provider's HTTP surface. Handlers are thin: they extract, call the domain
//! crates, and map the result to a response in one place (`web::error`).

mod discovery;
pub mod housekeeping;
mod pages;
mod state;
pub mod telemetry;
pub mod web;

pub use state::{AppConfig, AppState};

//! The identity provider's HTTP surface. Handlers are thin: they extract, call the domain
//! crates, and map the result to a response in one place (`web::error`). The services they
//! call are built by the server (`latchkey_server::app`) and handed over as a [`Domain`];
//! nothing here composes a domain service, sweeps a table or schedules work.

mod discovery;
mod pages;
mod state;
pub mod telemetry;
pub mod web;

pub use state::{AppState, Domain, WebSettings};

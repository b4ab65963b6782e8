//! The identity provider's HTTP surface. Handlers are thin: they extract, call the domain
//! crates, and map the result to a response in one place (`web::error`).

mod discovery;
pub mod email;
pub mod entities;
pub mod housekeeping;
mod issuer;
pub mod login;
pub mod mail;
pub mod oauth;
mod pages;
pub mod remote_jwks;
pub mod secret;
mod state;
pub mod telemetry;
pub mod web;
mod write_gate;

pub use write_gate::WriteGate;

pub use issuer::{Issuer, IssuerError};
pub use state::{AppConfig, AppState, SharedKeyRing};

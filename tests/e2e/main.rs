//! End-to-end tests: the real provider on a random port, the real `latchkey` binary, a real
//! SQLite file and (when LATCHKEY_TEST_POSTGRES_URL is set, as CI does) a real PostgreSQL
//! database per test, the `openidconnect` crate as the relying party, and real Chromium for
//! the pages (`in_chromium`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod browser;
mod chromium;
mod client_auth;
mod harness;
mod process;
mod smtp;
mod upstream;

mod applications;
mod audiences;
mod browser_sign_on;
mod client_assertion_libraries;
mod cluster;
mod config_errors;
mod connection_claims;
mod connections;
mod discovery;
mod faults;
mod federation;
mod in_chromium;
mod key_rotation;
mod load_balancer;
mod login;
mod oidc;
mod operations;
mod outages;
mod saml;
mod saml_attributes;
mod shibboleth;
mod sign_on_per_team;
mod sqlite_faults;
mod teams;

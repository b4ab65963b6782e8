//! Magic links and their codes on their own: the real migrations on SQLite in memory, real
//! signing keys, a fixed clock, and each mail read from the outbox exactly as the worker
//! would send it. Each test checks one rule a person signing in relies on. What needs a
//! browser, HTTP or a mail server stays in the end-to-end suite.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod account;
mod address_limit;
mod application_name;
mod codes;
mod fixture;
mod links;
mod purposes;

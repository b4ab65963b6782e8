//! The SAML exchange on its own: the real migrations on SQLite in memory, real keys, and
//! requests written as an SP writes them (unsigned, or signed with an SP's own RSA key),
//! each rule checked without a server. What needs a real SP (pysaml2), a browser or the
//! binary stays in the end-to-end suite.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod answers;
mod attributes;
mod certificates;
mod defaults;
mod fixture;
mod identity;
mod launcher;
mod logout;
mod logout_chain;
mod messages;
mod sign_on;
mod unsolicited;

//! Outbound HTTP under one policy. Team administrators (anyone who signs up) name URLs that
//! the provider then fetches: an issuer's key set, their own OpenID provider's discovery
//! document and endpoints; the operator names an SP's metadata. Without one policy the
//! provider would make requests for them into its own network (the cloud metadata service,
//! a database's admin port) or wait on them for ever. Every such request goes through an
//! [`Egress`]: https to a public address (an address literal checked before, a name on the
//! addresses DNS returns, when connecting), no redirects, no proxy, a time bound, and answers
//! read up to a size bound. `federation.allow_private_networks` allows http on loopback and
//! inside addresses, for tests and closed networks.
//!
//! This crate owns that policy and nothing else: who may name a URL, and what is done with
//! the answer, are the callers' (`oidc`'s key sets, `connections`, the CLI).

mod address;
mod egress;
mod freshness;

pub use address::is_public;
pub use egress::{Egress, FetchError, acceptable_url, error_chain};
pub use freshness::max_age;

//! Teams: who belongs to which team and in what role, the join links administrators hand
//! out, and the append-only audit log of everything that changes access. No HTTP here, and
//! no secrets: callers pass the SHA-256 of a join link's token, never the token.

mod asserted_role;
mod audit;
mod audit_text;
pub mod entities;
mod error;
mod join_links;
mod members;
mod name;
mod people;
mod person_name;
mod role;
mod teams;
#[cfg(test)]
mod tests;

pub use asserted_role::assert_role;
pub use audit::{Actor, AuditEvent, AuditFilter, AuditLog, Subject};
pub use audit_text::{Detail, ReadableEvent, readable_time};
pub use error::{JoinError, TeamError};
pub use join_links::{JoinLink, JoinLinkState, Joined, NewJoinLink};
pub use members::{Member, Membership};
pub use name::TeamName;
pub use people::{
    INTEGRATION_DOMAIN, ensure_user, identity_row, provision_identity, provision_many,
};
pub use person_name::{PersonName, set_name, sync_name};
pub use role::{Role, RoleParseError};
pub use teams::{Team, Teams, administer, lock_team};

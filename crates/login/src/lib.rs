//! Passwordless sign-up and sign-in: single-use magic links (a signed JWT that only the verify
//! endpoint accepts) with a one-time code beside them, and the sessions they open. No HTTP here.
//!
//! This crate owns sessions and the rules on them: who is signed in, which team a session an
//! integration opened acts for (`SessionUser::acts_for`, the one copy of that rule), and where
//! a sign-in resumes (`Resume`). Protocol crates (oidc, saml, connections) read sessions and
//! open them through it; it reaches none of them. It sweeps its own tables
//! (`sweep_expired`).

mod account;
mod address_limits;
mod confirm;
mod device;
pub mod entities;
mod link;
mod link_writer;
pub mod mail;
mod model;
mod requester_text;
mod resume;
mod session;
mod sweep;

#[cfg(test)]
mod tests;

pub use account::AccountError;
pub use address_limits::{MAX_WRONG_CODES, WRONG_CODES_WINDOW};
pub use device::DEVICE_TTL;
pub use link::Login;
pub use model::{
    CodeError, Continuing, JoinTarget, LinkError, LinkView, LoginError, LoginSettings, Purpose,
    Requester, SignedIn,
};
pub use resume::Resume;
pub use session::{Opening, SessionUser, Sessions};
pub use sweep::sweep_expired;

//! The OAuth 2.0 / OpenID Connect rules on their own: the real migrations on SQLite in
//! memory, real keys and a fixed clock, driven through the `Provider` calls the web layer
//! makes (`start`, `resume`, `decide_consent`, `token`, the client authenticator). Each test
//! checks one rule a client or a person relies on, failures included. What needs a browser,
//! HTTP or a real relying party stays in the end-to-end suite.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod applications;
mod authorization_code;
mod browser_sign_on;
mod browser_sign_on_session;
mod client_assertions;
mod client_authentication;
mod client_credentials;
mod consent;
mod fixture;
mod launcher;
mod pkce;
mod refresh_token;
mod sign_in;
mod teams;

//! Latchkey's schema. One file per change; a migration is never edited once it has landed.
//! This crate imports none of Latchkey's own crates, so old migrations never move when
//! entities do.

pub use sea_orm_migration::prelude::*;

mod m20261125_000001_create_signing_keys;
mod m20261125_000002_create_login;
mod m20261125_000003_create_oauth;
mod m20261125_000004_create_teams;
mod m20261125_000005_create_trusted_issuers;
mod m20261125_000006_index_pending_mail;
mod m20261130_000007_create_resource_servers;
mod m20261130_000008_team_scoped_integration_identities;
mod m20261130_000009_add_names;
mod m20261130_000010_browser_sign_on;
mod m20261130_000011_create_connections;
mod m20261130_000012_create_saml;
mod m20261201_000013_saml_sp_settings;
mod m20261207_000014_saml_team_identity;
mod m20261207_000015_saml_request_defaults;
mod m20261207_000016_saml_logout_chain;
mod m20261207_000017_saml_attributes;
mod m20261208_000018_connection_reauthentication;
mod m20261208_000019_client_login_uri;
mod m20261208_000020_client_secret_rotation;

/// Every migration, oldest first.
pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261125_000001_create_signing_keys::Migration),
            Box::new(m20261125_000002_create_login::Migration),
            Box::new(m20261125_000003_create_oauth::Migration),
            Box::new(m20261125_000004_create_teams::Migration),
            Box::new(m20261125_000005_create_trusted_issuers::Migration),
            Box::new(m20261125_000006_index_pending_mail::Migration),
            Box::new(m20261130_000007_create_resource_servers::Migration),
            Box::new(m20261130_000008_team_scoped_integration_identities::Migration),
            Box::new(m20261130_000009_add_names::Migration),
            Box::new(m20261130_000010_browser_sign_on::Migration),
            Box::new(m20261130_000011_create_connections::Migration),
            Box::new(m20261130_000012_create_saml::Migration),
            Box::new(m20261201_000013_saml_sp_settings::Migration),
            Box::new(m20261207_000014_saml_team_identity::Migration),
            Box::new(m20261207_000015_saml_request_defaults::Migration),
            Box::new(m20261207_000016_saml_logout_chain::Migration),
            Box::new(m20261207_000017_saml_attributes::Migration),
            Box::new(m20261208_000018_connection_reauthentication::Migration),
            Box::new(m20261208_000019_client_login_uri::Migration),
            Box::new(m20261208_000020_client_secret_rotation::Migration),
        ]
    }
}

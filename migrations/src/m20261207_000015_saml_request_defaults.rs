//! What SAML service providers' default requests need:
//! - `saml_service_providers.requests_signed`: the SP's requests must be signed (its
//!   metadata's `AuthnRequestsSigned`, or the administrator's choice). A certificate alone
//!   no longer means so; SPs registered with one keep requiring signed requests here.
//! - `saml_service_providers.allow_sha1`: SHA-1 request signatures are accepted from it.
//! - `saml_service_providers.acs_endpoints`: its assertion consumer services as its metadata
//!   lists them (a JSON list of `{index, binding, url}`); empty for the rows before, whose
//!   ACS URLs are indexed by position as they were.
//! - `saml_requests.passive`, `.signed` and `.name_id_format`: what a kept sign-on's request
//!   asked, read from the row rather than from the URL it continues at.
//! - `saml_requests.relay_state` holds 4 KiB: on PostgreSQL it was `varchar(1024)`.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum SamlServiceProviders {
    Table,
    RequestsSigned,
    AllowSha1,
    AcsEndpoints,
}

#[derive(DeriveIden)]
enum SamlRequests {
    Table,
    RelayState,
    Passive,
    Signed,
    NameIdFormat,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per statement.
        for column in [
            ColumnDef::new(SamlServiceProviders::RequestsSigned)
                .boolean()
                .not_null()
                .default(false)
                .to_owned(),
            ColumnDef::new(SamlServiceProviders::AllowSha1)
                .boolean()
                .not_null()
                .default(false)
                .to_owned(),
            ColumnDef::new(SamlServiceProviders::AcsEndpoints)
                .text()
                .not_null()
                .default("[]")
                .to_owned(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(SamlServiceProviders::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .get_connection()
            .execute_unprepared(
                "UPDATE saml_service_providers SET requests_signed = TRUE \
                 WHERE signing_cert IS NOT NULL",
            )
            .await?;
        for column in [
            ColumnDef::new(SamlRequests::Passive)
                .boolean()
                .not_null()
                .default(false)
                .to_owned(),
            ColumnDef::new(SamlRequests::Signed)
                .boolean()
                .not_null()
                .default(false)
                .to_owned(),
            ColumnDef::new(SamlRequests::NameIdFormat)
                .string_len(16)
                .null()
                .to_owned(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(SamlRequests::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        // SQLite does not bound a column's length; PostgreSQL's varchar(1024) does.
        if manager.get_database_backend() == DbBackend::Postgres {
            manager
                .alter_table(
                    Table::alter()
                        .table(SamlRequests::Table)
                        .modify_column(ColumnDef::new(SamlRequests::RelayState).text().null())
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            SamlRequests::NameIdFormat,
            SamlRequests::Signed,
            SamlRequests::Passive,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(SamlRequests::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        for column in [
            SamlServiceProviders::AcsEndpoints,
            SamlServiceProviders::AllowSha1,
            SamlServiceProviders::RequestsSigned,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(SamlServiceProviders::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

//! Two settings of each SAML service provider's:
//! - `pairwise_key`: the secret its persistent NameIDs and SessionIndexes are derived from
//!   (HMAC-SHA256): without it nobody, another SP included, can compute or link them. Rows
//!   made before it get one here.
//! - `idp_initiated`: whether a sign-on may start at Latchkey (`/saml/init`), unasked by the
//!   SP; an SP that always starts its own can refuse such unsolicited responses here too.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum SamlServiceProviders {
    Table,
    PairwiseKey,
    IdpInitiated,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(SamlServiceProviders::Table)
                    .add_column(
                        ColumnDef::new(SamlServiceProviders::PairwiseKey)
                            .string_len(64)
                            .not_null()
                            .default(""),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(SamlServiceProviders::Table)
                    .add_column(
                        ColumnDef::new(SamlServiceProviders::IdpInitiated)
                            .boolean()
                            .not_null()
                            .default(true),
                    )
                    .to_owned(),
            )
            .await?;
        // 256 random bits as hex, from each database's own strong source.
        let fill = match manager.get_database_backend() {
            DbBackend::Postgres => {
                "UPDATE saml_service_providers SET pairwise_key = \
                 replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', '') \
                 WHERE pairwise_key = ''"
            }
            _ => {
                "UPDATE saml_service_providers SET pairwise_key = lower(hex(randomblob(32))) \
                 WHERE pairwise_key = ''"
            }
        };
        manager.get_connection().execute_unprepared(fill).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(SamlServiceProviders::Table)
                    .drop_column(SamlServiceProviders::IdpInitiated)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(SamlServiceProviders::Table)
                    .drop_column(SamlServiceProviders::PairwiseKey)
                    .to_owned(),
            )
            .await
    }
}

//! The audience of each SAML service provider's assertions, when the SP expects another than
//! its entity ID (Zendesk's entity ID is `https://acme.zendesk.com`, its audience
//! `acme.zendesk.com`). Null: the entity ID, as for every SP registered before.
//!
//! Fixed attribute values and per-attribute `NameFormat`s need no column: they are stored in
//! the `attributes` JSON beside the claims, which still reads the `[name, claim]` pairs of
//! rows written before.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum SamlServiceProviders {
    Table,
    Audience,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(SamlServiceProviders::Table)
                    .add_column(
                        ColumnDef::new(SamlServiceProviders::Audience)
                            .string_len(512)
                            .null(),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(SamlServiceProviders::Table)
                    .drop_column(SamlServiceProviders::Audience)
                    .to_owned(),
            )
            .await
    }
}

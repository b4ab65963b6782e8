use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum SigningKeys {
    Table,
    Kid,
    Algorithm,
    Generation,
    CreatedAt,
    ActivatesAt,
    SealedPrivateKey,
    PublicJwk,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(SigningKeys::Table)
                    .col(string_len(SigningKeys::Kid, 64).primary_key())
                    .col(string_len(SigningKeys::Algorithm, 16))
                    .col(big_integer(SigningKeys::Generation))
                    .col(timestamp_with_time_zone(SigningKeys::CreatedAt))
                    .col(timestamp_with_time_zone(SigningKeys::ActivatesAt))
                    .col(blob(SigningKeys::SealedPrivateKey))
                    .col(text(SigningKeys::PublicJwk))
                    .to_owned(),
            )
            .await?;
        // One key per generation and algorithm: replicas racing to add a key store it once.
        manager
            .create_index(
                Index::create()
                    .name("signing_keys_algorithm_generation")
                    .table(SigningKeys::Table)
                    .col(SigningKeys::Algorithm)
                    .col(SigningKeys::Generation)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(SigningKeys::Table).to_owned())
            .await
    }
}

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Teams {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum TrustedIssuers {
    Table,
    Id,
    TeamId,
    Issuer,
    JwksUri,
    Jwks,
    Algorithms,
    Audience,
    MaxLifetimeSecs,
    EmailClaim,
    NameClaim,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // The integrations a team trusts to say who its members are (RFC 7523 assertions).
        manager
            .create_table(
                Table::create()
                    .table(TrustedIssuers::Table)
                    .col(string_len(TrustedIssuers::Id, 36).primary_key())
                    .col(string_len(TrustedIssuers::TeamId, 36))
                    .col(string_len(TrustedIssuers::Issuer, 512))
                    .col(text_null(TrustedIssuers::JwksUri))
                    .col(text_null(TrustedIssuers::Jwks))
                    .col(string_len(TrustedIssuers::Algorithms, 64))
                    .col(string_len_null(TrustedIssuers::Audience, 512))
                    .col(integer(TrustedIssuers::MaxLifetimeSecs))
                    .col(string_len(TrustedIssuers::EmailClaim, 64))
                    .col(string_len(TrustedIssuers::NameClaim, 64))
                    .col(timestamp_with_time_zone(TrustedIssuers::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("trusted_issuers_team")
                            .from(TrustedIssuers::Table, TrustedIssuers::TeamId)
                            .to(Teams::Table, Teams::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("trusted_issuers_team_issuer")
                    .table(TrustedIssuers::Table)
                    .col(TrustedIssuers::TeamId)
                    .col(TrustedIssuers::Issuer)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(TrustedIssuers::Table).to_owned())
            .await
    }
}

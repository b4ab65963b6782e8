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
enum SamlServiceProviders {
    Table,
    Id,
    TeamId,
    EntityId,
    Name,
    AcsUrls,
    SloUrl,
    NameIdFormat,
    Attributes,
    Sign,
    SigningCert,
    EncryptCert,
    Encryption,
    CreatedAt,
}

#[derive(DeriveIden)]
enum SamlRequests {
    Table,
    Id,
    SpId,
    RequestId,
    AcsUrl,
    RelayState,
    ForceAuthn,
    CreatedAt,
    ExpiresAt,
    UsedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // A team's SAML 2.0 service provider: where its responses go (`acs_urls`, a JSON list),
        // how the person is named and described (`name_id_format`, `attributes`, a JSON map of
        // attribute name to claim), what is signed, and the certificates it verifies requests
        // with and has assertions encrypted to (PEM).
        manager
            .create_table(
                Table::create()
                    .table(SamlServiceProviders::Table)
                    .col(string_len(SamlServiceProviders::Id, 36).primary_key())
                    .col(string_len(SamlServiceProviders::TeamId, 36))
                    .col(string_len_uniq(SamlServiceProviders::EntityId, 512))
                    .col(string_len(SamlServiceProviders::Name, 200))
                    .col(text(SamlServiceProviders::AcsUrls))
                    .col(string_len_null(SamlServiceProviders::SloUrl, 2048))
                    .col(string_len(SamlServiceProviders::NameIdFormat, 16))
                    .col(text(SamlServiceProviders::Attributes))
                    .col(string_len(SamlServiceProviders::Sign, 16))
                    .col(text_null(SamlServiceProviders::SigningCert))
                    .col(text_null(SamlServiceProviders::EncryptCert))
                    .col(string_len(SamlServiceProviders::Encryption, 16))
                    .col(timestamp_with_time_zone(SamlServiceProviders::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("saml_service_providers_team")
                            .from(SamlServiceProviders::Table, SamlServiceProviders::TeamId)
                            .to(Teams::Table, Teams::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // A sign-on an SP asked for (or `/saml/init` started) that waits for the person to sign
        // in. `request_id` is the AuthnRequest's ID: unique per SP, so a replayed request is
        // refused for as long as its row is kept (longer than a request is accepted), answered
        // or not. `used_at`: the response was sent, once.
        manager
            .create_table(
                Table::create()
                    .table(SamlRequests::Table)
                    .col(string_len(SamlRequests::Id, 64).primary_key())
                    .col(string_len(SamlRequests::SpId, 36))
                    .col(string_len_null(SamlRequests::RequestId, 256))
                    .col(string_len(SamlRequests::AcsUrl, 2048))
                    .col(string_len_null(SamlRequests::RelayState, 1024))
                    .col(boolean(SamlRequests::ForceAuthn))
                    .col(timestamp_with_time_zone(SamlRequests::CreatedAt))
                    .col(timestamp_with_time_zone(SamlRequests::ExpiresAt))
                    .col(timestamp_with_time_zone_null(SamlRequests::UsedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("saml_requests_sp")
                            .from(SamlRequests::Table, SamlRequests::SpId)
                            .to(SamlServiceProviders::Table, SamlServiceProviders::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("saml_requests_replay")
                    .table(SamlRequests::Table)
                    .col(SamlRequests::SpId)
                    .col(SamlRequests::RequestId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("saml_requests_expires")
                    .table(SamlRequests::Table)
                    .col(SamlRequests::ExpiresAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            SamlRequests::Table.into_iden(),
            SamlServiceProviders::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

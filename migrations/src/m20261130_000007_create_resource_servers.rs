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
enum Clients {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Grants {
    Table,
    Resource,
}

#[derive(DeriveIden)]
enum ResourceServers {
    Table,
    Identifier,
    Name,
    Scopes,
    TeamId,
    IntrospectionClientId,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // The APIs access tokens are issued for (RFC 8707): a token names one of them as its
        // audience, so an API accepts only the tokens meant for it.
        manager
            .create_table(
                Table::create()
                    .table(ResourceServers::Table)
                    .col(string_len(ResourceServers::Identifier, 512).primary_key())
                    .col(string_len(ResourceServers::Name, 200))
                    .col(string_len(ResourceServers::Scopes, 2048))
                    .col(string_len_null(ResourceServers::TeamId, 36))
                    .col(string_len_null(ResourceServers::IntrospectionClientId, 64))
                    .col(timestamp_with_time_zone(ResourceServers::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("resource_servers_team")
                            .from(ResourceServers::Table, ResourceServers::TeamId)
                            .to(Teams::Table, Teams::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("resource_servers_introspection_client")
                            .from(
                                ResourceServers::Table,
                                ResourceServers::IntrospectionClientId,
                            )
                            .to(Clients::Table, Clients::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        // A refresh token keeps issuing access tokens for the resource its grant was for.
        manager
            .alter_table(
                Table::alter()
                    .table(Grants::Table)
                    .add_column(string_len_null(Grants::Resource, 512))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Grants::Table)
                    .drop_column(Grants::Resource)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(ResourceServers::Table).to_owned())
            .await
    }
}

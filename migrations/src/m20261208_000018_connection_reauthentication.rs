//! What a sign-in through a connection must prove, and where a connection's people come from.
//!
//! - `upstream_logins.prompt_login` / `max_age`: the re-authentication the application
//!   demanded (`prompt=login`, `max_age`) when the sign-in was sent to the team's provider,
//!   checked against the `auth_time` its ID token brings back. False / null for sign-ins sent
//!   before: nothing was demanded of them.
//! - `connections.hosted_domain`: Google's `hd`, the one Workspace domain a connection admits.
//!   Null: any, as for every connection added before.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum UpstreamLogins {
    Table,
    PromptLogin,
    MaxAge,
}

#[derive(DeriveIden)]
enum Connections {
    Table,
    HostedDomain,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One change per statement: SQLite alters a table one column at a time.
        manager
            .alter_table(
                Table::alter()
                    .table(UpstreamLogins::Table)
                    .add_column(
                        ColumnDef::new(UpstreamLogins::PromptLogin)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(UpstreamLogins::Table)
                    .add_column(ColumnDef::new(UpstreamLogins::MaxAge).big_integer().null())
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Connections::Table)
                    .add_column(
                        ColumnDef::new(Connections::HostedDomain)
                            .string_len(253)
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
                    .table(Connections::Table)
                    .drop_column(Connections::HostedDomain)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(UpstreamLogins::Table)
                    .drop_column(UpstreamLogins::MaxAge)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(UpstreamLogins::Table)
                    .drop_column(UpstreamLogins::PromptLogin)
                    .to_owned(),
            )
            .await
    }
}

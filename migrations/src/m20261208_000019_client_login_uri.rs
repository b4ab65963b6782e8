//! Where an application starts a sign-in when someone opens it from Latchkey's side.
//!
//! - `clients.initiate_login_uri`: the application's login-initiation endpoint (OpenID Connect
//!   Core §4, the `initiate_login_uri` of OpenID Connect Dynamic Client Registration §2). The
//!   application launcher (`/apps`) lists an OpenID application only when it has one. Null:
//!   the application cannot be opened from Latchkey, as for every client registered before.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Clients {
    Table,
    InitiateLoginUri,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Clients::Table)
                    .add_column(ColumnDef::new(Clients::InitiateLoginUri).text().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Clients::Table)
                    .drop_column(Clients::InitiateLoginUri)
                    .to_owned(),
            )
            .await
    }
}

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    ProvisionedBy,
    AssertedEmail,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // An identity an integration's assertion created is its team's alone: it holds no
        // address anyone can sign in with (its `email` is a reserved `.invalid` one), and the
        // address the integration gave is kept beside it, unverified. One column per
        // statement: SQLite adds one at a time.
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .add_column(string_len_null(Users::ProvisionedBy, 36))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .add_column(string_len_null(Users::AssertedEmail, 320))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("users_provisioned_by_asserted_email")
                    .table(Users::Table)
                    .col(Users::ProvisionedBy)
                    .col(Users::AssertedEmail)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("users_provisioned_by_asserted_email")
                    .table(Users::Table)
                    .to_owned(),
            )
            .await?;
        for column in [Users::AssertedEmail, Users::ProvisionedBy] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Users::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

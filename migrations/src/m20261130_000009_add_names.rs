use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Name,
    GivenName,
    FamilyName,
    NameUpdatedAt,
    NameEdited,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // People's names, for the `profile` scope. `name_edited`: set by the person or the
        // operator, so an integration's claim no longer overwrites it. One column per
        // statement: SQLite adds one at a time.
        let columns = [
            string_len_null(Users::Name, 200),
            string_len_null(Users::GivenName, 200),
            string_len_null(Users::FamilyName, 200),
            timestamp_with_time_zone_null(Users::NameUpdatedAt),
            boolean(Users::NameEdited).default(false).to_owned(),
        ];
        for column in columns {
            manager
                .alter_table(
                    Table::alter()
                        .table(Users::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            Users::NameEdited,
            Users::NameUpdatedAt,
            Users::FamilyName,
            Users::GivenName,
            Users::Name,
        ] {
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

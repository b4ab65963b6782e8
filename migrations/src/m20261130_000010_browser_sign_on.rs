use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum TrustedIssuers {
    Table,
    RequireJti,
    AdminClaim,
    AdminValue,
    FrameOrigins,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    FrameAncestors,
    OpenedBy,
}

#[derive(DeriveIden)]
enum LoginLinks {
    Table,
    Name,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Per issuer: whether its tokens must carry `jti` (without, a token's hash is kept
        // until it expires), the claim and value that make an administrator, and the origins
        // that may frame the sessions its tokens open (space-separated).
        // A session an integration's token opened names that issuer (`opened_by`): it is bound
        // to the issuer's team. Opened inside a frame, it keeps the origins that may frame it:
        // its pages name them in `frame-ancestors`. A link asked for with a name carries it until the account exists.
        // One column per statement: SQLite adds one at a time.
        let changes = [
            (
                TrustedIssuers::Table.into_iden(),
                boolean(TrustedIssuers::RequireJti).default(true).to_owned(),
            ),
            (
                TrustedIssuers::Table.into_iden(),
                string_len_null(TrustedIssuers::AdminClaim, 64),
            ),
            (
                TrustedIssuers::Table.into_iden(),
                string_len_null(TrustedIssuers::AdminValue, 256),
            ),
            (
                TrustedIssuers::Table.into_iden(),
                text_null(TrustedIssuers::FrameOrigins),
            ),
            (
                Sessions::Table.into_iden(),
                text_null(Sessions::FrameAncestors),
            ),
            (
                Sessions::Table.into_iden(),
                string_len_null(Sessions::OpenedBy, 512),
            ),
            (
                LoginLinks::Table.into_iden(),
                string_len_null(LoginLinks::Name, 200),
            ),
        ];
        for (table, column) in changes {
            manager
                .alter_table(Table::alter().table(table).add_column(column).to_owned())
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let changes = [
            (LoginLinks::Table.into_iden(), LoginLinks::Name.into_iden()),
            (Sessions::Table.into_iden(), Sessions::OpenedBy.into_iden()),
            (
                Sessions::Table.into_iden(),
                Sessions::FrameAncestors.into_iden(),
            ),
            (
                TrustedIssuers::Table.into_iden(),
                TrustedIssuers::FrameOrigins.into_iden(),
            ),
            (
                TrustedIssuers::Table.into_iden(),
                TrustedIssuers::AdminValue.into_iden(),
            ),
            (
                TrustedIssuers::Table.into_iden(),
                TrustedIssuers::AdminClaim.into_iden(),
            ),
            (
                TrustedIssuers::Table.into_iden(),
                TrustedIssuers::RequireJti.into_iden(),
            ),
        ];
        for (table, column) in changes {
            manager
                .alter_table(Table::alter().table(table).drop_column(column).to_owned())
                .await?;
        }
        Ok(())
    }
}

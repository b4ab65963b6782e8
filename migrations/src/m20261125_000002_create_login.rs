use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Email,
    CreatedAt,
    LastSignInAt,
}

#[derive(DeriveIden)]
enum LoginLinks {
    Table,
    Id,
    TokenHash,
    BrowserHash,
    CodeHash,
    Email,
    Purpose,
    FailedCodes,
    CreatedAt,
    ExpiresAt,
    UsedAt,
    RequestedIp,
    RequestedUserAgent,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    IdHash,
    UserId,
    CreatedAt,
    LastSeenAt,
    ExpiresAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum MailOutbox {
    Table,
    Id,
    Recipient,
    SealedMessage,
    CreatedAt,
    ExpiresAt,
    Attempts,
    NextAttemptAt,
    ClaimedUntil,
    ClaimedBy,
    SentAt,
    DroppedAt,
    LastError,
}

#[derive(DeriveIden)]
enum AddressLimits {
    Table,
    EmailHash,
    WindowStartedAt,
    Count,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .col(string_len(Users::Id, 36).primary_key())
                    .col(string_len_uniq(Users::Email, 320))
                    .col(timestamp_with_time_zone(Users::CreatedAt))
                    .col(timestamp_with_time_zone_null(Users::LastSignInAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(LoginLinks::Table)
                    .col(string_len(LoginLinks::Id, 36).primary_key())
                    .col(string_len_uniq(LoginLinks::TokenHash, 64))
                    .col(string_len(LoginLinks::BrowserHash, 64))
                    .col(string_len(LoginLinks::CodeHash, 64))
                    .col(string_len(LoginLinks::Email, 320))
                    .col(string_len(LoginLinks::Purpose, 16))
                    .col(integer(LoginLinks::FailedCodes).default(0))
                    .col(timestamp_with_time_zone(LoginLinks::CreatedAt))
                    .col(timestamp_with_time_zone(LoginLinks::ExpiresAt))
                    .col(timestamp_with_time_zone_null(LoginLinks::UsedAt))
                    .col(string_len(LoginLinks::RequestedIp, 64))
                    .col(string_len(LoginLinks::RequestedUserAgent, 512))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("login_links_browser_hash")
                    .table(LoginLinks::Table)
                    .col(LoginLinks::BrowserHash)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Sessions::Table)
                    .col(string_len(Sessions::IdHash, 64).primary_key())
                    .col(string_len(Sessions::UserId, 36))
                    .col(timestamp_with_time_zone(Sessions::CreatedAt))
                    .col(timestamp_with_time_zone(Sessions::LastSeenAt))
                    .col(timestamp_with_time_zone(Sessions::ExpiresAt))
                    .col(timestamp_with_time_zone_null(Sessions::RevokedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("sessions_user")
                            .from(Sessions::Table, Sessions::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("sessions_user_id")
                    .table(Sessions::Table)
                    .col(Sessions::UserId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(MailOutbox::Table)
                    .col(string_len(MailOutbox::Id, 36).primary_key())
                    .col(string_len(MailOutbox::Recipient, 320))
                    .col(blob_null(MailOutbox::SealedMessage))
                    .col(timestamp_with_time_zone(MailOutbox::CreatedAt))
                    .col(timestamp_with_time_zone(MailOutbox::ExpiresAt))
                    .col(integer(MailOutbox::Attempts).default(0))
                    .col(timestamp_with_time_zone(MailOutbox::NextAttemptAt))
                    .col(timestamp_with_time_zone_null(MailOutbox::ClaimedUntil))
                    .col(string_len_null(MailOutbox::ClaimedBy, 36))
                    .col(timestamp_with_time_zone_null(MailOutbox::SentAt))
                    .col(timestamp_with_time_zone_null(MailOutbox::DroppedAt))
                    .col(text_null(MailOutbox::LastError))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("mail_outbox_due")
                    .table(MailOutbox::Table)
                    .col(MailOutbox::SentAt)
                    .col(MailOutbox::NextAttemptAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AddressLimits::Table)
                    .col(string_len(AddressLimits::EmailHash, 64).primary_key())
                    .col(timestamp_with_time_zone(AddressLimits::WindowStartedAt))
                    .col(big_integer(AddressLimits::Count))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "address_limits",
            "mail_outbox",
            "sessions",
            "login_links",
            "users",
        ] {
            manager
                .drop_table(Table::drop().table(Alias::new(table)).to_owned())
                .await?;
        }
        Ok(())
    }
}

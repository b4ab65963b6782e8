use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum MailOutbox {
    Table,
    ExpiresAt,
    NextAttemptAt,
    SentAt,
    DroppedAt,
}

const OLD_DUE_INDEX: &str = "mail_outbox_due";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // The old index covered every mail ever sent, and SQLite's planner, seeing
        // `sent_at IS NULL`, preferred it to the primary key when a worker updated mails by
        // id: each claim scanned the whole backlog (11 ms with 14,000 mails waiting). A
        // partial index holds only the mail still to send, so it stays small and is never
        // the cheaper way to a handful of ids.
        manager
            .drop_index(
                Index::drop()
                    .name(OLD_DUE_INDEX)
                    .table(MailOutbox::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("mail_outbox_pending")
                    .table(MailOutbox::Table)
                    .col(MailOutbox::NextAttemptAt)
                    .and_where(Expr::col(MailOutbox::SentAt).is_null())
                    .and_where(Expr::col(MailOutbox::DroppedAt).is_null())
                    .to_owned(),
            )
            .await?;
        // Housekeeping deletes mail a day after what it announced expired.
        manager
            .create_index(
                Index::create()
                    .name("mail_outbox_expires_at")
                    .table(MailOutbox::Table)
                    .col(MailOutbox::ExpiresAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for name in ["mail_outbox_pending", "mail_outbox_expires_at"] {
            manager
                .drop_index(Index::drop().name(name).table(MailOutbox::Table).to_owned())
                .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name(OLD_DUE_INDEX)
                    .table(MailOutbox::Table)
                    .col(MailOutbox::SentAt)
                    .col(MailOutbox::NextAttemptAt)
                    .to_owned(),
            )
            .await
    }
}

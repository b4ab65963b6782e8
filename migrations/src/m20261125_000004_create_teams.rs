use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Teams {
    Table,
    Id,
    Name,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Memberships {
    Table,
    TeamId,
    UserId,
    Role,
    JoinedAt,
    JoinLinkId,
    ExternalIssuer,
    ExternalId,
}

#[derive(DeriveIden)]
enum JoinLinks {
    Table,
    Id,
    TeamId,
    TokenHash,
    Role,
    CreatedBy,
    CreatedAt,
    ExpiresAt,
    MaxUses,
    Uses,
    RevokedAt,
}

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    Id,
    TeamId,
    At,
    Action,
    Actor,
    ActorId,
    Subject,
    SubjectId,
    Details,
    Ip,
    UserAgent,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    TeamId,
}

#[derive(DeriveIden)]
enum LoginLinks {
    Table,
    JoinLink,
}

#[derive(DeriveIden)]
enum Grants {
    Table,
    UserId,
    TeamId,
}

fn cascade(
    name: &str,
    from: (impl IntoIden, impl IntoIden),
    to: (impl IntoIden, impl IntoIden),
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(from.0, from.1)
        .to(to.0, to.1)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

async fn add_column(
    manager: &SchemaManager<'_>,
    table: impl IntoIden,
    column: ColumnDef,
) -> Result<(), DbErr> {
    let mut column = column;
    manager
        .alter_table(
            Table::alter()
                .table(table)
                .add_column(&mut column)
                .to_owned(),
        )
        .await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Teams::Table)
                    .col(string_len(Teams::Id, 36).primary_key())
                    .col(string_len(Teams::Name, 200))
                    .col(timestamp_with_time_zone(Teams::CreatedAt))
                    .col(timestamp_with_time_zone(Teams::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Memberships::Table)
                    .col(string_len(Memberships::TeamId, 36))
                    .col(string_len(Memberships::UserId, 36))
                    .col(string_len(Memberships::Role, 16))
                    .col(timestamp_with_time_zone(Memberships::JoinedAt))
                    .col(string_len_null(Memberships::JoinLinkId, 36))
                    .col(string_len_null(Memberships::ExternalIssuer, 512))
                    .col(string_len_null(Memberships::ExternalId, 255))
                    .primary_key(
                        Index::create()
                            .col(Memberships::TeamId)
                            .col(Memberships::UserId),
                    )
                    .foreign_key(&mut cascade(
                        "memberships_team",
                        (Memberships::Table, Memberships::TeamId),
                        (Teams::Table, Teams::Id),
                    ))
                    .foreign_key(&mut cascade(
                        "memberships_user",
                        (Memberships::Table, Memberships::UserId),
                        (Users::Table, Users::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("memberships_user_id")
                    .table(Memberships::Table)
                    .col(Memberships::UserId)
                    .to_owned(),
            )
            .await?;
        // One member per external identity and team (members provisioned by an integration).
        manager
            .create_index(
                Index::create()
                    .name("memberships_external_identity")
                    .table(Memberships::Table)
                    .col(Memberships::TeamId)
                    .col(Memberships::ExternalIssuer)
                    .col(Memberships::ExternalId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(JoinLinks::Table)
                    .col(string_len(JoinLinks::Id, 36).primary_key())
                    .col(string_len(JoinLinks::TeamId, 36))
                    .col(string_len_uniq(JoinLinks::TokenHash, 64))
                    .col(string_len(JoinLinks::Role, 16))
                    .col(string_len(JoinLinks::CreatedBy, 320))
                    .col(timestamp_with_time_zone(JoinLinks::CreatedAt))
                    .col(timestamp_with_time_zone(JoinLinks::ExpiresAt))
                    .col(integer_null(JoinLinks::MaxUses))
                    .col(integer(JoinLinks::Uses).default(0))
                    .col(timestamp_with_time_zone_null(JoinLinks::RevokedAt))
                    .foreign_key(&mut cascade(
                        "join_links_team",
                        (JoinLinks::Table, JoinLinks::TeamId),
                        (Teams::Table, Teams::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("join_links_team_id")
                    .table(JoinLinks::Table)
                    .col(JoinLinks::TeamId)
                    .to_owned(),
            )
            .await?;
        // Append-only: no foreign keys, so the record outlives what it names.
        manager
            .create_table(
                Table::create()
                    .table(AuditEvents::Table)
                    .col(string_len(AuditEvents::Id, 36).primary_key())
                    .col(string_len_null(AuditEvents::TeamId, 36))
                    .col(timestamp_with_time_zone(AuditEvents::At))
                    .col(string_len(AuditEvents::Action, 64))
                    .col(string_len(AuditEvents::Actor, 320))
                    .col(string_len_null(AuditEvents::ActorId, 36))
                    .col(string_len(AuditEvents::Subject, 512))
                    .col(string_len_null(AuditEvents::SubjectId, 64))
                    .col(text(AuditEvents::Details))
                    .col(string_len(AuditEvents::Ip, 64))
                    .col(string_len(AuditEvents::UserAgent, 512))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("audit_events_team_id")
                    .table(AuditEvents::Table)
                    .col(AuditEvents::TeamId)
                    .col(AuditEvents::Id)
                    .to_owned(),
            )
            .await?;
        // The team a session is working in; the team a grant was made for (so removing a
        // member revokes it); the join link a magic link completes.
        add_column(
            manager,
            Sessions::Table,
            string_len_null(Sessions::TeamId, 36),
        )
        .await?;
        add_column(manager, Grants::Table, string_len_null(Grants::TeamId, 36)).await?;
        add_column(
            manager,
            LoginLinks::Table,
            string_len_null(LoginLinks::JoinLink, 36),
        )
        .await?;
        manager
            .create_index(
                Index::create()
                    .name("grants_user_team")
                    .table(Grants::Table)
                    .col(Grants::UserId)
                    .col(Grants::TeamId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("grants_user_team")
                    .table(Grants::Table)
                    .to_owned(),
            )
            .await?;
        for (table, column) in [
            (
                LoginLinks::Table.into_iden(),
                LoginLinks::JoinLink.into_iden(),
            ),
            (Grants::Table.into_iden(), Grants::TeamId.into_iden()),
            (Sessions::Table.into_iden(), Sessions::TeamId.into_iden()),
        ] {
            manager
                .alter_table(Table::alter().table(table).drop_column(column).to_owned())
                .await?;
        }
        for table in [
            AuditEvents::Table.into_iden(),
            JoinLinks::Table.into_iden(),
            Memberships::Table.into_iden(),
            Teams::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

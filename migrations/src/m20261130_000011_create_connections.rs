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
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Connections {
    Table,
    Id,
    TeamId,
    Name,
    Issuer,
    ClientId,
    ClientSecretSealed,
    Scopes,
    EmailClaim,
    RequireEmailVerified,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ConnectionDomains {
    Table,
    ConnectionId,
    Domain,
    Challenge,
    ProvenAt,
    CheckedAt,
}

#[derive(DeriveIden)]
enum ConnectionLinks {
    Table,
    ConnectionId,
    Subject,
    UserId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    ConnectionId,
}

#[derive(DeriveIden)]
enum UpstreamLogins {
    Table,
    StateHash,
    ConnectionId,
    Nonce,
    VerifierSealed,
    LoginHint,
    RequestId,
    CreatedAt,
    ExpiresAt,
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

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // A team's own OpenID provider (Okta, Entra ID, Google Workspace…): its client secret
        // sealed under the master key, bound to the row's id.
        manager
            .create_table(
                Table::create()
                    .table(Connections::Table)
                    .col(string_len(Connections::Id, 36).primary_key())
                    .col(string_len(Connections::TeamId, 36))
                    .col(string_len(Connections::Name, 200))
                    .col(string_len(Connections::Issuer, 512))
                    .col(string_len(Connections::ClientId, 255))
                    .col(blob(Connections::ClientSecretSealed))
                    .col(string_len(Connections::Scopes, 512))
                    .col(string_len(Connections::EmailClaim, 64))
                    .col(boolean(Connections::RequireEmailVerified))
                    .col(timestamp_with_time_zone(Connections::CreatedAt))
                    .foreign_key(&mut cascade(
                        "connections_team",
                        (Connections::Table, Connections::TeamId),
                        (Teams::Table, Teams::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        // The address domains a connection signs in. A domain is the connection's for
        // home-realm discovery only once proven (`proven_at`), and then of no other; its record
        // is looked up again every day (`checked_at`), and a proof whose record is gone ends.
        manager
            .create_table(
                Table::create()
                    .table(ConnectionDomains::Table)
                    .col(string_len(ConnectionDomains::ConnectionId, 36))
                    .col(string_len(ConnectionDomains::Domain, 253))
                    .col(string_len(ConnectionDomains::Challenge, 64))
                    .col(timestamp_with_time_zone_null(ConnectionDomains::ProvenAt))
                    .col(timestamp_with_time_zone_null(ConnectionDomains::CheckedAt))
                    .primary_key(
                        Index::create()
                            .col(ConnectionDomains::ConnectionId)
                            .col(ConnectionDomains::Domain),
                    )
                    .foreign_key(&mut cascade(
                        "connection_domains_connection",
                        (ConnectionDomains::Table, ConnectionDomains::ConnectionId),
                        (Connections::Table, Connections::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        // Partial unique indexes are the same SQL on SQLite and PostgreSQL.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX connection_domains_proven ON connection_domains (domain) WHERE proven_at IS NOT NULL",
            )
            .await?;
        // Who an upstream `sub` is here.
        manager
            .create_table(
                Table::create()
                    .table(ConnectionLinks::Table)
                    .col(string_len(ConnectionLinks::ConnectionId, 36))
                    .col(string_len(ConnectionLinks::Subject, 255))
                    .col(string_len(ConnectionLinks::UserId, 36))
                    .col(timestamp_with_time_zone(ConnectionLinks::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(ConnectionLinks::ConnectionId)
                            .col(ConnectionLinks::Subject),
                    )
                    .foreign_key(&mut cascade(
                        "connection_links_connection",
                        (ConnectionLinks::Table, ConnectionLinks::ConnectionId),
                        (Connections::Table, Connections::Id),
                    ))
                    .foreign_key(&mut cascade(
                        "connection_links_user",
                        (ConnectionLinks::Table, ConnectionLinks::UserId),
                        (Users::Table, Users::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        // A sign-in sent upstream and not back yet: the state's SHA-256, the nonce, and the
        // PKCE verifier sealed under the master key. No foreign key: a sign-in outlives the
        // removal of its connection, so the callback can say that is what happened.
        manager
            .create_table(
                Table::create()
                    .table(UpstreamLogins::Table)
                    .col(string_len(UpstreamLogins::StateHash, 64).primary_key())
                    .col(string_len(UpstreamLogins::ConnectionId, 36))
                    .col(string_len(UpstreamLogins::Nonce, 64))
                    .col(blob(UpstreamLogins::VerifierSealed))
                    .col(string_len_null(UpstreamLogins::LoginHint, 320))
                    .col(string_len_null(UpstreamLogins::RequestId, 64))
                    .col(timestamp_with_time_zone(UpstreamLogins::CreatedAt))
                    .col(timestamp_with_time_zone(UpstreamLogins::ExpiresAt))
                    .to_owned(),
            )
            .await?;
        // A session a connection opened names it, so removing the connection, or the end of
        // its domain's proof, ends the session.
        manager
            .alter_table(
                Table::alter()
                    .table(Sessions::Table)
                    .add_column(string_len_null(Sessions::ConnectionId, 36))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("upstream_logins_expires")
                    .table(UpstreamLogins::Table)
                    .col(UpstreamLogins::ExpiresAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Sessions::Table)
                    .drop_column(Sessions::ConnectionId)
                    .to_owned(),
            )
            .await?;
        for table in [
            UpstreamLogins::Table.into_iden(),
            ConnectionLinks::Table.into_iden(),
            ConnectionDomains::Table.into_iden(),
            Connections::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

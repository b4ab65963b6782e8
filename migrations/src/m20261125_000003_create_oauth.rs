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
enum LoginLinks {
    Table,
    AuthorizationRequest,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum Clients {
    Table,
    Id,
    Name,
    SecretHash,
    AuthMethod,
    RedirectUris,
    PostLogoutRedirectUris,
    GrantTypes,
    Scopes,
    JwksUri,
    Jwks,
    TeamId,
    FirstParty,
    RequirePkce,
    IdTokenAlg,
    CreatedAt,
}

#[derive(DeriveIden)]
enum AuthorizationRequests {
    Table,
    Id,
    ClientId,
    Params,
    CreatedAt,
    ExpiresAt,
    CompletedAt,
}

#[derive(DeriveIden)]
enum UsedCodes {
    Table,
    IdHash,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum Grants {
    Table,
    Id,
    ClientId,
    UserId,
    Scope,
    AuthTime,
    Sid,
    CreatedAt,
    ExpiresAt,
    RevokedAt,
    RevokedReason,
}

#[derive(DeriveIden)]
enum RefreshTokens {
    Table,
    TokenHash,
    GrantId,
    CreatedAt,
    ExpiresAt,
    UsedAt,
}

#[derive(DeriveIden)]
enum Consents {
    Table,
    UserId,
    ClientId,
    Scope,
    GrantedAt,
}

#[derive(DeriveIden)]
enum RevokedTokens {
    Table,
    Jti,
    RevokedAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum SeenAssertions {
    Table,
    Id,
    ExpiresAt,
}

/// A foreign key that removes the row with its user or client.
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

fn index(name: &str, table: impl IntoIden, column: impl IntoIden) -> IndexCreateStatement {
    Index::create()
        .name(name)
        .table(table)
        .col(column)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // The pending authorization request a magic link continues, in whichever browser.
        manager
            .alter_table(
                Table::alter()
                    .table(LoginLinks::Table)
                    .add_column(string_len_null(LoginLinks::AuthorizationRequest, 36))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Clients::Table)
                    .col(string_len(Clients::Id, 64).primary_key())
                    .col(string_len(Clients::Name, 200))
                    .col(string_len_null(Clients::SecretHash, 64))
                    .col(string_len(Clients::AuthMethod, 32))
                    .col(text(Clients::RedirectUris))
                    .col(text(Clients::PostLogoutRedirectUris))
                    .col(text(Clients::GrantTypes))
                    .col(text(Clients::Scopes))
                    .col(text_null(Clients::JwksUri))
                    .col(text_null(Clients::Jwks))
                    .col(string_len_null(Clients::TeamId, 36))
                    .col(boolean(Clients::FirstParty))
                    .col(boolean(Clients::RequirePkce))
                    .col(string_len(Clients::IdTokenAlg, 8))
                    .col(timestamp_with_time_zone(Clients::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AuthorizationRequests::Table)
                    .col(string_len(AuthorizationRequests::Id, 36).primary_key())
                    .col(string_len(AuthorizationRequests::ClientId, 64))
                    .col(text(AuthorizationRequests::Params))
                    .col(timestamp_with_time_zone(AuthorizationRequests::CreatedAt))
                    .col(timestamp_with_time_zone(AuthorizationRequests::ExpiresAt))
                    .col(timestamp_with_time_zone_null(
                        AuthorizationRequests::CompletedAt,
                    ))
                    .foreign_key(&mut cascade(
                        "authorization_requests_client",
                        (
                            AuthorizationRequests::Table,
                            AuthorizationRequests::ClientId,
                        ),
                        (Clients::Table, Clients::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Grants::Table)
                    .col(string_len(Grants::Id, 36).primary_key())
                    .col(string_len(Grants::ClientId, 64))
                    .col(string_len(Grants::UserId, 36))
                    .col(text(Grants::Scope))
                    .col(timestamp_with_time_zone(Grants::AuthTime))
                    .col(string_len(Grants::Sid, 64))
                    .col(timestamp_with_time_zone(Grants::CreatedAt))
                    .col(timestamp_with_time_zone(Grants::ExpiresAt))
                    .col(timestamp_with_time_zone_null(Grants::RevokedAt))
                    .col(string_len_null(Grants::RevokedReason, 64))
                    .foreign_key(&mut cascade(
                        "grants_client",
                        (Grants::Table, Grants::ClientId),
                        (Clients::Table, Clients::Id),
                    ))
                    .foreign_key(&mut cascade(
                        "grants_user",
                        (Grants::Table, Grants::UserId),
                        (Users::Table, Users::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index("grants_user_id", Grants::Table, Grants::UserId))
            .await?;
        manager
            .create_index(index("grants_client_id", Grants::Table, Grants::ClientId))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(UsedCodes::Table)
                    .col(string_len(UsedCodes::IdHash, 64).primary_key())
                    .col(timestamp_with_time_zone(UsedCodes::ExpiresAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(RefreshTokens::Table)
                    .col(string_len(RefreshTokens::TokenHash, 64).primary_key())
                    .col(string_len(RefreshTokens::GrantId, 36))
                    .col(timestamp_with_time_zone(RefreshTokens::CreatedAt))
                    .col(timestamp_with_time_zone(RefreshTokens::ExpiresAt))
                    .col(timestamp_with_time_zone_null(RefreshTokens::UsedAt))
                    .foreign_key(&mut cascade(
                        "refresh_tokens_grant",
                        (RefreshTokens::Table, RefreshTokens::GrantId),
                        (Grants::Table, Grants::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "refresh_tokens_grant_id",
                RefreshTokens::Table,
                RefreshTokens::GrantId,
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Consents::Table)
                    .col(string_len(Consents::UserId, 36))
                    .col(string_len(Consents::ClientId, 64))
                    .col(text(Consents::Scope))
                    .col(timestamp_with_time_zone(Consents::GrantedAt))
                    .primary_key(
                        Index::create()
                            .col(Consents::UserId)
                            .col(Consents::ClientId),
                    )
                    .foreign_key(&mut cascade(
                        "consents_client",
                        (Consents::Table, Consents::ClientId),
                        (Clients::Table, Clients::Id),
                    ))
                    .foreign_key(&mut cascade(
                        "consents_user",
                        (Consents::Table, Consents::UserId),
                        (Users::Table, Users::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(RevokedTokens::Table)
                    .col(string_len(RevokedTokens::Jti, 64).primary_key())
                    .col(timestamp_with_time_zone(RevokedTokens::RevokedAt))
                    .col(timestamp_with_time_zone(RevokedTokens::ExpiresAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SeenAssertions::Table)
                    .col(string_len(SeenAssertions::Id, 64).primary_key())
                    .col(timestamp_with_time_zone(SeenAssertions::ExpiresAt))
                    .to_owned(),
            )
            .await?;
        // The housekeeping sweep deletes by expiry.
        for (name, table, column) in [
            (
                "authorization_requests_expires_at",
                AuthorizationRequests::Table.into_iden(),
                AuthorizationRequests::ExpiresAt.into_iden(),
            ),
            (
                "used_codes_expires_at",
                UsedCodes::Table.into_iden(),
                UsedCodes::ExpiresAt.into_iden(),
            ),
            (
                "refresh_tokens_expires_at",
                RefreshTokens::Table.into_iden(),
                RefreshTokens::ExpiresAt.into_iden(),
            ),
            (
                "grants_expires_at",
                Grants::Table.into_iden(),
                Grants::ExpiresAt.into_iden(),
            ),
            (
                "revoked_tokens_expires_at",
                RevokedTokens::Table.into_iden(),
                RevokedTokens::ExpiresAt.into_iden(),
            ),
            // Replicas poll for revocations newer than their last look.
            (
                "revoked_tokens_revoked_at",
                RevokedTokens::Table.into_iden(),
                RevokedTokens::RevokedAt.into_iden(),
            ),
            (
                "grants_revoked_at",
                Grants::Table.into_iden(),
                Grants::RevokedAt.into_iden(),
            ),
            (
                "seen_assertions_expires_at",
                SeenAssertions::Table.into_iden(),
                SeenAssertions::ExpiresAt.into_iden(),
            ),
            (
                "login_links_expires_at",
                LoginLinks::Table.into_iden(),
                LoginLinks::ExpiresAt.into_iden(),
            ),
            (
                "sessions_expires_at",
                Sessions::Table.into_iden(),
                Sessions::ExpiresAt.into_iden(),
            ),
        ] {
            manager.create_index(index(name, table, column)).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, table) in [
            ("login_links_expires_at", "login_links"),
            ("sessions_expires_at", "sessions"),
        ] {
            manager
                .drop_index(Index::drop().name(name).table(Alias::new(table)).to_owned())
                .await?;
        }
        for table in [
            "seen_assertions",
            "revoked_tokens",
            "consents",
            "refresh_tokens",
            "used_codes",
            "grants",
            "authorization_requests",
            "clients",
        ] {
            manager
                .drop_table(Table::drop().table(Alias::new(table)).to_owned())
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(LoginLinks::Table)
                    .drop_column(LoginLinks::AuthorizationRequest)
                    .to_owned(),
            )
            .await
    }
}

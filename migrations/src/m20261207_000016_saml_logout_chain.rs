//! Single logout across service providers:
//! - `saml_sign_ons`: which SPs each browser session signed in to, and how each was told of
//!   the person (the NameID and SessionIndex it was given), so a logout can name them to each
//!   SP. One row per session and SP, kept as long as the session can last.
//! - `saml_logout_chains`: a single logout on its way through the person's SPs, one after
//!   another in the browser. Its id travels in RelayState; the steps (which SPs, and what each
//!   answered) stay here. Kept minutes, then swept.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum SamlServiceProviders {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum SamlSignOns {
    Table,
    Sid,
    SpId,
    NameId,
    SessionIndex,
    CreatedAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum SamlLogoutChains {
    Table,
    Id,
    Steps,
    Current,
    RequestId,
    Finish,
    CreatedAt,
    ExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // `sid` is the session's public identifier (derived from its stored hash): it opens
        // nothing. `session_index` is what the SP was given, so a signed LogoutRequest naming
        // it finds the session's other sign-ons.
        manager
            .create_table(
                Table::create()
                    .table(SamlSignOns::Table)
                    .col(string_len(SamlSignOns::Sid, 64))
                    .col(string_len(SamlSignOns::SpId, 36))
                    .col(string_len(SamlSignOns::NameId, 512))
                    .col(string_len(SamlSignOns::SessionIndex, 128))
                    .col(timestamp_with_time_zone(SamlSignOns::CreatedAt))
                    .col(timestamp_with_time_zone(SamlSignOns::ExpiresAt))
                    .primary_key(Index::create().col(SamlSignOns::Sid).col(SamlSignOns::SpId))
                    .foreign_key(
                        ForeignKey::create()
                            .name("saml_sign_ons_sp")
                            .from(SamlSignOns::Table, SamlSignOns::SpId)
                            .to(SamlServiceProviders::Table, SamlServiceProviders::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("saml_sign_ons_session_index")
                    .table(SamlSignOns::Table)
                    .col(SamlSignOns::SpId)
                    .col(SamlSignOns::SessionIndex)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("saml_sign_ons_expires")
                    .table(SamlSignOns::Table)
                    .col(SamlSignOns::ExpiresAt)
                    .to_owned(),
            )
            .await?;
        // `steps`: a JSON list of the SPs to sign out of and what each answered; `current`:
        // the step whose LogoutRequest (`request_id`) is out; `finish`: the LogoutResponse to
        // the SP that started it (JSON), none for a sign-out at Latchkey.
        manager
            .create_table(
                Table::create()
                    .table(SamlLogoutChains::Table)
                    .col(string_len(SamlLogoutChains::Id, 64).primary_key())
                    .col(text(SamlLogoutChains::Steps))
                    .col(integer_null(SamlLogoutChains::Current))
                    .col(string_len_null(SamlLogoutChains::RequestId, 256))
                    .col(text_null(SamlLogoutChains::Finish))
                    .col(timestamp_with_time_zone(SamlLogoutChains::CreatedAt))
                    .col(timestamp_with_time_zone(SamlLogoutChains::ExpiresAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("saml_logout_chains_expires")
                    .table(SamlLogoutChains::Table)
                    .col(SamlLogoutChains::ExpiresAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            SamlLogoutChains::Table.into_iden(),
            SamlSignOns::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

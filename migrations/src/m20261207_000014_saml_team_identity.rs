//! Each team its own SAML identity provider:
//! - `saml_certificates`: a team's signing certificates, each with its private key sealed under
//!   the master key. Long-lived and independent of the JWT key rotation: one is published in
//!   the team's metadata ahead of use, and signs once an administrator switches SPs to it.
//! - `saml_service_providers.certificate_id`: the certificate that signs an SP's responses; an
//!   SP registered before this change has none and keeps the shared identity (`/saml/metadata`
//!   and the key ring's RSA keys) until its administrator moves it.
//! - An SP's entity ID is unique within its team, no longer across teams: one team can no
//!   longer take another company's entity ID first. SQLite cannot drop a column's UNIQUE, so
//!   there the two SAML tables are made anew with their rows.
//! - `pairwise_key` grows to hold a key sealed under the master key (the server seals the
//!   clear ones at start: a migration has no master key).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Teams {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum SamlCertificates {
    Table,
    Id,
    TeamId,
    CertPem,
    SealedKey,
    Fingerprint,
    NotBefore,
    NotAfter,
    CreatedAt,
    ActivatedAt,
    RetiredAt,
}

#[derive(DeriveIden)]
enum SamlServiceProviders {
    Table,
    TeamId,
    EntityId,
    CertificateId,
}

/// SQLite: both tables made anew, as they were but for the entity ID's UNIQUE, with the
/// certificate column and a wider pairwise key: the old ones renamed away first (the requests'
/// foreign key follows), the new ones made under the old names, the rows copied, the old
/// tables dropped.
const SQLITE_REBUILD: &[&str] = &[
    r#"ALTER TABLE "saml_requests" RENAME TO "saml_requests_before_14""#,
    r#"ALTER TABLE "saml_service_providers" RENAME TO "saml_service_providers_before_14""#,
    r#"CREATE TABLE "saml_service_providers" ( "id" varchar(36) NOT NULL PRIMARY KEY, "team_id" varchar(36) NOT NULL, "entity_id" varchar(512) NOT NULL, "name" varchar(200) NOT NULL, "acs_urls" text NOT NULL, "slo_url" varchar(2048) NULL, "name_id_format" varchar(16) NOT NULL, "attributes" text NOT NULL, "sign" varchar(16) NOT NULL, "signing_cert" text NULL, "encrypt_cert" text NULL, "encryption" varchar(16) NOT NULL, "created_at" timestamp_with_timezone_text NOT NULL, "pairwise_key" text NOT NULL DEFAULT '', "idp_initiated" boolean NOT NULL DEFAULT TRUE, "certificate_id" varchar(36) NULL, FOREIGN KEY ("team_id") REFERENCES "teams" ("id") ON DELETE CASCADE )"#,
    r#"INSERT INTO "saml_service_providers" ("id", "team_id", "entity_id", "name", "acs_urls", "slo_url", "name_id_format", "attributes", "sign", "signing_cert", "encrypt_cert", "encryption", "created_at", "pairwise_key", "idp_initiated") SELECT "id", "team_id", "entity_id", "name", "acs_urls", "slo_url", "name_id_format", "attributes", "sign", "signing_cert", "encrypt_cert", "encryption", "created_at", "pairwise_key", "idp_initiated" FROM "saml_service_providers_before_14""#,
    r#"CREATE TABLE "saml_requests" ( "id" varchar(64) NOT NULL PRIMARY KEY, "sp_id" varchar(36) NOT NULL, "request_id" varchar(256) NULL, "acs_url" varchar(2048) NOT NULL, "relay_state" text NULL, "force_authn" boolean NOT NULL, "created_at" timestamp_with_timezone_text NOT NULL, "expires_at" timestamp_with_timezone_text NOT NULL, "used_at" timestamp_with_timezone_text NULL, FOREIGN KEY ("sp_id") REFERENCES "saml_service_providers" ("id") ON DELETE CASCADE )"#,
    r#"INSERT INTO "saml_requests" SELECT "id", "sp_id", "request_id", "acs_url", "relay_state", "force_authn", "created_at", "expires_at", "used_at" FROM "saml_requests_before_14""#,
    r#"DROP TABLE "saml_requests_before_14""#,
    r#"DROP TABLE "saml_service_providers_before_14""#,
    r#"CREATE UNIQUE INDEX "saml_requests_replay" ON "saml_requests" ("sp_id", "request_id")"#,
    r#"CREATE INDEX "saml_requests_expires" ON "saml_requests" ("expires_at")"#,
];

/// PostgreSQL: the UNIQUE constraint dropped (its default name), the columns changed in place.
const POSTGRES_CHANGES: &[&str] = &[
    r#"ALTER TABLE "saml_service_providers" DROP CONSTRAINT IF EXISTS "saml_service_providers_entity_id_key""#,
    r#"ALTER TABLE "saml_service_providers" ALTER COLUMN "pairwise_key" TYPE text"#,
    r#"ALTER TABLE "saml_service_providers" ADD COLUMN "certificate_id" varchar(36) NULL"#,
    r#"ALTER TABLE "saml_requests" ALTER COLUMN "relay_state" TYPE text"#,
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let statements = match manager.get_database_backend() {
            DbBackend::Postgres => POSTGRES_CHANGES,
            _ => SQLITE_REBUILD,
        };
        for statement in statements {
            manager
                .get_connection()
                .execute_unprepared(statement)
                .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("saml_service_providers_team_entity")
                    .table(SamlServiceProviders::Table)
                    .col(SamlServiceProviders::TeamId)
                    .col(SamlServiceProviders::EntityId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("saml_service_providers_entity")
                    .table(SamlServiceProviders::Table)
                    .col(SamlServiceProviders::EntityId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("saml_service_providers_certificate")
                    .table(SamlServiceProviders::Table)
                    .col(SamlServiceProviders::CertificateId)
                    .to_owned(),
            )
            .await?;
        // A team's signing certificate. `activated_at`: when the team's SPs were switched to
        // it (new SPs get the team's last activated one); `retired_at`: taken out of the
        // metadata, once no SP uses it.
        manager
            .create_table(
                Table::create()
                    .table(SamlCertificates::Table)
                    .col(string_len(SamlCertificates::Id, 36).primary_key())
                    .col(string_len(SamlCertificates::TeamId, 36))
                    .col(text(SamlCertificates::CertPem))
                    .col(text(SamlCertificates::SealedKey))
                    .col(string_len(SamlCertificates::Fingerprint, 64))
                    .col(timestamp_with_time_zone(SamlCertificates::NotBefore))
                    .col(timestamp_with_time_zone(SamlCertificates::NotAfter))
                    .col(timestamp_with_time_zone(SamlCertificates::CreatedAt))
                    .col(timestamp_with_time_zone_null(SamlCertificates::ActivatedAt))
                    .col(timestamp_with_time_zone_null(SamlCertificates::RetiredAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("saml_certificates_team")
                            .from(SamlCertificates::Table, SamlCertificates::TeamId)
                            .to(Teams::Table, Teams::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("saml_certificates_team")
                    .table(SamlCertificates::Table)
                    .col(SamlCertificates::TeamId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(SamlCertificates::Table).to_owned())
            .await?;
        for index in [
            "saml_service_providers_certificate",
            "saml_service_providers_entity",
            "saml_service_providers_team_entity",
        ] {
            manager
                .drop_index(
                    Index::drop()
                        .name(index)
                        .table(SamlServiceProviders::Table)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(SamlServiceProviders::Table)
                    .drop_column(SamlServiceProviders::CertificateId)
                    .to_owned(),
            )
            .await
    }
}

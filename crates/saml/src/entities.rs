//! The tables of SAML service providers and of the sign-ons that wait for a person to sign in.

pub mod service_provider {
    use sea_orm::entity::prelude::*;

    /// A team's SAML service provider. `acs_urls` is a JSON list and `attributes` a JSON list
    /// of `{name, claim | literal, format}` objects (or, in rows written before those,
    /// `[name, claim]` pairs); the certificates are PEM.
    #[derive(Clone, Debug, Default, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "saml_service_providers")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub team_id: String,
        pub entity_id: String,
        pub name: String,
        pub acs_urls: String,
        pub slo_url: Option<String>,
        pub name_id_format: String,
        pub attributes: String,
        pub sign: String,
        pub signing_cert: Option<String>,
        pub encrypt_cert: Option<String>,
        pub encryption: String,
        /// HMAC key of its persistent NameIDs and SessionIndexes, sealed under the master key
        /// (`sealed:` and base64), or hex from before keys were sealed; never shown.
        pub pairwise_key: String,
        /// A sign-on may start at Latchkey (`/saml/init`).
        pub idp_initiated: bool,
        pub created_at: DateTimeUtc,
        /// The team certificate that signs its responses; none: the shared identity of SPs
        /// registered before teams had their own.
        pub certificate_id: Option<String>,
        /// The assertions' `Audience` when it is not the entity ID (Zendesk's is its host).
        pub audience: Option<String>,
        /// Its requests must be signed (its metadata's `AuthnRequestsSigned`, or the
        /// administrator's choice); otherwise a signature is verified when there is one.
        pub requests_signed: bool,
        /// Request signatures made with SHA-1 are accepted from it.
        pub allow_sha1: bool,
        /// Its assertion consumer services as its metadata lists them, a JSON list of
        /// `{index, binding, url}`; empty: `acs_urls`, indexed by position.
        pub acs_endpoints: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod pending_request {
    use sea_orm::entity::prelude::*;

    /// A sign-on waiting for the person to sign in. `request_id` is the AuthnRequest's ID
    /// (none when the sign-on started at `/saml/init`).
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "saml_requests")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub sp_id: String,
        pub request_id: Option<String>,
        pub acs_url: String,
        pub relay_state: Option<String>,
        pub force_authn: bool,
        pub created_at: DateTimeUtc,
        pub expires_at: DateTimeUtc,
        pub used_at: Option<DateTimeUtc>,
        /// The request asked not to be interrupted (`IsPassive`).
        pub passive: bool,
        /// The request was signed (and its signature verified).
        pub signed: bool,
        /// The NameID format it is answered in (`NameIdFormat::as_str`); none: the SP's.
        pub name_id_format: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod certificate {
    use sea_orm::entity::prelude::*;

    /// A team's SAML signing certificate (PEM) and its RSA key (PKCS#8, sealed under the
    /// master key, bound to the certificate's id).
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "saml_certificates")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub team_id: String,
        pub cert_pem: String,
        pub sealed_key: String,
        /// SHA-256 of the certificate's DER, hex: what Zendesk and others ask for.
        pub fingerprint: String,
        pub not_before: DateTimeUtc,
        pub not_after: DateTimeUtc,
        pub created_at: DateTimeUtc,
        /// When the team's SPs were switched to it; new SPs get the last one switched to.
        pub activated_at: Option<DateTimeUtc>,
        /// Taken out of the team's metadata.
        pub retired_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
pub mod sign_on_record {
    use sea_orm::entity::prelude::*;

    /// That a browser session (`sid`, its public identifier) signed in to an SP, and how the
    /// SP was told of the person: what a logout names to it.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "saml_sign_ons")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub sid: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub sp_id: String,
        pub name_id: String,
        pub session_index: String,
        pub created_at: DateTimeUtc,
        pub expires_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod logout_chain {
    use sea_orm::entity::prelude::*;

    /// A single logout on its way through a person's SPs. `steps` and `finish` are JSON.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "saml_logout_chains")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub steps: String,
        pub current: Option<i32>,
        pub request_id: Option<String>,
        pub finish: Option<String>,
        pub created_at: DateTimeUtc,
        pub expires_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

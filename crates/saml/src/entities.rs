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
        /// HMAC key of its persistent NameIDs and SessionIndexes (hex), never shown.
        pub pairwise_key: String,
        /// A sign-on may start at Latchkey (`/saml/init`).
        pub idp_initiated: bool,
        pub created_at: DateTimeUtc,
        /// The assertions' `Audience` when it is not the entity ID (Zendesk's is its host).
        pub audience: Option<String>,
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
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

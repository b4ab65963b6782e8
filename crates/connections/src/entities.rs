//! The tables of upstream connections. The client secret and PKCE verifiers are sealed under
//! the master key; the state only appears as its SHA-256.

pub mod connection {
    use sea_orm::entity::prelude::*;

    /// A team's own OpenID provider. `scopes` is space-separated.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "connections")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub team_id: String,
        pub name: String,
        pub issuer: String,
        pub client_id: String,
        pub client_secret_sealed: Vec<u8>,
        pub scopes: String,
        pub email_claim: String,
        pub require_email_verified: bool,
        pub created_at: DateTimeUtc,
        /// Google's `hd`: the one Workspace domain the connection admits, if set.
        pub hosted_domain: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod connection_domain {
    use sea_orm::entity::prelude::*;

    /// An address domain a connection signs in; home-realm discovery uses it once proven.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "connection_domains")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub connection_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub domain: String,
        pub challenge: String,
        pub proven_at: Option<DateTimeUtc>,
        /// When the proven domain's record was last found.
        pub checked_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod connection_link {
    use sea_orm::entity::prelude::*;

    /// The account an upstream `sub` signs in to.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "connection_links")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub connection_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub subject: String,
        pub user_id: String,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod upstream_login {
    use sea_orm::entity::prelude::*;

    /// A sign-in sent to a connection and not back yet.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "upstream_logins")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub state_hash: String,
        pub connection_id: String,
        pub nonce: String,
        pub verifier_sealed: Vec<u8>,
        pub login_hint: Option<String>,
        pub request_id: Option<String>,
        pub created_at: DateTimeUtc,
        pub expires_at: DateTimeUtc,
        /// The application demanded a fresh sign-in (`prompt=login`).
        pub prompt_login: bool,
        /// The application's `max_age`, in seconds.
        pub max_age: Option<i64>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

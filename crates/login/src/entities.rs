//! The tables of the login flow. Secrets appear here only as SHA-256 hex or sealed bytes.

/// Accounts belong to teams, so the teams crate owns their table.
pub use latchkey_teams::entities::user;

pub mod login_link {
    use sea_orm::entity::prelude::*;

    /// One emailed credential: the link (by the hash of its `jti`) and its code (by hash),
    /// bound to the browser that asked (by the hash of a cookie).
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "login_links")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        #[sea_orm(unique)]
        pub token_hash: String,
        pub browser_hash: String,
        pub code_hash: String,
        pub email: String,
        pub purpose: String,
        pub failed_codes: i32,
        pub created_at: DateTimeUtc,
        pub expires_at: DateTimeUtc,
        pub used_at: Option<DateTimeUtc>,
        pub requested_ip: String,
        pub requested_user_agent: String,
        /// The pending authorization request that signing in continues.
        pub authorization_request: Option<String>,
        /// The join link that signing in completes.
        pub join_link: Option<String>,
        /// The name given on the register or join form, set when the account is made.
        pub name: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod session {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "sessions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id_hash: String,
        pub user_id: String,
        pub created_at: DateTimeUtc,
        pub last_seen_at: DateTimeUtc,
        pub expires_at: DateTimeUtc,
        pub revoked_at: Option<DateTimeUtc>,
        /// The team the person is working in; tokens for the `team` scope name it.
        pub team_id: Option<String>,
        /// The origins that may frame this session's pages (space-separated), when an
        /// integration opened it inside a frame.
        pub frame_ancestors: Option<String>,
        /// The trusted issuer whose token opened it: such a session is bound to its team.
        pub opened_by: Option<String>,
        /// The team's identity provider (connection) it was opened through, if any.
        pub connection_id: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        #[sea_orm(
            belongs_to = "super::user::Entity",
            from = "Column::UserId",
            to = "super::user::Column::Id"
        )]
        User,
    }

    impl Related<super::user::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::User.def()
        }
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod mail_outbox {
    use sea_orm::entity::prelude::*;

    /// A mail waiting to be sent. The message is sealed under the master key (it holds a live
    /// link) and erased once sent or dropped.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "mail_outbox")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub recipient: String,
        pub sealed_message: Option<Vec<u8>>,
        pub created_at: DateTimeUtc,
        pub expires_at: DateTimeUtc,
        pub attempts: i32,
        pub next_attempt_at: DateTimeUtc,
        pub claimed_until: Option<DateTimeUtc>,
        /// The delivery round that holds the claim.
        pub claimed_by: Option<String>,
        pub sent_at: Option<DateTimeUtc>,
        pub dropped_at: Option<DateTimeUtc>,
        pub last_error: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod address_limit {
    use sea_orm::entity::prelude::*;

    /// Mail sent to one address (by hash) in the current window: the per-address limit,
    /// kept in the database so it holds across replicas.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "address_limits")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub email_hash: String,
        pub window_started_at: DateTimeUtc,
        pub count: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

//! The tables of teams, and the accounts they are made of.

macro_rules! no_relations {
    () => {
        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    };
}

pub mod user {
    use sea_orm::entity::prelude::*;

    /// An account: one person, known by the address their magic links go to. Or an identity
    /// an integration's assertion created for its team (`provisioned_by`): its `email` is a
    /// reserved address nobody signs in with, and `asserted_email` is what the integration
    /// said, unverified.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "users")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        #[sea_orm(unique)]
        pub email: String,
        pub created_at: DateTimeUtc,
        pub last_sign_in_at: Option<DateTimeUtc>,
        pub provisioned_by: Option<String>,
        pub asserted_email: Option<String>,
        pub name: Option<String>,
        pub given_name: Option<String>,
        pub family_name: Option<String>,
        pub name_updated_at: Option<DateTimeUtc>,
        /// Set by the person or the operator: an integration's claim no longer changes it.
        pub name_edited: bool,
    }

    impl Model {
        /// The address to show: the person's, or the one an integration gave.
        pub fn shown_email(&self) -> &str {
            self.asserted_email.as_deref().unwrap_or(&self.email)
        }
    }

    no_relations!();
}

pub mod team {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "teams")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub name: String,
        pub created_at: DateTimeUtc,
        /// Touched by every change of membership, which locks the row on PostgreSQL, so two
        /// administrators demoting each other cannot both succeed.
        pub updated_at: DateTimeUtc,
    }

    no_relations!();
}

pub mod membership {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "memberships")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub team_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub user_id: String,
        pub role: String,
        pub joined_at: DateTimeUtc,
        /// The join link the member came in through, if any.
        pub join_link_id: Option<String>,
        /// For a member provisioned from an integration's JWT: its issuer and `sub`.
        pub external_issuer: Option<String>,
        pub external_id: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        #[sea_orm(
            belongs_to = "super::user::Entity",
            from = "Column::UserId",
            to = "super::user::Column::Id"
        )]
        User,
        #[sea_orm(
            belongs_to = "super::team::Entity",
            from = "Column::TeamId",
            to = "super::team::Column::Id"
        )]
        Team,
    }

    impl Related<super::user::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::User.def()
        }
    }

    impl Related<super::team::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::Team.def()
        }
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod join_link {
    use sea_orm::entity::prelude::*;

    /// A link an administrator hands out; only the SHA-256 of its token is kept.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "join_links")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub team_id: String,
        #[sea_orm(unique)]
        pub token_hash: String,
        pub role: String,
        /// Who created it, as the audit log names them.
        pub created_by: String,
        pub created_at: DateTimeUtc,
        pub expires_at: DateTimeUtc,
        pub max_uses: Option<i32>,
        pub uses: i32,
        pub revoked_at: Option<DateTimeUtc>,
    }

    no_relations!();
}

pub mod audit_event {
    use sea_orm::entity::prelude::*;

    /// One thing that happened. Rows are only ever inserted.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "audit_events")]
    pub struct Model {
        /// A UUIDv7: ordered by time, so it is also the paging cursor.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub team_id: Option<String>,
        pub at: DateTimeUtc,
        pub action: String,
        pub actor: String,
        pub actor_id: Option<String>,
        pub subject: String,
        pub subject_id: Option<String>,
        /// A JSON object.
        pub details: String,
        pub ip: String,
        pub user_agent: String,
    }

    no_relations!();
}

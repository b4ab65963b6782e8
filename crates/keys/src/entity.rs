pub mod signing_key {
    use sea_orm::entity::prelude::*;

    use crate::algorithm::SigningAlgorithm;

    /// A signing key. Its private half is sealed under the master key with the kid as context;
    /// its state is derived from the times (see `lifecycle`).
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "signing_keys")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub kid: String,
        pub algorithm: SigningAlgorithm,
        pub generation: i64,
        pub created_at: DateTimeUtc,
        pub activates_at: DateTimeUtc,
        pub sealed_private_key: Vec<u8>,
        pub public_jwk: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

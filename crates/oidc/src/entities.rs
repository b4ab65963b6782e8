//! The tables of the OAuth flows. Secrets appear here only as SHA-256 hex.

macro_rules! no_relations {
    () => {
        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    };
}

pub mod client {
    use sea_orm::entity::prelude::*;

    /// A registered relying party. Lists are JSON arrays of strings.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "clients")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub name: String,
        pub secret_hash: Option<String>,
        pub auth_method: String,
        pub redirect_uris: String,
        pub post_logout_redirect_uris: String,
        pub grant_types: String,
        pub scopes: String,
        pub jwks_uri: Option<String>,
        pub jwks: Option<String>,
        pub team_id: Option<String>,
        pub first_party: bool,
        pub require_pkce: bool,
        pub id_token_alg: String,
        pub created_at: DateTimeUtc,
        /// The secret before the last rotation, accepted until `previous_secret_expires_at`.
        pub previous_secret_hash: Option<String>,
        pub previous_secret_expires_at: Option<DateTimeUtc>,
        /// Where the application starts a sign-in opened from Latchkey's side (OpenID
        /// Connect Core §4); none: it cannot be opened from the launcher.
        pub initiate_login_uri: Option<String>,
    }

    no_relations!();
}

pub mod authorization_request {
    use sea_orm::entity::prelude::*;

    /// A validated authorization request waiting for sign-in or consent.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "authorization_requests")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub client_id: String,
        pub params: String,
        pub created_at: DateTimeUtc,
        pub expires_at: DateTimeUtc,
        pub completed_at: Option<DateTimeUtc>,
    }

    no_relations!();
}

pub mod used_code {
    use sea_orm::entity::prelude::*;

    /// An authorization code that has been exchanged (by the SHA-256 of its id), kept past
    /// its expiry so a replay is recognised and revokes what the code gave.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "used_codes")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id_hash: String,
        pub expires_at: DateTimeUtc,
    }

    no_relations!();
}

pub mod grant {
    use sea_orm::entity::prelude::*;

    /// What one authorization gave one client: the family of its refresh tokens and the
    /// access tokens issued from them. Revoking it ends them all.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "grants")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub client_id: String,
        pub user_id: String,
        pub scope: String,
        pub auth_time: DateTimeUtc,
        pub sid: String,
        pub created_at: DateTimeUtc,
        pub expires_at: DateTimeUtc,
        pub revoked_at: Option<DateTimeUtc>,
        pub revoked_reason: Option<String>,
        /// The team the grant was made for (a team-bound client, or the `team` scope).
        pub team_id: Option<String>,
        /// The resource server (RFC 8707) its access tokens are for; none: the client itself.
        pub resource: Option<String>,
    }

    no_relations!();
}

pub mod resource_server {
    use sea_orm::entity::prelude::*;

    /// An API that access tokens can be issued for (RFC 8707). Its identifier is the tokens'
    /// `aud`; `scopes` are the only scopes its tokens carry.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "resource_servers")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub identifier: String,
        pub name: String,
        /// Space-separated.
        pub scopes: String,
        /// Only this team's clients may get tokens for it; none: any client.
        pub team_id: Option<String>,
        /// The client whose credentials the resource server introspects tokens with.
        pub introspection_client_id: Option<String>,
        pub created_at: DateTimeUtc,
    }

    no_relations!();
}

pub mod refresh_token {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "refresh_tokens")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub token_hash: String,
        pub grant_id: String,
        pub created_at: DateTimeUtc,
        pub expires_at: DateTimeUtc,
        pub used_at: Option<DateTimeUtc>,
    }

    no_relations!();
}

pub mod consent {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "consents")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub user_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub client_id: String,
        pub scope: String,
        pub granted_at: DateTimeUtc,
    }

    no_relations!();
}

pub mod revoked_token {
    use sea_orm::entity::prelude::*;

    /// An access token revoked before its expiry, kept until then.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "revoked_tokens")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub jti: String,
        pub revoked_at: DateTimeUtc,
        pub expires_at: DateTimeUtc,
    }

    no_relations!();
}

pub mod seen_assertion {
    use sea_orm::entity::prelude::*;

    /// A client assertion's `jti` (hashed with its client), kept until it expires: replays fail.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "seen_assertions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub expires_at: DateTimeUtc,
    }

    no_relations!();
}

pub mod trusted_issuer {
    use sea_orm::entity::prelude::*;

    /// An integration a team trusts to sign assertions about its users (RFC 7523).
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "trusted_issuers")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub team_id: String,
        pub issuer: String,
        pub jwks_uri: Option<String>,
        pub jwks: Option<String>,
        /// Comma-separated JOSE names.
        pub algorithms: String,
        /// The `aud` assertions must carry; `None`: the token endpoint or the issuer.
        pub audience: Option<String>,
        pub max_lifetime_secs: i32,
        pub email_claim: String,
        pub name_claim: String,
        pub created_at: DateTimeUtc,
        /// Without `jti`, a token is remembered by its SHA-256 until it expires.
        pub require_jti: bool,
        /// The claim, and its value, that make the member an administrator.
        pub admin_claim: Option<String>,
        pub admin_value: Option<String>,
        /// The origins (space-separated) that may frame the sessions its tokens open.
        pub frame_origins: Option<String>,
    }

    no_relations!();
}

//! Inbound JWT federation: the issuers a team trusts to sign tokens about its members. Their
//! tokens are verified in `assertions`, and the member they name found, linked or provisioned
//! in `members`; the jwt-bearer grant (`grant/jwt_bearer.rs`) exchanges them for access
//! tokens, and `browser` opens a browser session with them (`/sso/jwt`).

pub(crate) mod assertions;
mod browser;
#[cfg(test)]
mod cap_tests;
pub(crate) mod issuer_cache;
pub(crate) mod members;
pub(crate) mod rejection;
mod replacing;
mod service;
mod settings;
pub(crate) mod sign_on_batch;

pub use browser::{BrowserOutcome, BrowserRequest, BrowserSignOn, SignOnRefused};
pub use replacing::Replacing;
pub use service::Federation;
pub use settings::{AdminClaim, LONGEST_LIFETIME, MAX_FRAME_ORIGINS, NewIssuer, TrustedIssuer};

use chrono::{DateTime, Utc};
pub use jsonwebtoken::Algorithm;
use latchkey_core::{TeamId, TrustedIssuerId};
use latchkey_teams::{Actor, AuditLog, Subject, Teams};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder};
use serde_json::json;

use super::entities::trusted_issuer;
use crate::remote_jwks::RemoteJwks;

pub const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// Issuers one team may trust: enough for every integration a team runs, few enough that
/// one team cannot fill the database with key sets.
pub const MAX_ISSUERS_PER_TEAM: u64 = 20;
/// Algorithms an issuer may be allowed; never `none` or HMAC (RFC 8725 §3.1).
pub(crate) const ALLOWED: [(&str, Algorithm); 3] = [
    ("ES256", Algorithm::ES256),
    ("RS256", Algorithm::RS256),
    ("EdDSA", Algorithm::EdDSA),
];

/// Reads an algorithm as JOSE spells it (case aside): only those in [`ALLOWED`].
pub fn parse_algorithm(raw: &str) -> Result<Algorithm, IssuerError> {
    ALLOWED
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(raw.trim()))
        .map(|(_, alg)| *alg)
        .ok_or_else(|| IssuerError::Algorithm(raw.trim().to_owned()))
}

#[derive(Debug, thiserror::Error)]
pub enum IssuerError {
    #[error("the issuer must be a non-empty string of at most 512 characters")]
    Issuer,
    #[error("give the issuer's keys one way: the URL of its key set, or the key set itself")]
    Keys,
    #[error("the key set URL must be https (http only for 127.0.0.1 or localhost)")]
    JwksUri,
    #[error(
        "the issuer's keys could not be fetched from the key set URL, or hold no usable public key"
    )]
    KeysUnreachable,
    #[error("the key set is not a JWKS with at least one usable public key: {0}")]
    Jwks(String),
    #[error("the algorithm {0:?} is not allowed: use ES256, RS256 or EdDSA (never none or HMAC)")]
    Algorithm(String),
    #[error("the longest token lifetime must be between 1 second and 24 hours")]
    Lifetime,
    #[error("{0}")]
    PublicKey(latchkey_keys::PemKeyError),
    #[error(
        "{0:?} is not an origin that may frame sign-ons: give https://host[:port], with no path"
    )]
    FrameOrigin(String),
    #[error("at most {MAX_FRAME_ORIGINS} origins may frame one issuer's sign-ons")]
    TooManyOrigins,
    #[error("the administrator claim must be CLAIM=VALUE, for example role=admin")]
    AdminClaim,
    #[error("the email and name claims must be claim names of at most 64 characters")]
    Claim,
    #[error("the audience must be at most 512 characters")]
    Audience,
    #[error("a team may trust at most {MAX_ISSUERS_PER_TEAM} issuers: remove one first")]
    TooMany,
    #[error("team {0:?} already trusts this issuer: remove it first")]
    Exists(String),
    #[error("there is no such team: use the team_id that `latchkey team create` printed")]
    NoTeam,
    #[error(transparent)]
    Team(latchkey_teams::TeamError),
    #[error("there is no trusted issuer {0:?} in this team")]
    NotFound(String),
    #[error("database: {0}")]
    Database(#[from] sea_orm::DbErr),
}

/// The issuers teams trust.
#[derive(Clone)]
pub struct TrustedIssuers {
    db: latchkey_core::Db,
    /// Fetches an issuer's keys once when it is added, so a wrong URL is said at once.
    jwks: RemoteJwks,
}

/// Inserts a trusted issuer; one the team trusts already is refused (the pair is unique).
async fn insert_once<C: sea_orm::ConnectionTrait>(
    conn: &C,
    row: &trusted_issuer::Model,
) -> Result<(), IssuerError> {
    let inserted = trusted_issuer::Entity::insert(trusted_issuer::ActiveModel::from(row.clone()))
        .on_conflict(
            OnConflict::columns([
                trusted_issuer::Column::TeamId,
                trusted_issuer::Column::Issuer,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(conn)
        .await?;
    if inserted == 0 {
        return Err(IssuerError::Exists(row.team_id.clone()));
    }
    Ok(())
}

impl TrustedIssuers {
    pub fn new(db: latchkey_core::Db, jwks: RemoteJwks) -> Self {
        Self { db, jwks }
    }

    /// Trusts an issuer for a team (its administrators, or the operator).
    pub async fn add(
        &self,
        new: NewIssuer,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<TrustedIssuer, IssuerError> {
        let issuer = new.issuer.trim();
        if issuer.is_empty() || issuer.len() > 512 {
            return Err(IssuerError::Issuer);
        }
        let inline_keys = new.checked_keys()?;
        let algorithms = new.checked_algorithms();
        new.check_limits()?;
        let frame_origins = new.checked_frame_origins()?;
        if let Some(uri) = &new.jwks_uri {
            self.jwks
                .check(uri)
                .await
                .map_err(|_| IssuerError::KeysUnreachable)?;
        }
        let txn = latchkey_teams::administer(&self.db, &new.team_id, actor, now)
            .await
            .map_err(|e| admin_error(e, actor))?;
        // Counted under the team's lock, so two additions at once cannot pass the cap.
        let trusted = trusted_issuer::Entity::find()
            .filter(trusted_issuer::Column::TeamId.eq(new.team_id.as_str()))
            .count(&*txn)
            .await?;
        if trusted >= MAX_ISSUERS_PER_TEAM {
            return Err(IssuerError::TooMany);
        }
        let row = trusted_issuer::Model {
            id: uuid::Uuid::now_v7().to_string(),
            team_id: new.team_id.clone().into_string(),
            issuer: issuer.to_owned(),
            jwks_uri: new.jwks_uri,
            jwks: inline_keys,
            algorithms: algorithms.join(","),
            audience: new.audience.filter(|a| !a.trim().is_empty()),
            max_lifetime_secs: i32::try_from(new.max_lifetime.num_seconds())
                .map_err(|_| IssuerError::Lifetime)?,
            email_claim: new.email_claim,
            name_claim: new.name_claim,
            created_at: now,
            require_jti: new.require_jti,
            admin_claim: new.admin_claim.as_ref().map(|a| a.claim.clone()),
            admin_value: new.admin_claim.map(|a| a.value),
            frame_origins,
        };
        insert_once(&*txn, &row).await?;
        AuditLog::record(
            &*txn,
            Some(&new.team_id),
            "issuer.added",
            actor,
            &Subject::new(&row.id, &row.issuer),
            json!({
                "issuer": row.issuer,
                "algorithms": algorithms,
                "require_jti": row.require_jti,
                "admin_claim": row.admin_claim,
                "frame_origins": row.frame_origins,
            }),
            now,
        )
        .await?;
        txn.commit().await?;
        Ok(row.into())
    }

    /// A team's trusted issuers (its administrators, or the operator).
    pub async fn list(
        &self,
        team_id: &TeamId,
        actor: &Actor,
    ) -> Result<Vec<TrustedIssuer>, IssuerError> {
        require_admin(self.db.read(), team_id, actor).await?;
        Ok(trusted_issuer::Entity::find()
            .filter(trusted_issuer::Column::TeamId.eq(team_id))
            .order_by_asc(trusted_issuer::Column::CreatedAt)
            .all(self.db.read())
            .await?
            .into_iter()
            .map(TrustedIssuer::from)
            .collect())
    }

    /// Stops trusting an issuer (the team's administrators, or the operator); returns its `iss`.
    pub async fn remove(
        &self,
        team_id: &TeamId,
        id: &TrustedIssuerId,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<String, IssuerError> {
        let txn = latchkey_teams::administer(&self.db, team_id, actor, now)
            .await
            .map_err(|e| admin_error(e, actor))?;
        let Some(row) = trusted_issuer::Entity::find_by_id(id)
            .filter(trusted_issuer::Column::TeamId.eq(team_id))
            .one(&*txn)
            .await?
        else {
            return Err(IssuerError::NotFound(id.to_string()));
        };
        trusted_issuer::Entity::delete_by_id(id).exec(&*txn).await?;
        // The sessions its tokens opened in this team end with the trust.
        let ended =
            latchkey_login::Sessions::end_opened_by(&*txn, team_id.as_str(), &row.issuer, now)
                .await?;
        AuditLog::record(
            &*txn,
            Some(team_id),
            "issuer.removed",
            actor,
            &Subject::new(id, &row.issuer),
            json!({ "issuer": row.issuer, "sessions_ended": ended }),
            now,
        )
        .await?;
        txn.commit().await?;
        Ok(row.issuer)
    }
}

/// The team's administrators pass; for the operator, the team must exist.
async fn require_admin<C: sea_orm::ConnectionTrait>(
    conn: &C,
    team_id: &TeamId,
    actor: &Actor,
) -> Result<(), IssuerError> {
    Teams::require_admin(conn, team_id, actor)
        .await
        .map_err(|e| admin_error(e, actor))
}

fn admin_error(error: latchkey_teams::TeamError, actor: &Actor) -> IssuerError {
    match error {
        latchkey_teams::TeamError::NotFound if actor.user_id.is_none() => IssuerError::NoTeam,
        latchkey_teams::TeamError::Database(e) => IssuerError::Database(e),
        other => IssuerError::Team(other),
    }
}

//! Inbound JWT federation: the issuers a team trusts to sign assertions about its members.
//! The grant that exchanges those assertions is `grant/jwt_bearer.rs`.

use chrono::{DateTime, TimeDelta, Utc};
pub use jsonwebtoken::Algorithm;
use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::JwkSet;
use latchkey_core::{TeamId, TrustedIssuerId};
use latchkey_teams::{Actor, AuditLog, Subject, Teams};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder};
use serde::Serialize;
use serde_json::json;

use super::entities::trusted_issuer;
use crate::remote_jwks::{RemoteJwks, acceptable_url};

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

/// What trusting an issuer asks for (`latchkey issuer add`, the integrations page).
#[derive(Clone, Debug)]
pub struct NewIssuer {
    pub team_id: TeamId,
    pub issuer: String,
    pub jwks_uri: Option<String>,
    pub jwks: Option<String>,
    /// Empty: all of [`ALLOWED`].
    pub algorithms: Vec<Algorithm>,
    pub audience: Option<String>,
    /// The longest assertion lifetime (`exp - iat`) accepted.
    pub max_lifetime: chrono::TimeDelta,
    pub email_claim: String,
    pub name_claim: String,
}

/// Each part of a new trusted issuer, checked on its own.
impl NewIssuer {
    /// Keys by URL (fetched later) or inline (each must verify), not both.
    fn check_keys(&self) -> Result<(), IssuerError> {
        match (&self.jwks_uri, &self.jwks) {
            (Some(uri), None) if !acceptable_url(uri) => Err(IssuerError::JwksUri),
            (Some(_), None) => Ok(()),
            (None, Some(jwks)) => {
                let set: JwkSet =
                    serde_json::from_str(jwks).map_err(|e| IssuerError::Jwks(e.to_string()))?;
                if set.keys.is_empty() || set.keys.iter().any(|k| DecodingKey::from_jwk(k).is_err())
                {
                    return Err(IssuerError::Jwks(
                        "a key cannot be used for verification".into(),
                    ));
                }
                Ok(())
            }
            _ => Err(IssuerError::Keys),
        }
    }

    /// The algorithms named (all three by default), each once, as they are spelled in JOSE.
    fn checked_algorithms(&self) -> Vec<String> {
        ALLOWED
            .iter()
            .filter(|(_, alg)| self.algorithms.is_empty() || self.algorithms.contains(alg))
            .map(|(name, _)| (*name).to_owned())
            .collect()
    }

    fn check_limits(&self) -> Result<(), IssuerError> {
        if !(TimeDelta::seconds(1)..=TimeDelta::hours(1)).contains(&self.max_lifetime) {
            return Err(IssuerError::Lifetime);
        }
        if self.email_claim.is_empty() || self.email_claim.len() > 64 || self.name_claim.len() > 64
        {
            return Err(IssuerError::Claim);
        }
        if self.audience.as_ref().is_some_and(|a| a.len() > 512) {
            return Err(IssuerError::Audience);
        }
        Ok(())
    }
}

/// A trusted issuer as listed.
#[derive(Clone, Debug, Serialize)]
pub struct TrustedIssuer {
    pub id: TrustedIssuerId,
    pub team_id: TeamId,
    pub issuer: String,
    pub jwks_uri: Option<String>,
    pub inline_jwks: bool,
    pub algorithms: Vec<String>,
    pub audience: Option<String>,
    pub max_lifetime_secs: i32,
    pub email_claim: String,
    pub name_claim: String,
    pub created_at: DateTime<Utc>,
}

impl From<trusted_issuer::Model> for TrustedIssuer {
    fn from(row: trusted_issuer::Model) -> Self {
        Self {
            algorithms: row.algorithms.split(',').map(str::to_owned).collect(),
            inline_jwks: row.jwks.is_some(),
            id: row.id.into(),
            team_id: row.team_id.into(),
            issuer: row.issuer,
            jwks_uri: row.jwks_uri,
            audience: row.audience,
            max_lifetime_secs: row.max_lifetime_secs,
            email_claim: row.email_claim,
            name_claim: row.name_claim,
            created_at: row.created_at,
        }
    }
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
    #[error("the longest assertion lifetime must be between 1 second and 1 hour")]
    Lifetime,
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
        new.check_keys()?;
        let algorithms = new.checked_algorithms();
        new.check_limits()?;
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
            jwks: new.jwks,
            algorithms: algorithms.join(","),
            audience: new.audience.filter(|a| !a.trim().is_empty()),
            max_lifetime_secs: i32::try_from(new.max_lifetime.num_seconds())
                .map_err(|_| IssuerError::Lifetime)?,
            email_claim: new.email_claim,
            name_claim: new.name_claim,
            created_at: now,
        };
        let inserted =
            trusted_issuer::Entity::insert(trusted_issuer::ActiveModel::from(row.clone()))
                .on_conflict(
                    OnConflict::columns([
                        trusted_issuer::Column::TeamId,
                        trusted_issuer::Column::Issuer,
                    ])
                    .do_nothing()
                    .to_owned(),
                )
                .exec_without_returning(&*txn)
                .await?;
        if inserted == 0 {
            return Err(IssuerError::Exists(new.team_id.into_string()));
        }
        AuditLog::record(
            &*txn,
            Some(&new.team_id),
            "issuer.added",
            actor,
            &Subject::new(&row.id, &row.issuer),
            json!({ "issuer": row.issuer, "algorithms": algorithms }),
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

    /// Stops trusting an issuer (the team's administrators, or the operator).
    pub async fn remove(
        &self,
        team_id: &TeamId,
        id: &TrustedIssuerId,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<(), IssuerError> {
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
        AuditLog::record(
            &*txn,
            Some(team_id),
            "issuer.removed",
            actor,
            &Subject::new(id, &row.issuer),
            json!({ "issuer": row.issuer }),
            now,
        )
        .await?;
        txn.commit().await?;
        Ok(())
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

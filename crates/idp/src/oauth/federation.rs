//! Inbound JWT federation: the issuers a team trusts, and the JWT bearer grant (RFC 7523 §2.1)
//! that exchanges one of their signed assertions for a Latchkey access token for the member
//! it names, who is linked or provisioned in the issuer's team.

use chrono::{DateTime, TimeZone, Utc};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use latchkey_teams::{Actor, AuditLog, Role, Subject, Teams};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    TransactionTrait,
};
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::client::{Client, GrantType};
use super::entities::{seen_assertion, trusted_issuer};
use super::error::OAuthError;
use super::provider::Provider;
use super::scope::{OFFLINE_ACCESS, OPENID, Scopes};
use super::tokens::TokenResponse;
use crate::remote_jwks::{acceptable_url, select};
use crate::secret::sha256_hex;

pub const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// Clock difference tolerated between the integration and Latchkey.
const LEEWAY: u64 = 30;
/// Algorithms an issuer may be allowed; never `none` or HMAC (RFC 8725 §3.1).
const ALLOWED: [(&str, Algorithm); 3] = [
    ("ES256", Algorithm::ES256),
    ("RS256", Algorithm::RS256),
    ("EdDSA", Algorithm::EdDSA),
];

/// What `latchkey issuer add` asks for.
#[derive(Clone, Debug)]
pub struct NewIssuer {
    pub team_id: String,
    pub issuer: String,
    pub jwks_uri: Option<String>,
    pub jwks: Option<String>,
    pub algorithms: Vec<String>,
    pub audience: Option<String>,
    pub max_lifetime_secs: i64,
    pub email_claim: String,
    pub name_claim: String,
}

/// A trusted issuer as listed.
#[derive(Clone, Debug, Serialize)]
pub struct TrustedIssuer {
    pub id: String,
    pub team_id: String,
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
            id: row.id,
            team_id: row.team_id,
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
    #[error("--issuer must be a non-empty string of at most 512 characters")]
    Issuer,
    #[error("give the keys with exactly one of --jwks-uri and --jwks-file")]
    Keys,
    #[error("--jwks-uri must be an https URL (http only for 127.0.0.1 or localhost)")]
    JwksUri,
    #[error("--jwks-file is not a JWKS with at least one usable public key: {0}")]
    Jwks(String),
    #[error("--algorithm {0:?} is not allowed: use ES256, RS256 or EdDSA (never none or HMAC)")]
    Algorithm(String),
    #[error("--max-lifetime must be between 1 second and 1 hour")]
    Lifetime,
    #[error("--email-claim and --name-claim must be claim names of at most 64 characters")]
    Claim,
    #[error("--audience must be at most 512 characters")]
    Audience,
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
    db: DatabaseConnection,
}

impl TrustedIssuers {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
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
        match (&new.jwks_uri, &new.jwks) {
            (Some(uri), None) if !acceptable_url(uri) => return Err(IssuerError::JwksUri),
            (Some(_), None) => {}
            (None, Some(jwks)) => {
                let set: JwkSet =
                    serde_json::from_str(jwks).map_err(|e| IssuerError::Jwks(e.to_string()))?;
                if set.keys.is_empty() || set.keys.iter().any(|k| DecodingKey::from_jwk(k).is_err())
                {
                    return Err(IssuerError::Jwks(
                        "a key cannot be used for verification".into(),
                    ));
                }
            }
            _ => return Err(IssuerError::Keys),
        }
        let mut algorithms = Vec::new();
        for alg in if new.algorithms.is_empty() {
            vec!["ES256".to_owned(), "RS256".to_owned(), "EdDSA".to_owned()]
        } else {
            new.algorithms.clone()
        } {
            let Some((name, _)) = ALLOWED
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(alg.trim()))
            else {
                return Err(IssuerError::Algorithm(alg));
            };
            if !algorithms.contains(&(*name).to_owned()) {
                algorithms.push((*name).to_owned());
            }
        }
        if !(1..=3600).contains(&new.max_lifetime_secs) {
            return Err(IssuerError::Lifetime);
        }
        if new.email_claim.is_empty() || new.email_claim.len() > 64 || new.name_claim.len() > 64 {
            return Err(IssuerError::Claim);
        }
        if new.audience.as_ref().is_some_and(|a| a.len() > 512) {
            return Err(IssuerError::Audience);
        }
        let txn = self.db.begin().await?;
        // Written first (see `lock_team`), and it refuses a team that does not exist.
        if let Err(error) = latchkey_teams::lock_team(&txn, &new.team_id, now).await {
            return Err(admin_error(error, actor));
        }
        require_admin(&txn, &new.team_id, actor).await?;
        let row = trusted_issuer::Model {
            id: uuid::Uuid::now_v7().to_string(),
            team_id: new.team_id.clone(),
            issuer: issuer.to_owned(),
            jwks_uri: new.jwks_uri,
            jwks: new.jwks,
            algorithms: algorithms.join(","),
            audience: new.audience.filter(|a| !a.trim().is_empty()),
            max_lifetime_secs: i32::try_from(new.max_lifetime_secs)
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
                .exec_without_returning(&txn)
                .await?;
        if inserted == 0 {
            return Err(IssuerError::Exists(new.team_id));
        }
        AuditLog::record(
            &txn,
            Some(&row.team_id),
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
        team_id: &str,
        actor: &Actor,
    ) -> Result<Vec<TrustedIssuer>, IssuerError> {
        require_admin(&self.db, team_id, actor).await?;
        Ok(trusted_issuer::Entity::find()
            .filter(trusted_issuer::Column::TeamId.eq(team_id))
            .order_by_asc(trusted_issuer::Column::CreatedAt)
            .all(&self.db)
            .await?
            .into_iter()
            .map(TrustedIssuer::from)
            .collect())
    }

    /// Stops trusting an issuer (the team's administrators, or the operator).
    pub async fn remove(
        &self,
        team_id: &str,
        id: &str,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<(), IssuerError> {
        let txn = self.db.begin().await?;
        if let Err(error) = latchkey_teams::lock_team(&txn, team_id, now).await {
            return Err(admin_error(error, actor));
        }
        require_admin(&txn, team_id, actor).await?;
        let Some(row) = trusted_issuer::Entity::find_by_id(id)
            .filter(trusted_issuer::Column::TeamId.eq(team_id))
            .one(&txn)
            .await?
        else {
            return Err(IssuerError::NotFound(id.to_owned()));
        };
        trusted_issuer::Entity::delete_by_id(id).exec(&txn).await?;
        AuditLog::record(
            &txn,
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
    team_id: &str,
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

impl Provider {
    /// `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer` (RFC 7523 §2.1): every
    /// refusal is `invalid_grant` naming the check that failed.
    pub async fn jwt_bearer(
        &self,
        client: &Client,
        assertion: Option<&str>,
        scope: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<TokenResponse, OAuthError> {
        client.require_grant(GrantType::JwtBearer)?;
        // Checked before anything is written: a bad scope must not spend the jti or provision.
        // No ID token or refresh token from this grant: the integration signed the person in.
        let scopes = Scopes::narrow(scope, client.scopes.clone(), |extra| {
            format!("this client is not allowed the scope {extra:?}")
        })?
        .without(&[OPENID, OFFLINE_ACCESS]);
        let assertion =
            assertion.ok_or_else(|| OAuthError::invalid_request("assertion is missing"))?;
        let refuse = |why: String| OAuthError::invalid_grant(format!("assertion: {why}"));
        let header = jsonwebtoken::decode_header(assertion).map_err(|_| {
            refuse("not a signed JWT with a supported algorithm (ES256, RS256, EdDSA)".into())
        })?;
        let unverified: Map<String, Value> = jsonwebtoken::dangerous::insecure_decode(assertion)
            .map(|d| d.claims)
            .map_err(|_| refuse("the claims cannot be read".into()))?;
        let iss = unverified
            .get("iss")
            .and_then(Value::as_str)
            .ok_or_else(|| refuse("no iss".into()))?;
        // Only the issuers of the client's own team: assertions are not bound to a client, so
        // a client of another team must not be able to spend them.
        let Some(team) = &client.team_id else {
            return Err(OAuthError::unauthorized_client(
                "the jwt-bearer grant needs a client bound to a team (--team)",
            ));
        };
        let trusted = trusted_issuer::Entity::find()
            .filter(trusted_issuer::Column::Issuer.eq(iss))
            .filter(trusted_issuer::Column::TeamId.eq(team.as_str()))
            .one(&self.db)
            .await?
            .ok_or_else(|| {
                refuse(format!(
                    "the issuer {iss:?} is not trusted by this client's team"
                ))
            })?;
        let allowed: Vec<Algorithm> = ALLOWED
            .iter()
            .filter(|(name, _)| trusted.algorithms.split(',').any(|a| a == *name))
            .map(|(_, alg)| *alg)
            .collect();
        if !allowed.contains(&header.alg) {
            return Err(refuse(format!(
                "the algorithm {:?} is not allowed for this issuer (allowed: {})",
                header.alg, trusted.algorithms
            )));
        }
        let set = match (&trusted.jwks, &trusted.jwks_uri) {
            (Some(inline), _) => select(
                &serde_json::from_str(inline).map_err(OAuthError::internal)?,
                header.kid.as_deref(),
            ),
            (None, Some(uri)) => {
                self.authenticator()
                    .jwks()
                    .key(uri, header.kid.as_deref())
                    .await
            }
            (None, None) => return Err(refuse("the issuer has no keys".into())),
        };
        let key = set.map_err(|e| refuse(format!("no key for this kid: {e}")))?;
        if let Some(alg) = key.common.key_algorithm
            && format!("{alg:?}") != format!("{:?}", header.alg)
        {
            return Err(refuse("the header's alg differs from the key's alg".into()));
        }
        let decoding = DecodingKey::from_jwk(&key)
            .map_err(|_| refuse("the issuer's key cannot be used".into()))?;
        let audiences = match &trusted.audience {
            Some(audience) => vec![audience.clone()],
            None => self.authenticator().audiences().to_vec(),
        };
        let mut validation = Validation::new(header.alg);
        validation.leeway = LEEWAY;
        validation.validate_nbf = true;
        validation.set_audience(&audiences);
        validation.set_issuer(&[iss]);
        validation.set_required_spec_claims(&["exp", "iss", "sub", "aud", "iat"]);
        let claims = jsonwebtoken::decode::<Map<String, Value>>(assertion, &decoding, &validation)
            .map_err(|e| {
                use jsonwebtoken::errors::ErrorKind;
                refuse(match e.kind() {
                    ErrorKind::ExpiredSignature => "expired".into(),
                    ErrorKind::ImmatureSignature => "not valid yet (nbf is in the future)".into(),
                    ErrorKind::InvalidAudience => format!("aud must be {}", audiences.join(" or ")),
                    ErrorKind::InvalidSignature => {
                        "the signature does not verify with the issuer's key".into()
                    }
                    ErrorKind::MissingRequiredClaim(claim) => {
                        format!("the {claim} claim is missing")
                    }
                    ErrorKind::InvalidAlgorithm => {
                        "the algorithm does not fit the issuer's key".into()
                    }
                    _ => format!("invalid ({e})"),
                })
            })?
            .claims;
        let number = |name: &str| claims.get(name).and_then(Value::as_i64);
        let (Some(iat), Some(exp)) = (number("iat"), number("exp")) else {
            return Err(refuse("iat and exp must be numbers".into()));
        };
        if iat > now.timestamp() + LEEWAY as i64 {
            return Err(refuse("iat is in the future".into()));
        }
        if exp - iat > i64::from(trusted.max_lifetime_secs) {
            return Err(refuse(format!(
                "it lives {} seconds; this issuer's assertions may live at most {}",
                exp - iat,
                trusted.max_lifetime_secs
            )));
        }
        let sub = claims
            .get("sub")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty() && s.len() <= 255)
            .ok_or_else(|| refuse("sub must be a string of 1 to 255 characters".into()))?;
        let jti = claims
            .get("jti")
            .and_then(Value::as_str)
            .filter(|j| !j.is_empty())
            .ok_or_else(|| refuse("no jti".into()))?;
        let email = claims
            .get(&trusted.email_claim)
            .and_then(Value::as_str)
            .and_then(|e| crate::email::Email::parse(e).ok())
            .ok_or_else(|| {
                refuse(format!(
                    "the {} claim must be an email address",
                    trusted.email_claim
                ))
            })?;
        let expires_at = Utc
            .timestamp_opt(exp, 0)
            .single()
            .ok_or_else(|| refuse("exp is out of range".into()))?;

        let turn = self.write_gate.turn().await;
        let txn = self.db.begin().await?;
        // A replay on any replica meets the row the first use wrote.
        let fresh = seen_assertion::Entity::insert(seen_assertion::ActiveModel {
            id: Set(sha256_hex(
                format!("issuer:{}:{jti}", trusted.issuer).as_bytes(),
            )),
            // Kept past exp by the leeway, during which the assertion still verifies.
            expires_at: Set(expires_at + chrono::TimeDelta::seconds(LEEWAY as i64)),
        })
        .on_conflict(
            OnConflict::column(seen_assertion::Column::Id)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(&txn)
        .await?;
        if fresh == 0 {
            return Err(refuse("this jti was used before (replay)".into()));
        }
        let member = self
            .link_member(&txn, &trusted, sub, &email, client, now)
            .await?;
        txn.commit().await?;
        drop(turn);

        let access_token =
            self.issue_access_token(client, &member, &scopes, &trusted.team_id, now)?;
        tracing::info!(client = %client.id, user = %member, issuer = %trusted.issuer, "jwt-bearer assertion exchanged");
        Ok(TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: self.settings.access_token_ttl.num_seconds(),
            scope: scopes.to_string(),
            refresh_token: None,
            id_token: None,
        })
    }

    /// The member an external identity is: the member already linked to it, or a new account
    /// provisioned as a member of the issuer's team, with an audit event. An address that
    /// already has an account is linked only if it is a member (not an administrator) of this
    /// team with no other external identity: an integration cannot claim an administrator,
    /// anyone outside its team, or a member its administrators removed.
    async fn link_member(
        &self,
        txn: &sea_orm::DatabaseTransaction,
        trusted: &trusted_issuer::Model,
        sub: &str,
        email: &crate::email::Email,
        client: &Client,
        now: DateTime<Utc>,
    ) -> Result<String, OAuthError> {
        use latchkey_teams::entities::{membership, user};
        let refuse = |why: &str| OAuthError::invalid_grant(format!("assertion: {why}"));
        let linked = membership::Entity::find()
            .filter(membership::Column::TeamId.eq(trusted.team_id.as_str()))
            .filter(membership::Column::ExternalIssuer.eq(trusted.issuer.as_str()))
            .filter(membership::Column::ExternalId.eq(sub))
            .one(txn)
            .await?;
        if let Some(found) = linked {
            return Ok(found.user_id);
        }
        let existing = user::Entity::find()
            .filter(user::Column::Email.eq(email.as_str()))
            .one(txn)
            .await?;
        let Some(account) = existing else {
            let (account, _) = latchkey_teams::ensure_user(txn, email.as_str(), now).await?;
            Teams::add_member_in(
                txn,
                &trusted.team_id,
                &account,
                Role::Member,
                Some((&trusted.issuer, sub)),
                now,
            )
            .await
            .map_err(OAuthError::internal)?;
            AuditLog::record(
                txn,
                Some(&trusted.team_id),
                "member.provisioned",
                &integration_actor(trusted, client),
                &Subject::new(&account.id, &account.email),
                json!({ "issuer": trusted.issuer, "external_id": sub, "client_id": client.id }),
                now,
            )
            .await?;
            return Ok(account.id);
        };
        let member = membership::Entity::find_by_id((trusted.team_id.clone(), account.id.clone()))
            .one(txn)
            .await?
            .ok_or_else(|| {
                refuse("the email belongs to an account that is not a member of this team")
            })?;
        if member.role != Role::Member.as_str() {
            return Err(refuse(
                "an administrator cannot be signed in by an integration",
            ));
        }
        if member.external_issuer.is_some() {
            return Err(refuse(
                "the email belongs to a member linked to another external identity",
            ));
        }
        membership::Entity::update_many()
            .col_expr(
                membership::Column::ExternalIssuer,
                sea_orm::sea_query::Expr::value(trusted.issuer.as_str()),
            )
            .col_expr(
                membership::Column::ExternalId,
                sea_orm::sea_query::Expr::value(sub),
            )
            .filter(membership::Column::TeamId.eq(trusted.team_id.as_str()))
            .filter(membership::Column::UserId.eq(account.id.as_str()))
            .exec(txn)
            .await?;
        AuditLog::record(
            txn,
            Some(&trusted.team_id),
            "member.linked",
            &integration_actor(trusted, client),
            &Subject::new(&account.id, &account.email),
            json!({ "issuer": trusted.issuer, "external_id": sub, "client_id": client.id }),
            now,
        )
        .await?;
        Ok(account.id)
    }
}

/// How the audit log names an integration acting through a client.
fn integration_actor(trusted: &trusted_issuer::Model, client: &Client) -> Actor {
    Actor {
        user_id: None,
        label: format!("integration {}", trusted.issuer),
        ip: String::new(),
        user_agent: format!("client {}", client.id),
    }
}

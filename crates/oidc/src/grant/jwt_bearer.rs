//! `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer` (RFC 7523 §2.1): an assertion
//! signed by an issuer a team trusts (`federation`) is exchanged for an access token for the
//! member it names, who is linked or provisioned in that team.

use chrono::{DateTime, TimeDelta, Utc};
use jsonwebtoken::jwk::Jwk;
use latchkey_core::Email;
use latchkey_teams::entities::{membership, user};
use latchkey_teams::{Actor, AuditLog, Role, Subject, Teams};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, Condition, DatabaseTransaction, EntityTrait, QueryFilter};
use serde_json::{Value, json};

use crate::client::{Client, GrantType};
use crate::entities::trusted_issuer;
use crate::error::OAuthError;
use crate::provider::Provider;
use crate::remote_jwks::{JwksError, select};
use crate::scope::{OFFLINE_ACCESS, OPENID, Scopes};
use crate::tokens::TokenResponse;

use crate::assertion::{self, Refused, Rules, Unverified, Verified};
use crate::federation::ALLOWED;

impl Provider {
    /// `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer` (RFC 7523 §2.1): every
    /// refusal is `invalid_grant` naming the check that failed.
    pub(crate) async fn jwt_bearer(
        &self,
        client: &Client,
        assertion: Option<&str>,
        scope: Option<&str>,
        resource: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<TokenResponse, OAuthError> {
        client.require_grant(GrantType::JwtBearer)?;
        // Checked before anything is written: a bad scope must not spend the jti or provision.
        // No ID token or refresh token from this grant: the integration signed the person in.
        let scopes = Scopes::narrow(scope, client.scopes.clone(), |extra| {
            format!("this client is not allowed the scope {extra:?}")
        })?
        .without(&[OPENID, OFFLINE_ACCESS]);
        let audience = self.audience(client, resource, &scopes).await?;
        let assertion =
            assertion.ok_or_else(|| OAuthError::invalid_request("assertion is missing"))?;
        let (trusted, verified) = self.verify_team_assertion(client, assertion, now).await?;
        let (sub, email) = named_person(&verified, &trusted)?;

        let txn = self.db.transaction().await?;
        // Remembered per team and issuer: another team that trusts the same issuer cannot
        // spend (or burn) this team's jti values.
        if !assertion::first_use(
            &*txn,
            &format!("issuer:{}:{}", trusted.team_id, trusted.issuer),
            &verified,
        )
        .await?
        {
            return Err(refused("this jti was used before (replay)"));
        }
        let member = self
            .link_member(&txn, &trusted, sub, &email, client, now)
            .await?;
        // The integration's name for the person, unless they (or the operator) set their own.
        if let Some(name) = verified
            .claims
            .get(&trusted.name_claim)
            .and_then(Value::as_str)
            .and_then(latchkey_teams::PersonName::parse)
        {
            latchkey_teams::sync_name(&*txn, &member, &name, now).await?;
        }
        txn.commit().await?;

        let access_token = self.access_token(
            client,
            &member,
            &audience,
            None,
            None,
            Some(&trusted.team_id),
            now,
        )?;
        tracing::info!(client = %client.id, user = %member, issuer = %trusted.issuer, "jwt-bearer assertion exchanged");
        Ok(TokenResponse::access_only(
            access_token,
            self.settings.access_token_ttl,
            &audience.scopes,
        ))
    }

    /// The assertion, verified against the issuer that signed it, if the client's team trusts
    /// that issuer: assertions are not bound to a client, so a client of another team must
    /// not be able to spend them.
    async fn verify_team_assertion(
        &self,
        client: &Client,
        assertion: &str,
        now: DateTime<Utc>,
    ) -> Result<(trusted_issuer::Model, Verified), OAuthError> {
        let unverified = Unverified::read(
            assertion,
            &ALLOWED.map(|(_, alg)| alg),
            "ES256, RS256, EdDSA",
        )
        .map_err(refuse)?;
        let iss = unverified.text("iss").ok_or_else(|| refused("no iss"))?;
        let Some(team) = &client.team_id else {
            return Err(OAuthError::unauthorized_client(
                "the jwt-bearer grant needs a client bound to a team (--team)",
            ));
        };
        let trusted = trusted_issuer::Entity::find()
            .filter(trusted_issuer::Column::Issuer.eq(iss))
            .filter(trusted_issuer::Column::TeamId.eq(team.as_str()))
            .one(self.db.read())
            .await?
            .ok_or_else(|| {
                refused(format!(
                    "the issuer {iss:?} is not trusted by this client's team"
                ))
            })?;
        let key = self.issuer_key(&trusted, &unverified).await?;
        let audiences = match &trusted.audience {
            Some(audience) => vec![audience.clone()],
            None => self.authenticator().audiences().to_vec(),
        };
        let rules = Rules {
            issuer: iss,
            subject: None,
            audiences: &audiences,
            sole_audience: false,
            max_lifetime: Some(TimeDelta::seconds(i64::from(trusted.max_lifetime_secs))),
            signer: "issuer's",
        };
        let verified =
            assertion::verify(assertion, &unverified, &key, &rules, now).map_err(refuse)?;
        Ok((trusted, verified))
    }

    /// The issuer's key for the assertion's `kid`, if the issuer may sign with its algorithm.
    async fn issuer_key(
        &self,
        trusted: &trusted_issuer::Model,
        unverified: &Unverified,
    ) -> Result<Jwk, OAuthError> {
        let alg = unverified.header.alg;
        if !ALLOWED.iter().any(|(name, allowed)| {
            *allowed == alg && trusted.algorithms.split(',').any(|a| a == *name)
        }) {
            return Err(refused(format!(
                "the algorithm {alg:?} is not allowed for this issuer (allowed: {})",
                trusted.algorithms
            )));
        }
        let kid = unverified.header.kid.as_deref();
        match (&trusted.jwks, &trusted.jwks_uri) {
            (Some(inline), _) => select(
                &serde_json::from_str(inline).map_err(OAuthError::internal)?,
                kid,
            ),
            (None, Some(uri)) => self.authenticator().jwks().key(uri, kid).await,
            (None, None) => return Err(refused("the issuer has no keys")),
        }
        .map_err(|e| match e {
            JwksError::Unreachable => refused("the issuer's keys could not be fetched"),
            other => refused(format!("no key for this kid: {other}")),
        })
    }

    /// The member an external identity is. The member already linked to it; or a plain member
    /// of this team whose own account has the address, linked now; or else a new identity of
    /// this team's alone. An integration never creates or claims anyone's account: the
    /// person who owns the address signs in as themselves, untouched (M1). Whether the address
    /// has an account elsewhere changes nothing in the answer, so it reveals nothing.
    async fn link_member(
        &self,
        txn: &DatabaseTransaction,
        trusted: &trusted_issuer::Model,
        sub: &str,
        email: &Email,
        client: &Client,
        now: DateTime<Utc>,
    ) -> Result<String, OAuthError> {
        let linked = membership::Entity::find()
            .filter(membership::Column::TeamId.eq(trusted.team_id.as_str()))
            .filter(membership::Column::ExternalIssuer.eq(trusted.issuer.as_str()))
            .filter(membership::Column::ExternalId.eq(sub))
            .one(txn)
            .await?;
        if let Some(found) = linked {
            // Promoted since it was linked: an integration never speaks for an administrator.
            if found.role != Role::Member.as_str() {
                return Err(refused(NOT_SIGNABLE));
            }
            return Ok(found.user_id);
        }
        let (account, action) = match self.member_with_address(txn, trusted, email).await? {
            Some(account) => {
                link_existing(txn, trusted, sub, &account).await?;
                (account, "member.linked")
            }
            None => (
                provision(txn, trusted, sub, email, now).await?,
                "member.provisioned",
            ),
        };
        AuditLog::record(
            txn,
            Some(&trusted.team_id.as_str().into()),
            action,
            &integration_actor(trusted, client),
            &Subject::new(&account.id, account.shown_email()),
            json!({ "issuer": trusted.issuer, "external_id": sub, "client_id": client.id }),
            now,
        )
        .await?;
        Ok(account.id)
    }

    /// The account of this team with the address: a person's own account that is a member
    /// here, or an identity this team's integrations made for it. None for an address no
    /// one here has, whatever accounts exist elsewhere.
    async fn member_with_address(
        &self,
        txn: &DatabaseTransaction,
        trusted: &trusted_issuer::Model,
        email: &Email,
    ) -> Result<Option<user::Model>, OAuthError> {
        let team = trusted.team_id.as_str();
        let candidates = user::Entity::find()
            .filter(
                Condition::any()
                    .add(
                        Condition::all()
                            .add(user::Column::Email.eq(email.as_str()))
                            .add(user::Column::ProvisionedBy.is_null()),
                    )
                    .add(
                        Condition::all()
                            .add(user::Column::ProvisionedBy.eq(team))
                            .add(user::Column::AssertedEmail.eq(email.as_str())),
                    ),
            )
            .all(txn)
            .await?;
        // The person's own account first, on every database: it is the one to link.
        let mut candidates = candidates;
        candidates.sort_by_key(|account| account.provisioned_by.is_some());
        for account in candidates {
            if membership::Entity::find_by_id((team.to_owned(), account.id.clone()))
                .one(txn)
                .await?
                .is_some()
            {
                return Ok(Some(account));
            }
        }
        Ok(None)
    }
}

/// A new identity of the issuer's team, a member of it linked to the external identity.
async fn provision(
    txn: &DatabaseTransaction,
    trusted: &trusted_issuer::Model,
    sub: &str,
    email: &Email,
    now: DateTime<Utc>,
) -> Result<user::Model, OAuthError> {
    let identity =
        latchkey_teams::provision_identity(txn, trusted.team_id.as_str(), email.as_str(), now)
            .await?;
    Teams::add_member_in(
        txn,
        &trusted.team_id.as_str().into(),
        &identity,
        Role::Member,
        Some((&trusted.issuer, sub)),
        now,
    )
    .await
    .map_err(OAuthError::internal)?;
    Ok(identity)
}

/// Links a member's account to the external identity, if it may be: a plain member not
/// linked to another one. Whatever the reason for a refusal, it reads the same.
async fn link_existing(
    txn: &DatabaseTransaction,
    trusted: &trusted_issuer::Model,
    sub: &str,
    account: &user::Model,
) -> Result<(), OAuthError> {
    let member = membership::Entity::find_by_id((trusted.team_id.clone(), account.id.clone()))
        .one(txn)
        .await?;
    if !member.is_some_and(|m| m.role == Role::Member.as_str() && m.external_issuer.is_none()) {
        return Err(refused(NOT_SIGNABLE));
    }
    membership::Entity::update_many()
        .col_expr(
            membership::Column::ExternalIssuer,
            Expr::value(trusted.issuer.as_str()),
        )
        .col_expr(membership::Column::ExternalId, Expr::value(sub))
        .filter(membership::Column::TeamId.eq(trusted.team_id.as_str()))
        .filter(membership::Column::UserId.eq(account.id.as_str()))
        .exec(txn)
        .await?;
    Ok(())
}

/// The one refusal for a person this integration may not speak for (an administrator, or a
/// member already linked to another external identity).
const NOT_SIGNABLE: &str = "this integration cannot sign in the person it names";

/// The person the assertion names: its `sub`, and the address in the issuer's email claim.
fn named_person<'a>(
    verified: &'a Verified,
    trusted: &trusted_issuer::Model,
) -> Result<(&'a str, Email), OAuthError> {
    let claims = &verified.claims;
    let sub = claims
        .get("sub")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty() && s.len() <= 255)
        .ok_or_else(|| refused("sub must be a string of 1 to 255 characters"))?;
    let email = claims
        .get(&trusted.email_claim)
        .and_then(Value::as_str)
        .and_then(|e| Email::parse(e).ok())
        .ok_or_else(|| {
            refused(format!(
                "the {} claim must be an email address",
                trusted.email_claim
            ))
        })?;
    Ok((sub, email))
}

fn refuse(why: Refused) -> OAuthError {
    refused(why.0)
}

fn refused(why: impl std::fmt::Display) -> OAuthError {
    OAuthError::invalid_grant(format!("assertion: {why}"))
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

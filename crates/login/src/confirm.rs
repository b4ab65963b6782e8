//! Using a link or its code: what the confirm page shows, and signing in (registering or
//! joining on the way) in the transaction that spends the link.

use chrono::{DateTime, Utc};
use latchkey_core::{JoinLinkId, TeamId, UserId};
use latchkey_keys::{Expectations, VerifyError};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};

use latchkey_teams::{AuditLog, JoinError, PersonName, Subject, TeamName, Teams};

use crate::address_limits::{MAX_WRONG_CODES, codes_exhausted, count_wrong_code};
use crate::entities::{login_link, user};
use latchkey_core::email::Email;
use latchkey_core::secret::{SecretToken, constant_time_eq};

use super::link::{LINK_TYPE, Login, MAX_FAILED_CODES, code_hash};
use super::model::{
    CodeError, LinkClaims, LinkError, LinkView, LoginError, Purpose, Requester, SignedIn,
};

impl Login {
    pub(super) fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<LinkClaims, LinkError> {
        let audience = self.audience();
        let expect = Expectations {
            token_type: LINK_TYPE,
            audience: latchkey_keys::Audience::Is(&audience),
            issuer: self.issuer.as_str(),
        };
        match self.keys.load().verify::<LinkClaims>(token, &expect, now) {
            Ok(verified) => Ok(verified.claims),
            Err(VerifyError::Expired) => Err(LinkError::Expired),
            Err(_) => Err(LinkError::Invalid),
        }
    }

    pub(super) async fn find(&self, claims: &LinkClaims) -> Result<login_link::Model, LinkError> {
        let jti = SecretToken::from_client(&claims.jti).ok_or(LinkError::Invalid)?;
        login_link::Entity::find()
            .filter(login_link::Column::TokenHash.eq(jti.hash()))
            .one(self.db.read())
            .await?
            .ok_or(LinkError::Invalid)
    }

    /// What a link would do, for the confirm page. Consumes nothing (scanners fetch links).
    pub async fn inspect(&self, token: &str, now: DateTime<Utc>) -> Result<LinkView, LinkError> {
        let claims = self.verify(token, now)?;
        let link = self.find(&claims).await?;
        usable(&link, now)?;
        let email = Email::parse(&link.email).map_err(|_| LinkError::Invalid)?;
        let purpose = Purpose::parse(&link.purpose).ok_or(LinkError::Invalid)?;
        let team = match (&link.join_link, purpose) {
            (Some(join_link), Purpose::Join) => {
                let (join_link, team) =
                    Teams::join_link_in(self.db.read(), &JoinLinkId::from(join_link.as_str()), now)
                        .await
                        .map_err(LoginError::from)?;
                if let Some(error) = join_link.unusable() {
                    return Err(LinkError::Login(error.into()));
                }
                Some(team.name)
            }
            _ => None,
        };
        Ok(LinkView {
            email,
            purpose,
            team,
            continues: link
                .authorization_request
                .as_deref()
                .and_then(crate::Resume::parse),
        })
    }

    /// Uses a link: of any number of concurrent confirmations, exactly one signs in.
    #[tracing::instrument(skip_all, err)]
    pub async fn confirm(
        &self,
        token: &str,
        requester: &Requester,
        now: DateTime<Utc>,
    ) -> Result<SignedIn, LinkError> {
        let claims = self.verify(token, now)?;
        let link = self.find(&claims).await?;
        match self.redeem(&link, requester, now).await? {
            Some(signed_in) => Ok(signed_in),
            None => {
                usable(&self.reload(&link.id).await?, now)?;
                Err(LinkError::Used)
            }
        }
    }

    /// Uses the code typed in the browser that asked for the link. Five wrong codes void both;
    /// ten for one address in a day turn its codes off (new links keep working).
    #[tracing::instrument(skip_all, err)]
    pub async fn confirm_code(
        &self,
        browser: &SecretToken,
        code: &str,
        requester: &Requester,
        now: DateTime<Utc>,
    ) -> Result<SignedIn, CodeError> {
        let link = login_link::Entity::find()
            .filter(login_link::Column::BrowserHash.eq(browser.hash()))
            .filter(login_link::Column::UsedAt.is_null())
            .filter(login_link::Column::ExpiresAt.gt(now))
            .order_by_desc(login_link::Column::CreatedAt)
            .one(self.db.read())
            .await?
            .ok_or(CodeError::NothingPending)?;
        if link.failed_codes >= MAX_FAILED_CODES {
            return Err(CodeError::Voided);
        }
        if codes_exhausted(self.db.read(), &link.email, now).await? {
            return Err(CodeError::CodesOff);
        }
        let typed: String = code.chars().filter(char::is_ascii_digit).collect();
        if !constant_time_eq(&code_hash(&link.id, &typed), &link.code_hash) {
            let writer = self.db.write().await;
            let for_address = count_wrong_code(&*writer, &link.email, now).await?;
            login_link::Entity::update_many()
                .col_expr(
                    login_link::Column::FailedCodes,
                    sea_orm::sea_query::ExprTrait::add(
                        Expr::col(login_link::Column::FailedCodes),
                        1,
                    ),
                )
                .filter(login_link::Column::Id.eq(link.id.as_str()))
                .filter(login_link::Column::UsedAt.is_null())
                .exec(&*writer)
                .await?;
            drop(writer);
            let failed = self.reload(&link.id).await?.failed_codes;
            tracing::warn!(link = %link.id, failed, for_address, "wrong sign-in code");
            return Err(if for_address >= MAX_WRONG_CODES {
                CodeError::CodesOff
            } else if failed >= MAX_FAILED_CODES {
                CodeError::Voided
            } else {
                CodeError::Wrong {
                    remaining: MAX_FAILED_CODES - failed,
                }
            });
        }
        self.redeem(&link, requester, now)
            .await?
            .ok_or(CodeError::NothingPending)
    }

    /// Uses the link and signs in, in one transaction: either both happen or neither, so a
    /// failure cannot spend a link without signing anyone in. None: the link was not usable.
    pub(super) async fn redeem(
        &self,
        link: &login_link::Model,
        requester: &Requester,
        now: DateTime<Utc>,
    ) -> Result<Option<SignedIn>, LoginError> {
        let txn = self.db.transaction().await?;
        if !consume(&*txn, &link.id, now).await? {
            txn.rollback().await?;
            return Ok(None);
        }
        // On an error the transaction is dropped, which rolls it back: a join that fails
        // (the join link expired meanwhile) leaves the magic link unspent.
        let signed_in = self.sign_in(&*txn, link, requester, now).await?;
        txn.commit().await?;
        tracing::info!(user = %signed_in.user_id, "signed in");
        Ok(Some(signed_in))
    }

    pub(super) async fn reload(&self, id: &str) -> Result<login_link::Model, sea_orm::DbErr> {
        login_link::Entity::find_by_id(id)
            .one(self.db.read())
            .await?
            .ok_or_else(|| sea_orm::DbErr::RecordNotFound(format!("login link {id}")))
    }

    /// Signs the person in, in the transaction that spends the link: registering creates the
    /// account and its team; a join creates the account if need be and adds it to the team.
    /// The session works in that team, or in the person's first one.
    pub(super) async fn sign_in<C: ConnectionTrait>(
        &self,
        conn: &C,
        link: &login_link::Model,
        requester: &Requester,
        now: DateTime<Utc>,
    ) -> Result<SignedIn, LoginError> {
        let (account, team, created) = account_for_link(conn, link, requester, now).await?;
        // The name typed on the form, for the account made now: whoever asked for the link
        // (anyone who knows the address) names no one else's account.
        if let Some(name) = link.name.as_deref().and_then(PersonName::parse)
            && created
        {
            latchkey_teams::set_name(conn, &account.id, &name, now).await?;
        }
        user::Entity::update_many()
            .col_expr(user::Column::LastSignInAt, Expr::value(now))
            .filter(user::Column::Id.eq(account.id.as_str()))
            .exec(conn)
            .await?;
        let user_id = UserId::from(account.id.as_str());
        let team = match team {
            Some(team) => Some(team),
            None => first_team(conn, &user_id).await?,
        };
        // Only the team the session works in hears of the sign-in (with the address and
        // browser it came from): the person's other teams are none of each other's business.
        AuditLog::record_for_teams(
            conn,
            team.as_slice(),
            "member.signed_in",
            &requester.actor(&account),
            &Subject::new(&account.id, &account.email),
            serde_json::json!({ "method": link.purpose }),
            now,
        )
        .await?;
        let session = self
            .sessions
            .create(conn, &user_id, team.as_ref(), now)
            .await?;
        Ok(SignedIn {
            user_id,
            email: account.email,
            session,
            continues: link
                .authorization_request
                .as_deref()
                .and_then(crate::Resume::parse),
        })
    }
}

/// The account a link signs in, made now if the link registers or joins: with the team it
/// made or joined (None: a plain sign-in, which picks no team), and whether it is new.
async fn account_for_link<C: ConnectionTrait>(
    conn: &C,
    link: &login_link::Model,
    requester: &Requester,
    now: DateTime<Utc>,
) -> Result<(user::Model, Option<TeamId>, bool), LoginError> {
    let Some(purpose) = Purpose::parse(&link.purpose) else {
        return Err(LoginError::AccountGone);
    };
    match purpose {
        Purpose::Register => {
            let (account, created) = latchkey_teams::ensure_user(conn, &link.email, now).await?;
            let team = if created {
                let name = TeamName::from_email(&account.email);
                let actor = requester.actor(&account);
                Some(
                    Teams::create_in(conn, &name, &account, &actor, now)
                        .await?
                        .id,
                )
            } else {
                None
            };
            Ok((account, team, created))
        }
        Purpose::Join => {
            let (account, created) = latchkey_teams::ensure_user(conn, &link.email, now).await?;
            let join_link = JoinLinkId::from(link.join_link.as_deref().ok_or(JoinError::NotFound)?);
            let actor = requester.actor(&account);
            let joined = Teams::join_in(conn, &join_link, &account, &actor, now).await?;
            Ok((account, Some(joined.team.id), created))
        }
        Purpose::Login => {
            let account = user::Entity::find()
                .filter(user::Column::Email.eq(link.email.as_str()))
                .one(conn)
                .await?
                .ok_or(LoginError::AccountGone)?;
            Ok((account, None, false))
        }
    }
}

/// The person's first team, where a sign-in that names none works.
async fn first_team<C: ConnectionTrait>(
    conn: &C,
    user_id: &UserId,
) -> Result<Option<TeamId>, LoginError> {
    Ok(Teams::memberships_in(conn, user_id)
        .await?
        .into_iter()
        .map(|m| m.team.id)
        .next())
}

/// The single-use rule, enforced by the database: only the first update wins.
async fn consume<C: ConnectionTrait>(
    conn: &C,
    id: &str,
    now: DateTime<Utc>,
) -> Result<bool, sea_orm::DbErr> {
    let result = login_link::Entity::update_many()
        .col_expr(login_link::Column::UsedAt, Expr::value(now))
        .filter(login_link::Column::Id.eq(id))
        .filter(login_link::Column::UsedAt.is_null())
        .filter(login_link::Column::ExpiresAt.gt(now))
        .filter(login_link::Column::FailedCodes.lt(MAX_FAILED_CODES))
        .exec(conn)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Says why a link that was not consumed cannot be used.
fn usable(link: &login_link::Model, now: DateTime<Utc>) -> Result<(), LinkError> {
    if link.used_at.is_some() {
        Err(LinkError::Used)
    } else if link.failed_codes >= MAX_FAILED_CODES {
        Err(LinkError::Voided)
    } else if link.expires_at <= now {
        Err(LinkError::Expired)
    } else {
        Ok(())
    }
}

//! What has been revoked, held in memory so that checking an access token (introspection,
//! userinfo) reads no row. This replica's own revocations apply at once; other replicas'
//! arrive with the next poll (every [`POLL_EVERY`]), which reads only rows revoked since the
//! last one. Refresh tokens and codes are always checked in the database.

use latchkey_core::GrantId;
use std::collections::HashMap;
use std::sync::RwLock;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};

use super::entities::{grant, revoked_token};
use super::tokens::AccessClaims;

/// Revocation records of removed memberships start with this; access token ids never do.
const MEMBERSHIP_PREFIX: &str = "member:";

/// How often other replicas' revocations are read.
pub const POLL_EVERY: Duration = Duration::from_secs(1);
/// Each poll looks this far behind the previous one: a revocation committed late, or stamped
/// by a replica whose clock runs behind, is still seen.
const OVERLAP: TimeDelta = TimeDelta::seconds(60);
/// A view not refreshed for this long is not trusted: checks go to the database instead.
const STALE_AFTER: TimeDelta = TimeDelta::seconds(10);

#[derive(Default)]
struct Revoked {
    /// Revoked access tokens by `jti`, with when they expire anyway. Removed memberships are
    /// here too, under a key no `jti` can take (`member:…`): with when they were removed.
    jtis: HashMap<String, DateTime<Utc>>,
    /// Removed memberships: tokens issued for the team before this time are revoked.
    memberships: HashMap<String, (DateTime<Utc>, DateTime<Utc>)>,
    /// Revoked grants, kept until every access token issued before the revocation has
    /// expired (nothing is issued from a grant after it is revoked).
    grants: HashMap<String, DateTime<Utc>>,
    /// Rows revoked before this were read; `None` until the first load.
    read_until: Option<DateTime<Utc>>,
}

pub struct Revocations {
    db: latchkey_core::Db,
    revoked: RwLock<Revoked>,
    /// How long a revoked grant matters: the access-token lifetime, and a margin for clocks.
    keep_grants_for: TimeDelta,
}

impl Revocations {
    pub fn new(db: latchkey_core::Db, access_token_ttl: TimeDelta) -> Self {
        Self {
            db,
            revoked: RwLock::default(),
            keep_grants_for: access_token_ttl + TimeDelta::seconds(60),
        }
    }

    /// Whether the token, the grant it came from, or the membership it speaks for was revoked.
    pub fn is_revoked(&self, claims: &AccessClaims) -> bool {
        match self.revoked.read() {
            Ok(revoked) => {
                revoked.jtis.contains_key(&claims.jti)
                    || claims
                        .grant_id
                        .as_deref()
                        .is_some_and(|g| revoked.grants.contains_key(g))
                    || (!revoked.memberships.is_empty() && claims.team_id.is_some())
                        && membership_key(claims)
                            .and_then(|key| revoked.memberships.get(&key).copied())
                            .is_some_and(|(ended, _)| claims.iat <= ended.timestamp())
            }
            // A poisoned lock means a panic while writing; fail closed.
            Err(_) => true,
        }
    }

    /// Whether the view was refreshed lately. If the database could not be read for a while,
    /// the caller asks it directly rather than trust what may be missing.
    pub fn is_fresh(&self, now: DateTime<Utc>) -> bool {
        self.revoked
            .read()
            .is_ok_and(|r| r.read_until.is_some_and(|at| now - at < STALE_AFTER))
    }

    pub fn add_token(&self, jti: &str, expires_at: DateTime<Utc>) {
        if let Ok(mut revoked) = self.revoked.write() {
            revoked.jtis.insert(jti.to_owned(), expires_at);
        }
    }

    /// A membership ended at `now`: tokens issued for that team before it stop working.
    pub fn add_membership(&self, key: &str, now: DateTime<Utc>) {
        if let Ok(mut revoked) = self.revoked.write() {
            revoked
                .memberships
                .insert(key.to_owned(), (now, now + self.keep_grants_for));
        }
    }

    pub fn add_grant(&self, grant_id: &GrantId, now: DateTime<Utc>) {
        if let Ok(mut revoked) = self.revoked.write() {
            revoked.grants.insert(
                grant_id.to_owned().into_string(),
                now + self.keep_grants_for,
            );
        }
    }

    /// Reads revocations made since the last read (all of them the first time), and forgets
    /// tokens that have expired anyway.
    pub async fn refresh(&self, now: DateTime<Utc>) -> Result<(), sea_orm::DbErr> {
        let since = self
            .revoked
            .read()
            .ok()
            .and_then(|r| r.read_until)
            .map(|until| until - OVERLAP);
        let mut tokens =
            revoked_token::Entity::find().filter(revoked_token::Column::ExpiresAt.gt(now));
        let grants = grant::Entity::find()
            .select_only()
            .column(grant::Column::Id)
            .column(grant::Column::RevokedAt)
            .filter(grant::Column::RevokedAt.gte(since.unwrap_or(now - self.keep_grants_for)));
        if let Some(since) = since {
            tokens = tokens.filter(revoked_token::Column::RevokedAt.gte(since));
        }
        let tokens = tokens.all(self.db.read()).await?;
        let grants: Vec<(String, Option<DateTime<Utc>>)> =
            grants.into_tuple().all(self.db.read()).await?;
        if let Ok(mut revoked) = self.revoked.write() {
            for token in tokens {
                if token.jti.starts_with(MEMBERSHIP_PREFIX) {
                    revoked
                        .memberships
                        .insert(token.jti, (token.revoked_at, token.expires_at));
                } else {
                    revoked.jtis.insert(token.jti, token.expires_at);
                }
            }
            for (id, revoked_at) in grants {
                let keep_until = revoked_at.unwrap_or(now) + self.keep_grants_for;
                revoked.grants.insert(id, keep_until);
            }
            revoked.jtis.retain(|_, expires_at| *expires_at > now);
            revoked.grants.retain(|_, keep_until| *keep_until > now);
            revoked
                .memberships
                .retain(|_, (_, expires_at)| *expires_at > now);
            revoked.read_until = Some(now);
        }
        Ok(())
    }
}

/// The revocation record that ends every token a person holds for a team: written when they
/// are removed from it, and kept beside revoked token ids as long as an access token lives.
pub(crate) fn membership_key(claims: &AccessClaims) -> Option<String> {
    claims
        .team_id
        .as_deref()
        .map(|team| membership_revocation(team, &claims.sub))
}

/// The revocation record of one person's membership of one team.
pub(crate) fn membership_revocation(team_id: &str, user_id: &str) -> String {
    // Hashed to fit the column of token ids; 192 bits cannot collide by chance.
    let mut key = latchkey_core::secret::sha256_hex(format!("{team_id}:{user_id}").as_bytes());
    key.truncate(48);
    format!("member:{key}")
}

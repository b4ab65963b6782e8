//! Who may sign in to a service provider, and what the assertion says of them: an SP belongs
//! to a team and admits only its members, as a team-bound OIDC client does.

use latchkey_core::{TeamId, UserId};
use latchkey_teams::Teams;
use latchkey_teams::entities::user;
use sea_orm::EntityTrait;

use crate::response::SentAttribute;
use crate::{AttributeValue, Claim, NameIdFormat, ServiceProvider, ServiceProviders};

/// What an assertion may say of a member.
#[derive(Clone, Debug)]
pub struct Person {
    pub user_id: UserId,
    pub email: String,
    pub name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub team: String,
    pub role: &'static str,
}

/// Who is signed in, as their session read them.
#[derive(Clone, Debug)]
pub struct Account {
    pub user_id: UserId,
    pub email: String,
    pub name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
}

impl ServiceProviders {
    /// The person, if they are a member of the SP's team (one query: the membership and its
    /// team; the rest came with the session).
    pub async fn admit(
        &self,
        sp: &ServiceProvider,
        account: Account,
    ) -> Result<Option<Person>, latchkey_teams::TeamError> {
        let team_id = TeamId::from(sp.team_id.as_str());
        let Some(membership) =
            Teams::membership_in(self.db().read(), &team_id, &account.user_id).await?
        else {
            return Ok(None);
        };
        Ok(Some(Person {
            user_id: account.user_id,
            email: account.email,
            name: account.name,
            given_name: account.given_name,
            family_name: account.family_name,
            team: membership.team.name,
            role: membership.role.as_str(),
        }))
    }
}

impl ServiceProvider {
    /// The person's NameID for this SP in `format`, in the session `sid`: their address, an
    /// identifier of theirs that only this SP is given (persistent), or one of this session's
    /// at this SP only (transient).
    pub fn name_id(&self, person: &Person, format: NameIdFormat, sid: &str) -> String {
        match format {
            NameIdFormat::Email | NameIdFormat::Unspecified => person.email.clone(),
            NameIdFormat::Persistent => self.pairwise("persistent", person.user_id.as_str()),
            // Derived from the session, not stored: another session, or another SP, gets
            // another one that cannot be linked to it (HMAC under this SP's own key), and a
            // `LogoutRequest` naming it is still matched, by deriving it again for the
            // session it arrives in, without a table of the transient ids ever given.
            NameIdFormat::Transient => self.pairwise("transient", sid),
        }
    }

    /// Whether `name_id` is a NameID this SP may have been given for `person` in the session
    /// `sid`: a request chooses the format, so any of them.
    pub fn is_name_id_of(&self, name_id: &str, person: &Person, sid: &str) -> bool {
        [
            NameIdFormat::Email,
            NameIdFormat::Persistent,
            NameIdFormat::Transient,
        ]
        .into_iter()
        .any(|format| self.name_id(person, format, sid) == name_id)
    }

    /// The `SessionIndex` of a session (by its `sid`) at this SP: another SP cannot link it.
    pub fn session_index(&self, sid: &str) -> String {
        format!("_{}", self.pairwise("session", sid))
    }

    /// The attributes, by the SP's mapping: the person's claims and the fixed values.
    pub fn attribute_values(&self, person: &Person) -> Vec<SentAttribute> {
        self.attributes
            .iter()
            .map(|attribute| {
                let value = match &attribute.value {
                    AttributeValue::Literal(value) => Some(value.clone()),
                    AttributeValue::Claim(Claim::Email) => Some(person.email.clone()),
                    AttributeValue::Claim(Claim::Name) => person.name.clone(),
                    AttributeValue::Claim(Claim::GivenName) => person.given_name.clone(),
                    AttributeValue::Claim(Claim::FamilyName) => person.family_name.clone(),
                    AttributeValue::Claim(Claim::Team) => Some(person.team.clone()),
                    AttributeValue::Claim(Claim::Role) => Some(person.role.to_owned()),
                    AttributeValue::Claim(Claim::Sub) => Some(person.user_id.to_string()),
                };
                SentAttribute {
                    name: attribute.name.clone(),
                    format: attribute.format,
                    value: value.unwrap_or_default(),
                }
            })
            .collect()
    }
}

impl ServiceProvider {
    /// An identifier of `id` for this SP only: HMAC-SHA256 under the SP's own key, so neither
    /// another SP nor anyone who knows the person's other identifiers can compute or link it.
    fn pairwise(&self, what: &str, id: &str) -> String {
        let mut pairwise = latchkey_core::secret::hmac_sha256_hex(
            self.pairwise_key.0.as_bytes(),
            format!("{what}:{id}").as_bytes(),
        );
        pairwise.truncate(40);
        pairwise
    }
}

impl ServiceProviders {
    /// The member of the SP's team a NameID it was given names: by address, or by the
    /// persistent identifier it was given (a request chooses the format). A transient one
    /// names a session, not a person: it is matched only in the session it names (see
    /// [`ServiceProvider::is_name_id_of`]).
    pub async fn user_named(
        &self,
        sp: &ServiceProvider,
        name_id: &str,
    ) -> Result<Option<UserId>, latchkey_teams::TeamError> {
        use latchkey_teams::entities::membership;
        use sea_orm::{ColumnTrait, QueryFilter};
        let team_id = TeamId::from(sp.team_id.as_str());
        let mut candidates: Vec<UserId> = user::Entity::find()
            .filter(user::Column::Email.eq(name_id))
            .all(self.db().read())
            .await?
            .into_iter()
            .map(|u| UserId::from(u.id.as_str()))
            .collect();
        if candidates.is_empty() {
            candidates = membership::Entity::find()
                .filter(membership::Column::TeamId.eq(team_id.as_str()))
                .all(self.db().read())
                .await?
                .into_iter()
                .map(|m| UserId::from(m.user_id.as_str()))
                .filter(|user_id| sp.pairwise("persistent", user_id.as_str()) == name_id)
                .collect();
        }
        for user_id in candidates {
            if Teams::role_of(self.db().read(), &team_id, &user_id)
                .await?
                .is_some()
            {
                return Ok(Some(user_id));
            }
        }
        Ok(None)
    }
}

//! Identifiers, one type each, so a team id cannot be passed where a user id is wanted. They
//! are opaque: made by the domain (uuid v7 or random hex) or read back from storage and
//! requests, and compared only for equality.

macro_rules! id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl From<String> for $name {
            fn from(id: String) -> Self {
                Self(id)
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> Self {
                Self(id.to_owned())
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        // Ids go into queries as they are: `.eq(team_id)`, `find_by_id(team_id)`.
        impl From<&$name> for sea_orm::Value {
            fn from(id: &$name) -> Self {
                sea_orm::Value::String(Some(id.0.clone()))
            }
        }

        impl From<&$name> for String {
            fn from(id: &$name) -> Self {
                id.0.clone()
            }
        }

        // Read as text anywhere (`&TeamId` coerces to `&str`); only the other way needs a
        // conversion, which is the point: a `&str` cannot stand in for an id by accident.
        impl std::ops::Deref for $name {
            type Target = str;

            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }

        impl PartialEq<$name> for String {
            fn eq(&self, other: &$name) -> bool {
                self == &other.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }
    };
}

id!(
    /// A person's account.
    UserId
);
id!(
    /// A team.
    TeamId
);
id!(
    /// A join link.
    JoinLinkId
);
id!(
    /// An issuer a team trusts to sign assertions.
    TrustedIssuerId
);
id!(
    /// A team's connection to its own OpenID provider.
    ConnectionId
);
id!(
    /// A team's SAML service provider (`sp_id`).
    SamlSpId
);
id!(
    /// A registered OAuth client (`client_id`).
    ClientId
);
id!(
    /// A pending authorization request, carried through sign-in and consent.
    RequestId
);
id!(
    /// What one authorization gave: the family of refresh tokens and access tokens it made.
    GrantId
);
id!(
    /// A SAML sign-on kept while the person signs in (`/saml/continue?request=…`).
    SamlRequestId
);

impl SamlRequestId {
    /// What every kept sign-on's id starts with, and no authorization request's id (a UUID,
    /// hex and dashes) can: the one mark by which a carried id is told apart (see
    /// `latchkey_login::Resume`). With 32 hex digits after it, the id fits where a login link
    /// keeps the request it continues (36 characters).
    const PREFIX: &'static str = "saml";

    /// A new, random id.
    pub fn generate() -> Self {
        Self(format!("{}{}", Self::PREFIX, crate::secret::random_id()))
    }

    /// The id `carried` is, if it names a kept sign-on.
    pub fn recognise(carried: &str) -> Option<Self> {
        carried
            .starts_with(Self::PREFIX)
            .then(|| Self(carried.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saml_sign_on_id_is_told_apart_from_an_authorization_request() {
        let id = SamlRequestId::generate();
        assert_eq!(id.len(), 36);
        assert_eq!(SamlRequestId::recognise(&id), Some(id.clone()));
        assert_eq!(
            SamlRequestId::recognise("0193a5b2-7c1e-7d3f-9a4b-1c2d3e4f5a6b"),
            None
        );
    }
}

//! Scopes (RFC 6749 §3.3): space-delimited tokens, parsed once.

use std::fmt;

pub const OPENID: &str = "openid";
pub const PROFILE: &str = "profile";
pub const EMAIL: &str = "email";
pub const OFFLINE_ACCESS: &str = "offline_access";
/// The person's current team: its id, name and their role in it.
pub const TEAM: &str = "team";

/// The scopes a client may ask for unless it was registered with others.
pub const DEFAULT_SCOPES: [&str; 4] = [OPENID, PROFILE, EMAIL, OFFLINE_ACCESS];

/// Scopes that describe a person; a client acting for itself cannot have them.
pub const USER_SCOPES: [&str; 5] = [OPENID, PROFILE, EMAIL, OFFLINE_ACCESS, TEAM];

/// A set of scopes in the order first given, without repeats.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scopes(Vec<String>);

#[derive(Debug, thiserror::Error)]
#[error(
    "{0:?} is not a valid scope (RFC 6749 §3.3 allows printable ASCII except space, \" and \\)"
)]
pub struct ScopeError(pub String);

impl Scopes {
    /// The `scope` parameter of a token request (RFC 6749 §3.3, §6): absent or empty means
    /// everything `allowed`; otherwise a subset of it, or `invalid_scope` with `refusal`'s
    /// sentence for the first scope outside it.
    pub fn narrow(
        raw: Option<&str>,
        allowed: Scopes,
        refusal: impl FnOnce(&str) -> String,
    ) -> Result<Scopes, super::error::OAuthError> {
        use super::error::OAuthError;
        let Some(raw) = raw.filter(|r| !r.trim().is_empty()) else {
            return Ok(allowed);
        };
        let asked = Scopes::parse(raw).map_err(|e| OAuthError::invalid_scope(e.to_string()))?;
        if let Some(extra) = asked.not_in(&allowed).next() {
            return Err(OAuthError::invalid_scope(refusal(extra)));
        }
        Ok(asked)
    }

    /// Parses a space-delimited list; an empty string is the empty set.
    pub fn parse(raw: &str) -> Result<Self, ScopeError> {
        Self::from_tokens(raw.split(' ').filter(|s| !s.is_empty()))
    }

    pub fn from_tokens<'a>(tokens: impl IntoIterator<Item = &'a str>) -> Result<Self, ScopeError> {
        let mut scopes = Vec::new();
        for token in tokens {
            let valid = !token.is_empty()
                && token
                    .bytes()
                    .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b));
            if !valid {
                return Err(ScopeError(token.to_owned()));
            }
            if !scopes.iter().any(|s: &String| s == token) {
                scopes.push(token.to_owned());
            }
        }
        Ok(Self(scopes))
    }

    pub fn contains(&self, scope: &str) -> bool {
        self.0.iter().any(|s| s == scope)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// The scopes of `self` that `allowed` does not hold.
    pub fn not_in<'a>(&'a self, allowed: &'a Scopes) -> impl Iterator<Item = &'a str> {
        self.iter().filter(|s| !allowed.contains(s))
    }

    pub fn is_subset_of(&self, other: &Scopes) -> bool {
        self.not_in(other).next().is_none()
    }

    /// The scopes both hold, in the order of `self`.
    pub fn intersect(&self, other: &Scopes) -> Scopes {
        Scopes(
            self.iter()
                .filter(|s| other.contains(s))
                .map(str::to_owned)
                .collect(),
        )
    }

    pub fn without(&self, removed: &[&str]) -> Scopes {
        Scopes(
            self.iter()
                .filter(|s| !removed.contains(s))
                .map(str::to_owned)
                .collect(),
        )
    }

    pub fn to_vec(&self) -> Vec<String> {
        self.0.clone()
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_dedupe_and_compare() {
        let asked = Scopes::parse("openid  email openid").unwrap();
        assert_eq!(asked.to_string(), "openid email");
        let allowed = Scopes::parse("openid profile email").unwrap();
        assert!(asked.is_subset_of(&allowed));
        assert!(!allowed.is_subset_of(&asked));
        assert!(Scopes::parse("bad\"scope").is_err());
        assert!(Scopes::parse("").unwrap().is_empty());
    }
}

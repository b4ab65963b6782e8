//! What a team may be called.

use crate::error::TeamError;

/// A team's name: 1 to 100 characters, trimmed, no control characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TeamName(String);

impl TeamName {
    pub fn parse(raw: &str) -> Result<Self, TeamError> {
        let name = raw.trim();
        if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
            return Err(TeamError::InvalidName);
        }
        Ok(Self(name.to_owned()))
    }

    /// The name a new team gets from its first administrator's address: its domain.
    pub fn from_email(email: &str) -> Self {
        let domain = email.rsplit_once('@').map_or(email, |(_, domain)| domain);
        Self::parse(domain).unwrap_or_else(|_| Self("My team".to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

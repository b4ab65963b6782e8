use serde::Serialize;

/// What a member may do in a team.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Manages members, roles, join links, and reads the audit log.
    Administrator,
    Member,
}

#[derive(Debug, thiserror::Error)]
#[error("{0:?} is not a role: use administrator or member")]
pub struct RoleParseError(pub String);

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Administrator => "administrator",
            Role::Member => "member",
        }
    }

    /// Reads a role as people write it (`admin` is accepted for `administrator`).
    pub fn parse(raw: &str) -> Result<Self, RoleParseError> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "administrator" | "admin" => Ok(Role::Administrator),
            "member" => Ok(Role::Member),
            _ => Err(RoleParseError(raw.to_owned())),
        }
    }

    /// How a stored role reads; an unknown value is the least privilege.
    pub fn from_stored(raw: &str) -> Self {
        Self::parse(raw).unwrap_or(Role::Member)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_parse_as_written_and_refuse_anything_else() {
        assert_eq!(Role::parse("Admin").ok(), Some(Role::Administrator));
        assert_eq!(Role::parse("member").ok(), Some(Role::Member));
        assert!(Role::parse("owner").is_err());
        assert_eq!(Role::from_stored("garbage"), Role::Member);
    }
}

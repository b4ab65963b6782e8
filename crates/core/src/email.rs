use std::str::FromStr;

/// An email address, checked once at the edge (RFC 5322 syntax, by `email_address`) and kept
/// in lower case, so one person has one account whatever case they type.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Email(String);

#[derive(Debug, thiserror::Error)]
#[error("{0:?} is not an email address")]
pub struct InvalidEmail(pub String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, InvalidEmail> {
        let trimmed = raw.trim();
        if trimmed.len() > 254 {
            return Err(InvalidEmail(trimmed.chars().take(40).collect()));
        }
        let parsed = email_address::EmailAddress::from_str(trimmed)
            .map_err(|_| InvalidEmail(trimmed.to_owned()))?;
        // A display name ("Ann <ann@example.com>") is not an address to sign in with.
        let bare = parsed.email() == trimmed;
        let domain = parsed.domain().to_ascii_lowercase();
        let dotted_domain = domain.contains('.') || domain == "localhost";
        // RFC 6761 §6.4: `.invalid` never resolves. Integration identities hold such an
        // address so that no one can sign in as one.
        let reserved = domain == "invalid" || domain.ends_with(".invalid");
        if !bare || !dotted_domain || reserved {
            return Err(InvalidEmail(trimmed.to_owned()));
        }
        Ok(Self(trimmed.to_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_checked_and_lower_cased() {
        assert_eq!(
            Email::parse(" Ann@Example.COM ").map(|e| e.0).ok(),
            Some("ann@example.com".into())
        );
        for bad in [
            "",
            "ann",
            "ann@",
            "@example.com",
            "Ann <ann@example.com>",
            "ann@example",
            "a b@example.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }
}

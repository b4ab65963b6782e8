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
        // Only plain addresses, as a browser's email field takes them (WHATWG HTML "valid
        // email address", with non-ASCII letters as RFC 6531 allows): no quoted local part ("a b"@x) and no address literal (a@[192.0.2.1]),
        // which RFC 5322 allows but nobody signs up with, and which reach places (a mail
        // header, a log line, a bare IP) a plain address does not.
        let plain_local = parsed
            .local_part()
            .chars()
            .all(|c| c.is_alphanumeric() || ".!#$%&'*+/=?^_`{|}~-".contains(c));
        let named_domain = !domain.starts_with('[');
        if !bare || !dotted_domain || reserved || !plain_local || !named_domain {
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
            "\"a b\"@example.com",
            "\"<x>\"@example.com",
            "a@[127.0.0.1]",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn reserved_invalid_domains_are_refused() {
        for reserved in ["x@integration.invalid", "x@INVALID", "x@a.Invalid"] {
            assert!(Email::parse(reserved).is_err(), "{reserved:?}");
        }
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(500))]

            /// Whatever is typed, parsing never panics; what it accepts is one bare,
            /// lower-case address with nothing a mail header or a page could misread, and
            /// parsing it again gives it back unchanged.
            #[test]
            fn an_accepted_address_is_bare_lower_case_and_stable(
                raw in prop_oneof![
                    "[ -~]{0,60}",
                    "[a-zA-Z0-9.+_-]{1,20}@[a-zA-Z0-9-]{1,10}\\.[a-zA-Z]{2,5}",
                    "[a-z]{1,5}[\\r\\n<>,;\" ]{1,2}[a-z]{1,5}@example\\.com",
                    "\\PC{0,30}",
                    "\"[ -~]{0,8}\"@example\\.com",
                    "[a-z]{1,5}@\\[[0-9.]{7,15}\\]",
                ]
            ) {
                if let Ok(email) = Email::parse(&raw) {
                    let address = email.as_str();
                    prop_assert!(address.len() <= 254);
                    prop_assert_eq!(address, address.to_lowercase());
                    prop_assert!(!address.contains(|c: char| c.is_whitespace() || c.is_control() || "<>,;\"".contains(c)), "{address:?}");
                    prop_assert_eq!(address.matches('@').count(), 1);
                    prop_assert_eq!(Email::parse(address).ok(), Some(email.clone()));
                }
            }
        }
    }
}

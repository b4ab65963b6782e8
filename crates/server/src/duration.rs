use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// A length of time written the way people write it in configuration: `10m`, `72h`, `30d`, `2s`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ttl(Duration);

impl Ttl {
    pub const fn from_secs(secs: u64) -> Self {
        Self(Duration::from_secs(secs))
    }

    pub fn parse(raw: &str) -> Result<Self, String> {
        humantime::parse_duration(raw.trim())
            .map(Self)
            .map_err(|e| format!("{raw:?} is not a duration like 10m, 72h, 30d or 2s ({e})"))
    }

    pub fn as_duration(self) -> Duration {
        self.0
    }

    /// The same span as a chrono delta, for the domain crates' arithmetic on timestamps.
    pub fn as_time_delta(self) -> chrono::TimeDelta {
        chrono::TimeDelta::from_std(self.0).unwrap_or(chrono::TimeDelta::MAX)
    }
}

impl std::fmt::Display for Ttl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

impl<'de> Deserialize<'de> for Ttl {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Ttl::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_people_write_them() {
        assert_eq!(Ttl::parse("10m"), Ok(Ttl::from_secs(600)));
        assert_eq!(Ttl::parse("72h"), Ok(Ttl::from_secs(72 * 3600)));
        assert_eq!(Ttl::parse("30d"), Ok(Ttl::from_secs(30 * 86400)));
        assert_eq!(Ttl::parse("2s"), Ok(Ttl::from_secs(2)));
        assert!(Ttl::parse("ten minutes").is_err());
        assert!(Ttl::parse("10").is_err());
    }
}

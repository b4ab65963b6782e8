//! Times as people read them: "7 Dec 2026, 18:33 UTC", and how long ago ("3 hours ago") or
//! how soon ("in 2 days"), worked out on the server so pages need no JavaScript. The exact
//! time stays in the `<time datetime>` attribute for machines.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

/// A time on a page: rendered by the `time` macro of `macros.html`.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Moment {
    /// RFC 3339, for the `datetime` attribute.
    pub iso: String,
    /// "7 Dec 2026, 18:33 UTC".
    pub text: String,
    /// "3 hours ago", "in 2 days", "just now".
    pub relative: String,
}

impl Moment {
    pub(crate) fn new(at: DateTime<Utc>, now: DateTime<Utc>) -> Self {
        Self {
            iso: at.to_rfc3339_opts(SecondsFormat::Secs, true),
            text: latchkey_teams::readable_time(at),
            relative: relative(at, now),
        }
    }

    /// A time another crate gives as RFC 3339 text; `None` if it is not one.
    pub(crate) fn parse(iso: &str, now: DateTime<Utc>) -> Option<Self> {
        DateTime::parse_from_rfc3339(iso)
            .ok()
            .map(|at| Self::new(at.with_timezone(&Utc), now))
    }
}

/// How far `at` is from `now`, in the largest unit that reads naturally.
fn relative(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let seconds = (now - at).num_seconds();
    let distance = seconds.unsigned_abs();
    if distance < 60 {
        return "just now".to_owned();
    }
    let (count, unit) = match distance / 60 {
        minutes if minutes < 60 => (minutes, "minute"),
        minutes if minutes < 48 * 60 => (minutes / 60, "hour"),
        minutes if minutes < 60 * 24 * 60 => (minutes / (24 * 60), "day"),
        minutes if minutes < 730 * 24 * 60 => (minutes / (30 * 24 * 60), "month"),
        minutes => (minutes / (365 * 24 * 60), "year"),
    };
    let amount = match count {
        1 => format!("1 {unit}"),
        n => format!("{n} {unit}s"),
    };
    match seconds > 0 {
        true => format!("{amount} ago"),
        false => format!("in {amount}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeDelta, TimeZone};

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 7, 21, 33, 11)
            .single()
            .unwrap_or_default()
    }

    #[test]
    fn a_time_reads_as_a_date_and_how_long_ago() {
        let moment = Moment::new(now() - TimeDelta::hours(3), now());
        assert_eq!(moment.iso, "2026-12-07T18:33:11Z");
        assert_eq!(moment.text, "7 Dec 2026, 18:33 UTC");
        assert_eq!(moment.relative, "3 hours ago");
    }

    #[test]
    fn relative_forms_read_naturally_both_ways() {
        let cases = [
            (TimeDelta::seconds(-20), "just now"),
            (TimeDelta::minutes(1), "1 minute ago"),
            (TimeDelta::minutes(59), "59 minutes ago"),
            (TimeDelta::hours(47), "47 hours ago"),
            (TimeDelta::days(3), "3 days ago"),
            (TimeDelta::days(-3), "in 3 days"),
            (TimeDelta::days(-400), "in 13 months"),
            (TimeDelta::days(3650), "10 years ago"),
        ];
        for (ago, expected) in cases {
            assert_eq!(relative(now() - ago, now()), expected, "{ago}");
        }
    }
}

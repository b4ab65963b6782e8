//! How long an answer may be kept, by its `Cache-Control`: what key sets and discovery
//! documents fetched from others say of themselves.

use std::time::Duration;

/// `max-age` from `Cache-Control` (`no-store`/`no-cache` count as zero); `None` when the
/// answer does not say. Callers bound it: each keeps an answer at least a little while, so a
/// request anyone can cause does not each time cause a fetch, and never for more than a day.
pub fn max_age(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::CACHE_CONTROL)?.to_str().ok()?;
    let mut seconds = None;
    for directive in value.split(',').map(str::trim) {
        if directive.eq_ignore_ascii_case("no-store") || directive.eq_ignore_ascii_case("no-cache")
        {
            return Some(Duration::ZERO);
        }
        if let Some(v) = directive.strip_prefix("max-age=") {
            seconds = v.trim_matches('"').parse::<u64>().ok();
        }
    }
    seconds.map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use reqwest::header::{CACHE_CONTROL, HeaderMap, HeaderValue};

    use super::*;

    fn said(value: &str) -> Option<Duration> {
        let mut headers = HeaderMap::new();
        headers.insert(CACHE_CONTROL, HeaderValue::from_str(value).unwrap());
        max_age(&headers)
    }

    #[test]
    fn max_age_is_read_and_no_cache_counts_as_zero() {
        assert_eq!(
            said("public, max-age=3600"),
            Some(Duration::from_secs(3600))
        );
        assert_eq!(said("max-age=\"60\""), Some(Duration::from_secs(60)));
        assert_eq!(said("no-cache, max-age=600"), Some(Duration::ZERO));
        assert_eq!(said("private, no-store"), Some(Duration::ZERO));
        assert_eq!(said("public"), None);
        assert_eq!(said("max-age=soon"), None);
        assert_eq!(max_age(&HeaderMap::new()), None);
    }
}

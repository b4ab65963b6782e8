//! What a mail may say about who asked. The `User-Agent` header is whatever the asker sends,
//! so it never goes into a mail as written: a mail would then carry the asker's sentence and
//! link from the provider's own address. Mail shows a summary from a fixed list instead.

/// "Firefox on Windows", from a fixed list of browsers and systems; anything else is "an
/// unknown browser". At most 40 characters, and never text the asker chose.
pub fn browser_summary(user_agent: &str) -> String {
    // Order matters: Edge and Opera also say Chrome; Chrome also says Safari.
    const BROWSERS: [(&str, &str); 6] = [
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
    ];
    // iPhone and iPad say "like Mac OS X"; Android says Linux.
    const SYSTEMS: [(&str, &str); 7] = [
        ("iPhone", "iPhone"),
        ("iPad", "iPad"),
        ("Android", "Android"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("CrOS", "ChromeOS"),
        ("Linux", "Linux"),
    ];
    let browser = BROWSERS
        .iter()
        .find(|(mark, _)| user_agent.contains(mark))
        .map(|(_, name)| *name);
    let system = SYSTEMS
        .iter()
        .find(|(mark, _)| user_agent.contains(mark))
        .map(|(_, name)| *name);
    match (browser, system) {
        (Some(browser), Some(system)) => format!("{browser} on {system}"),
        (Some(browser), None) => browser.to_owned(),
        (None, _) => "an unknown browser".to_owned(),
    }
}

/// The mailbox an address delivers to, for counting what is sent to it: the `+tag` part is
/// dropped (`ann+1@example.com` and `ann@example.com` reach one inbox at every large
/// provider), so tags cannot multiply the per-address limit. The address itself is kept.
pub fn mailbox_key(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            let local = local.split_once('+').map_or(local, |(base, _)| base);
            format!("{local}@{domain}")
        }
        None => email.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_browsers_are_named_and_everything_else_is_not_repeated() {
        let firefox =
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0";
        assert_eq!(browser_summary(firefox), "Firefox on Windows");
        let iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1";
        assert_eq!(browser_summary(iphone), "Safari on iPhone");
        let chrome_android = "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Mobile Safari/537.36";
        assert_eq!(browser_summary(chrome_android), "Chrome on Android");
        let edge = "Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36 Edg/131.0";
        assert_eq!(browser_summary(edge), "Edge on Windows");
        let phishing = "Firefox). URGENT: your account is suspended, restore it at https://evil.example/restore (";
        assert_eq!(browser_summary(phishing), "an unknown browser");
        assert_eq!(browser_summary(""), "an unknown browser");
    }

    #[test]
    fn tags_do_not_make_new_mailboxes() {
        assert_eq!(mailbox_key("ann+1@example.com"), "ann@example.com");
        assert_eq!(mailbox_key("ann+a+b@example.com"), "ann@example.com");
        assert_eq!(mailbox_key("ann@example.com"), "ann@example.com");
    }
}

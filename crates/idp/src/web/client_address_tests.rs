use std::net::IpAddr;

use axum::http::{HeaderMap, HeaderValue};
use proptest::prelude::*;

use super::*;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap_or_else(|_| IpAddr::from([0, 0, 0, 0]))
}

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        if let Ok(value) = HeaderValue::from_str(value) {
            map.append(*name, value);
        }
    }
    map
}

fn proxies(nets: &[&str]) -> TrustedProxies {
    TrustedProxies::parse(nets, ForwardedHeader::XForwardedFor).unwrap_or_default()
}

fn forwarded_proxies(nets: &[&str]) -> TrustedProxies {
    TrustedProxies::parse(nets, ForwardedHeader::Forwarded).unwrap_or_default()
}

#[test]
fn forwarding_headers_from_an_untrusted_peer_are_ignored() {
    let h = headers(&[
        ("x-forwarded-for", "203.0.113.9"),
        ("forwarded", "for=203.0.113.8"),
    ]);
    assert_eq!(
        client_address(ip("198.51.100.1"), &h, &proxies(&[])),
        ip("198.51.100.1")
    );
    assert_eq!(
        client_address(ip("198.51.100.1"), &h, &proxies(&["10.0.0.0/8"])),
        ip("198.51.100.1")
    );
}

#[test]
fn a_trusted_proxy_names_the_client_and_earlier_hops_are_not_believed() {
    let trusted = proxies(&["10.0.0.0/8"]);
    let h = headers(&[("x-forwarded-for", "1.1.1.1, 203.0.113.9")]);
    assert_eq!(
        client_address(ip("10.0.0.2"), &h, &trusted),
        ip("203.0.113.9")
    );
    // Two trusted proxies in a row: the walk goes past the inner one.
    let h = headers(&[("x-forwarded-for", "1.1.1.1, 203.0.113.9, 10.1.1.1")]);
    assert_eq!(
        client_address(ip("10.0.0.2"), &h, &trusted),
        ip("203.0.113.9")
    );
    // Several header lines are one list.
    let mut h = headers(&[("x-forwarded-for", "1.1.1.1")]);
    h.append("x-forwarded-for", HeaderValue::from_static("203.0.113.7"));
    assert_eq!(
        client_address(ip("10.0.0.2"), &h, &trusted),
        ip("203.0.113.7")
    );
    // A trusted proxy that sent no header: the proxy is all there is to know.
    assert_eq!(
        client_address(ip("10.0.0.2"), &HeaderMap::new(), &trusted),
        ip("10.0.0.2")
    );
}

#[test]
fn only_the_header_the_proxy_writes_is_read() {
    // The proxy appends to X-Forwarded-For and passes the client's own Forwarded through.
    let h = headers(&[
        ("x-forwarded-for", "203.0.113.1"),
        ("forwarded", "for=192.0.2.99"),
    ]);
    let peer = ip("10.0.0.2");
    assert_eq!(
        client_address(peer, &h, &proxies(&["10.0.0.0/8"])),
        ip("203.0.113.1")
    );
    assert_eq!(
        client_address(peer, &h, &forwarded_proxies(&["10.0.0.0/8"])),
        ip("192.0.2.99")
    );
}

#[test]
fn the_forwarded_header_reads_ports_quotes_and_ipv6() {
    let trusted = forwarded_proxies(&["10.0.0.0/8", "::1"]);
    let h = headers(&[(
        "forwarded",
        r#"for=192.0.2.60;proto=http;by=203.0.113.43, For="[2001:db8:cafe::17]:4711""#,
    )]);
    assert_eq!(
        client_address(ip("::1"), &h, &trusted),
        ip("2001:db8:cafe::17")
    );
    let h = headers(&[("forwarded", "for=192.0.2.43:8080")]);
    assert_eq!(
        client_address(ip("10.0.0.2"), &h, &trusted),
        ip("192.0.2.43")
    );
}

#[test]
fn a_non_text_element_hides_only_itself() {
    let mut h = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_bytes(b"198.51.100.1, \xff\xfe, 203.0.113.9") {
        h.append("x-forwarded-for", value);
    }
    let trusted = proxies(&["10.0.0.0/8"]);
    assert_eq!(
        client_address(ip("10.0.0.2"), &h, &trusted),
        ip("203.0.113.9")
    );
}

#[test]
fn an_unreadable_hop_ends_the_walk_at_the_last_good_address() {
    let trusted = forwarded_proxies(&["10.0.0.0/8"]);
    for value in [
        "garbage",
        "unknown",
        "for=unknown",
        "for=_hidden",
        "for=\"",
        r#"host=""#,
        "for=1.2.3.4;for=5.6.7.8",
    ] {
        let h = headers(&[("forwarded", value)]);
        assert_eq!(
            client_address(ip("10.0.0.2"), &h, &trusted),
            ip("10.0.0.2"),
            "{value}"
        );
    }
    let h = headers(&[("x-forwarded-for", "203.0.113.5, nonsense, 10.0.0.9")]);
    let trusted = proxies(&["10.0.0.0/8"]);
    assert_eq!(client_address(ip("10.0.0.2"), &h, &trusted), ip("10.0.0.9"));
}

#[test]
fn an_ipv4_mapped_peer_is_its_ipv4_address() {
    let trusted = proxies(&["127.0.0.1"]);
    let h = headers(&[("x-forwarded-for", "203.0.113.5")]);
    assert_eq!(
        client_address(ip("::ffff:127.0.0.1"), &h, &trusted),
        ip("203.0.113.5")
    );
}

#[test]
fn ipv6_is_limited_by_its_64_and_ipv4_by_its_address() {
    assert_eq!(rate_key(ip("2001:db8:1:2:3:4:5:6")), ip("2001:db8:1:2::"));
    assert_eq!(
        rate_key(ip("2001:db8:1:2:ffff::1")),
        rate_key(ip("2001:db8:1:2::9"))
    );
    assert_ne!(
        rate_key(ip("2001:db8:1:3::1")),
        rate_key(ip("2001:db8:1:2::1"))
    );
    assert_eq!(rate_key(ip("203.0.113.5")), ip("203.0.113.5"));
    assert_eq!(rate_key(ip("::ffff:203.0.113.5")), ip("203.0.113.5"));
}

#[test]
fn proxy_lists_name_the_entry_that_is_wrong() {
    let xff = ForwardedHeader::XForwardedFor;
    assert!(TrustedProxies::parse(&["10.0.0.0/8", "fd00::/8", "192.0.2.7"], xff).is_ok());
    let error = TrustedProxies::parse(&["10.0.0.0/33"], xff)
        .err()
        .unwrap_or_default();
    assert!(error.contains("10.0.0.0/33"), "{error}");
    assert!(TrustedProxies::parse(&["proxy.internal"], xff).is_err());
    assert!(ForwardedHeader::parse("X-Forwarded-For").is_ok());
    assert!(ForwardedHeader::parse("x-real-ip").is_err());
}

/// Every address written anywhere in a header value, with or without a port.
fn addresses_in(value: &str) -> Vec<IpAddr> {
    value
        .split([',', ';', '=', '"', '[', ']', ' '])
        .filter_map(|token| {
            token.parse::<IpAddr>().ok().or_else(|| {
                let (host, _) = token.rsplit_once(':')?;
                host.parse::<IpAddr>().ok()
            })
        })
        .map(|a| a.to_canonical())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Whatever a client sends, the answer is the peer or an address that appears in the
    /// headers; parsing never panics.
    #[test]
    fn any_header_yields_the_peer_or_a_named_address(
        forwarded in "[ -~]{0,80}",
        x_forwarded_for in "[0-9a-f.:, \\[\\]]{0,80}",
    ) {
        let trusted = if forwarded.len() % 2 == 0 {
            proxies(&["10.0.0.0/8"])
        } else {
            forwarded_proxies(&["10.0.0.0/8"])
        };
        let h = headers(&[("forwarded", &forwarded), ("x-forwarded-for", &x_forwarded_for)]);
        let got = client_address(ip("10.0.0.2"), &h, &trusted);
        let named = got == ip("10.0.0.2")
            || addresses_in(&forwarded).contains(&got)
            || addresses_in(&x_forwarded_for).contains(&got);
        prop_assert!(named, "{got} from {forwarded:?} / {x_forwarded_for:?}");
        // From an untrusted peer the headers change nothing.
        prop_assert_eq!(client_address(ip("198.51.100.1"), &h, &trusted), ip("198.51.100.1"));
    }

    /// A chain of real addresses behind trusted proxies gives its last untrusted address.
    #[test]
    fn a_well_formed_chain_gives_its_most_recent_untrusted_hop(
        chain in proptest::collection::vec(any::<[u8; 4]>(), 1..6),
        as_forwarded in any::<bool>(),
    ) {
        let trusted = if as_forwarded {
            forwarded_proxies(&["10.0.0.0/8"])
        } else {
            proxies(&["10.0.0.0/8"])
        };
        let addresses: Vec<IpAddr> = chain.iter().map(|o| IpAddr::from(*o)).collect();
        let list = addresses.iter().map(|a| if as_forwarded { format!("for={a}") } else { a.to_string() });
        let value = list.collect::<Vec<_>>().join(", ");
        let name = if as_forwarded { "forwarded" } else { "x-forwarded-for" };
        let h = headers(&[(name, &value)]);
        let expected = addresses
            .iter()
            .rev()
            .find(|a| !trusted.trusts(**a))
            .or(addresses.first())
            .copied()
            .unwrap_or(ip("10.0.0.2"));
        prop_assert_eq!(client_address(ip("10.0.0.2"), &h, &trusted), expected);
    }

    /// The IPv6 key keeps the /64 and drops the rest.
    #[test]
    fn the_ipv6_key_is_the_64(bits in any::<u128>()) {
        let key = rate_key(IpAddr::V6(Ipv6Addr::from(bits)));
        if !Ipv6Addr::from(bits).to_canonical().is_ipv4() {
            prop_assert_eq!(key, IpAddr::V6(Ipv6Addr::from(bits & !((1u128 << 64) - 1))));
        }
    }
}

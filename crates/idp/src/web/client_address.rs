//! Which address a request comes from. Behind a TLS-terminating proxy every connection comes
//! from the proxy, so the per-IP limit, the mail ("requested from …") and the audit log would
//! all see one address. The proxy says whom it serves in `X-Forwarded-For` or `Forwarded`
//! (RFC 7239), but anyone can send those headers: only the one the proxy writes
//! (`http.forwarded_header`) is read, only from the proxies named in `http.trusted_proxies`,
//! and only as far back as the chain stays trusted. A proxy passes the other header through
//! as the client sent it, so reading both would let a client name its own address.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use axum::extract::ConnectInfo;
use axum::http::{Extensions, HeaderMap, Request, header};
use ipnet::IpNet;
use tower_governor::GovernorError;
use tower_governor::key_extractor::KeyExtractor;

/// The longest forwarding chain read; a longer one is cut at its most recent hops, so a client
/// cannot make every request walk a megabyte of addresses.
const MAX_HOPS: usize = 32;

/// The proxies whose forwarding header is believed (`http.trusted_proxies`), and which header
/// they write (`http.forwarded_header`).
#[derive(Clone, Debug, Default)]
pub struct TrustedProxies {
    nets: Arc<[IpNet]>,
    header: ForwardedHeader,
}

/// The header the trusted proxies write.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For` (nginx, HAProxy, cloud load balancers, Kubernetes ingresses).
    #[default]
    XForwardedFor,
    /// `Forwarded` (RFC 7239).
    Forwarded,
}

impl ForwardedHeader {
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "x-forwarded-for" => Ok(Self::XForwardedFor),
            "forwarded" => Ok(Self::Forwarded),
            _ => Err(format!(
                "{raw:?} is not x-forwarded-for or forwarded (the header your proxy writes)"
            )),
        }
    }
}

impl TrustedProxies {
    /// Reads CIDRs (`10.0.0.0/8`, `fd00::/8`) or single addresses (`192.0.2.7`).
    pub fn parse<S: AsRef<str>>(entries: &[S], header: ForwardedHeader) -> Result<Self, String> {
        entries
            .iter()
            .map(|entry| {
                let entry = entry.as_ref().trim();
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map(|net| net.trunc())
                    .map_err(|_| {
                        format!("{entry:?} is not an address or CIDR like 10.0.0.0/8 or fd00::/8")
                    })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(|nets| Self {
                nets: nets.into(),
                header,
            })
    }

    /// Whether `address` is one of the trusted proxies (whose connections are many clients').
    pub fn trusts(&self, address: IpAddr) -> bool {
        self.nets.iter().any(|net| net.contains(&address))
    }

    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }
}

/// The client's address: the TCP peer, unless the peer is a trusted proxy, in which case the
/// most recent hop of its forwarding chain that is not itself a trusted proxy. A hop that
/// cannot be read (garbage, `unknown`, an obfuscated name) ends the walk at the last address
/// known to be good, so a client cannot hide behind a malformed header.
pub fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &TrustedProxies) -> IpAddr {
    let peer = peer.to_canonical();
    if !trusted.trusts(peer) {
        return peer;
    }
    let mut client = peer;
    for hop in forwarded_chain(headers, trusted.header)
        .into_iter()
        .rev()
        .take(MAX_HOPS)
    {
        let Some(hop) = hop else { break };
        client = hop.to_canonical();
        if !trusted.trusts(client) {
            break;
        }
    }
    client
}

/// The addresses a request passed through, oldest first, from the one header the proxies
/// write; `None` for a hop that names no address.
fn forwarded_chain(headers: &HeaderMap, header: ForwardedHeader) -> Vec<Option<IpAddr>> {
    let (name, read): (header::HeaderName, fn(&str) -> Option<IpAddr>) = match header {
        ForwardedHeader::Forwarded => (header::FORWARDED, forwarded_for),
        ForwardedHeader::XForwardedFor => (
            header::HeaderName::from_static("x-forwarded-for"),
            |element| element.parse::<IpAddr>().ok(),
        ),
    };
    elements(headers, name)
        .into_iter()
        .map(|element| element.and_then(read))
        .collect()
}

/// The address in one `Forwarded` element's `for` parameter (RFC 7239 §4, §6): an IPv4
/// address or a bracketed IPv6 address, either with an optional port, optionally quoted.
/// `unknown`, obfuscated names, a repeated parameter or a malformed pair read as no address.
/// (The crate `forwarded-header-value` panics on `host="`, so this small part is ours.)
fn forwarded_for(element: &str) -> Option<IpAddr> {
    let mut found = None;
    for pair in element.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("for") {
            continue;
        }
        if found.is_some() {
            return None;
        }
        found = Some(node_address(unquote(value.trim())?)?);
    }
    found
}

/// A `quoted-string` without its quotes, or a token as it is; an unbalanced quote or an
/// escape (never needed for an address) is refused.
fn unquote(value: &str) -> Option<&str> {
    let inner = match value.strip_prefix('"') {
        Some(rest) => rest.strip_suffix('"')?,
        None => value,
    };
    (!inner.contains(['"', '\\'])).then_some(inner)
}

/// `192.0.2.1`, `192.0.2.1:4711`, `[2001:db8::1]` or `[2001:db8::1]:4711`.
fn node_address(node: &str) -> Option<IpAddr> {
    let (address, port) = match node.strip_prefix('[') {
        Some(rest) => {
            let (v6, after) = rest.split_once(']')?;
            let port = match after {
                "" => None,
                after => Some(after.strip_prefix(':')?),
            };
            (IpAddr::V6(v6.parse::<Ipv6Addr>().ok()?), port)
        }
        None => {
            let (v4, port) = match node.split_once(':') {
                Some((v4, port)) => (v4, Some(port)),
                None => (node, None),
            };
            (IpAddr::V4(v4.parse::<Ipv4Addr>().ok()?), port)
        }
    };
    port.is_none_or(valid_port).then_some(address)
}

/// A port as RFC 7239 allows it: a number, or an obfuscated `_name`.
fn valid_port(port: &str) -> bool {
    match port.strip_prefix('_') {
        Some(name) => {
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        }
        None => port.bytes().all(|b| b.is_ascii_digit()) && port.parse::<u16>().is_ok(),
    }
}

/// The elements of every value of a header, in order, as one comma-separated list (RFC 9110
/// §5.3), trimmed; empty ones (`a,,b`) are dropped, as RFC 9110 allows. An element that is not
/// text is `None`: only it is unreadable, not the hops a proxy appended after it.
fn elements(headers: &HeaderMap, name: header::HeaderName) -> Vec<Option<&str>> {
    headers
        .get_all(name)
        .iter()
        .flat_map(|value| value.as_bytes().split(|b| *b == b','))
        .map(|element| std::str::from_utf8(element).ok().map(str::trim))
        .filter(|element| element.is_none_or(|e| !e.is_empty()))
        .collect()
}

/// What the per-IP limit counts by: an IPv4 address, or an IPv6 address's /64. One host gets a
/// whole /64 from its provider, so keying IPv6 by the full address would give it 2⁶⁴ buckets.
pub fn rate_key(address: IpAddr) -> IpAddr {
    match address.to_canonical() {
        IpAddr::V6(v6) => {
            let network = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(network))
        }
        v4 => v4,
    }
}

/// The request's client address, from the connection and, for a trusted proxy, its headers.
pub fn of_request(
    extensions: &Extensions,
    headers: &HeaderMap,
    trusted: &TrustedProxies,
) -> Option<IpAddr> {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|peer| client_address(peer.0.ip(), headers, trusted))
}

/// Keys the per-IP limiter by [`rate_key`] of the client address.
#[derive(Clone, Debug)]
pub struct ClientKey(pub TrustedProxies);

impl KeyExtractor for ClientKey {
    type Key = IpAddr;

    fn extract<T>(&self, request: &Request<T>) -> Result<Self::Key, GovernorError> {
        of_request(request.extensions(), request.headers(), &self.0)
            .map(rate_key)
            .ok_or(GovernorError::UnableToExtractKey)
    }
}

#[cfg(test)]
#[path = "client_address_tests.rs"]
mod tests;

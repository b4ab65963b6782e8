//! Proving that a team owns an address domain: a DNS TXT record it publishes, as Google
//! Workspace and Microsoft 365 ask for. Until a domain is proven, its addresses are not sent
//! to the connection from `/login`, and the connection cannot sign in the accounts they own.

use std::net::SocketAddr;

use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;
use hickory_resolver::{Resolver, TokioResolver};

/// The name the TXT record goes on, under the domain.
pub const CHALLENGE_LABEL: &str = "_latchkey-challenge";
/// What the record's text begins with, before the connection's challenge for the domain.
pub const CHALLENGE_PREFIX: &str = "latchkey-domain-verification=";

/// The record a team publishes to prove `domain`: its name and its text.
pub fn challenge_record(domain: &str, challenge: &str) -> (String, String) {
    (
        format!("{CHALLENGE_LABEL}.{domain}"),
        format!("{CHALLENGE_PREFIX}{challenge}"),
    )
}

/// Reads a domain as an administrator types it: lower case, no trailing dot, a name of at
/// least two labels of letters, digits and hyphens. `None` for anything else.
pub fn parse_domain(raw: &str) -> Option<String> {
    let domain = raw.trim().trim_end_matches('.').to_ascii_lowercase();
    let labels: Vec<&str> = domain.split('.').collect();
    let good_label = |label: &&str| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    (domain.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(good_label)
        && !labels
            .last()
            .is_some_and(|tld| tld.chars().all(|c| c.is_ascii_digit()))
        && domain != "integration.invalid"
        && !domain.ends_with(".invalid"))
    .then_some(domain)
}

/// Why a domain could not be checked.
#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    #[error("the DNS resolver could not be set up: {0}")]
    Setup(String),
    #[error("DNS did not answer for {0}: {1}")]
    Lookup(String, String),
}

/// Looks up TXT records: with the system's resolver, or with the one server
/// `federation.dns_server` names (a closed network, or the tests' own). The resolver is made
/// for each lookup, which are few (a domain proof, the daily re-check): a machine without a
/// resolver configuration still starts, and says so when a proof is asked for.
#[derive(Clone)]
pub struct TxtLookup {
    server: Option<SocketAddr>,
}

impl TxtLookup {
    pub fn new(server: Option<SocketAddr>) -> Self {
        Self { server }
    }

    fn resolver(&self) -> Result<TokioResolver, DnsError> {
        let mut builder = match self.server {
            Some(address) => {
                let mut udp = ConnectionConfig::udp();
                udp.port = address.port();
                let mut tcp = ConnectionConfig::tcp();
                tcp.port = address.port();
                let server = NameServerConfig::new(address.ip(), true, vec![udp, tcp]);
                Resolver::builder_with_config(
                    ResolverConfig::from_name_servers(vec![server]),
                    TokioRuntimeProvider::default(),
                )
            }
            None => Resolver::builder_tokio().map_err(|e| DnsError::Setup(e.to_string()))?,
        };
        // Never an answer older than the record the administrator just published; and an
        // unanswered lookup given up within seconds (the page or command waits on it).
        let options = builder.options_mut();
        options.cache_size = 0;
        options.timeout = std::time::Duration::from_secs(3);
        options.attempts = 1;
        builder.build().map_err(|e| DnsError::Setup(e.to_string()))
    }

    /// The texts of the TXT records at `name` (none when it has none).
    pub async fn texts(&self, name: &str) -> Result<Vec<String>, DnsError> {
        let fqdn = format!("{name}.");
        match self.resolver()?.txt_lookup(fqdn.as_str()).await {
            Ok(lookup) => Ok(lookup
                .answers()
                .iter()
                .filter_map(|record| match &record.data {
                    RData::TXT(txt) => Some(
                        txt.txt_data
                            .iter()
                            .map(|part| String::from_utf8_lossy(part))
                            .collect::<String>(),
                    ),
                    _ => None,
                })
                .collect()),
            Err(error) if error.is_no_records_found() || error.is_nx_domain() => Ok(Vec::new()),
            Err(error) => Err(DnsError::Lookup(name.to_owned(), error.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_are_names_of_two_labels_or_more() {
        assert_eq!(
            parse_domain(" Acme.Example. ").as_deref(),
            Some("acme.example")
        );
        assert_eq!(
            parse_domain("mail.acme-corp.example").as_deref(),
            Some("mail.acme-corp.example")
        );
        for bad in [
            "",
            "localhost",
            "acme..example",
            "-acme.example",
            "acme.example/x",
            "ann@acme.example",
            "10.0.0.1",
            "x.invalid",
            "*.acme.example",
        ] {
            assert_eq!(parse_domain(bad), None, "{bad:?}");
        }
    }
}

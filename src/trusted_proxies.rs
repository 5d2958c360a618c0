//! Who the client is, when the app runs behind reverse proxies.
//!
//! Behind nginx every request arrives from nginx's address, so the TCP peer
//! says nothing about the visitor. The proxy appends the address it saw to
//! `X-Forwarded-For`; but any client can send that header too, with any
//! addresses in it. So the header is believed only as far as it was written
//! by proxies we trust (`TRUSTED_PROXIES`):
//!
//! - the TCP peer is not a trusted proxy: the peer is the client, and the
//!   header is ignored (whoever sent it may have made it up);
//! - the peer is a trusted proxy: walk the header from the right (the entry
//!   the nearest proxy appended) to the left, skipping trusted proxies; the
//!   first address that is not one is the client. Entries left of it were
//!   written by the client itself and are never looked at.
//!
//! A client behind nginx that sends `X-Forwarded-For: 10.0.0.1` arrives as
//! `10.0.0.1, <its real address>`, and the rule picks its real address.
//!
//! The rule is only as good as the list. An entry that also covers clients
//! (the nginx host itself, or a network that clients share with the proxy)
//! lets those clients write any `X-Forwarded-For` they like and be believed:
//! a fresh per-address allowance with every request. So list the proxies'
//! own addresses, as narrowly as the network allows. A list with a network
//! wider than `WIDEST_IPV4_PREFIX` or `WIDEST_IPV6_PREFIX` (`0.0.0.0/0`
//! and `::/0` above all, which trust everyone) is refused at start: no group
//! of reverse proxies needs it, and it turns every limit per address off.

use std::{fmt, net::IpAddr, str::FromStr};

use actix_web::http::header::HeaderValue;
use ipnet::IpNet;

/// The widest IPv4 network accepted in the list: a /8, such as `10.0.0.0/8`.
pub const WIDEST_IPV4_PREFIX: u8 = 8;

/// The widest IPv6 network accepted in the list: a /32, a whole provider's
/// allocation; a site's network is a /48, a subnet a /64.
pub const WIDEST_IPV6_PREFIX: u8 = 32;

/// The addresses and networks of reverse proxies whose `X-Forwarded-For` is believed.
///
/// Parsed from a list such as `127.0.0.1, 10.0.0.0/8, ::1` (commas or spaces
/// between entries). Empty (the default): no proxy is trusted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// True if `address` is one of the trusted proxies.
    pub fn contains(&self, address: IpAddr) -> bool {
        let address = address.to_canonical();
        self.0.iter().any(|network| network.contains(&address))
    }

    /// True when no proxy is trusted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The client's address, given the TCP `peer` and the request's
    /// `X-Forwarded-For` header lines (in the order they arrived).
    ///
    /// See the module documentation for the rule. An entry that is not an
    /// address stops the walk: nothing left of it can be trusted, so the last
    /// trusted hop stands for the client.
    pub fn client_address<'a>(
        &self,
        peer: IpAddr,
        forwarded_for: impl DoubleEndedIterator<Item = &'a HeaderValue>,
    ) -> IpAddr {
        let mut client = peer.to_canonical();
        if !self.contains(client) {
            return client;
        }
        let entries = forwarded_for
            .rev()
            .flat_map(|line| line.to_str().unwrap_or("").rsplit(','));
        for entry in entries {
            let Some(address) = parse_entry(entry) else {
                break;
            };
            client = address;
            if !self.contains(address) {
                break;
            }
        }
        client
    }
}

/// One `X-Forwarded-For` entry: an address, possibly with a port
/// (`192.0.2.1:4711`, `[2001:db8::1]:4711`).
fn parse_entry(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    entry
        .parse::<IpAddr>()
        .or_else(|_| entry.parse::<std::net::SocketAddr>().map(|s| s.ip()))
        .ok()
        .map(|address| address.to_canonical())
}

impl FromStr for TrustedProxies {
    type Err = String;

    /// Parses `127.0.0.1, 10.0.0.0/8 ::1`: addresses (one host each) and CIDR
    /// networks no wider than [`WIDEST_IPV4_PREFIX`] and [`WIDEST_IPV6_PREFIX`].
    fn from_str(text: &str) -> Result<Self, String> {
        text.split([',', ' ', '\t'])
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                let network = entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map(|network| network.trunc())
                    .map_err(|_| {
                        format!("`{entry}` is neither an IP address nor a CIDR network")
                    })?;
                let widest = match network {
                    IpNet::V4(_) => WIDEST_IPV4_PREFIX,
                    IpNet::V6(_) => WIDEST_IPV6_PREFIX,
                };
                if network.prefix_len() < widest {
                    return Err(format!(
                        "`{entry}` is too wide: every client in it could name any address in \
                         X-Forwarded-For; list the proxies' own addresses (networks up to /{} \
                         for IPv4, /{} for IPv6)",
                        WIDEST_IPV4_PREFIX, WIDEST_IPV6_PREFIX
                    ));
                }
                Ok(network)
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }
}

impl fmt::Display for TrustedProxies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let entries: Vec<String> = self.0.iter().map(IpNet::to_string).collect();
        f.write_str(&entries.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(trusted: &str, peer: &str, lines: &[&str]) -> String {
        let trusted: TrustedProxies = trusted.parse().expect("valid");
        let lines: Vec<HeaderValue> = lines
            .iter()
            .map(|line| HeaderValue::from_str(line).expect("a header value"))
            .collect();
        trusted
            .client_address(peer.parse().expect("an address"), lines.iter())
            .to_string()
    }

    #[test]
    fn the_header_of_an_untrusted_peer_is_ignored() {
        assert_eq!(client("", "192.0.2.7", &["198.51.100.1"]), "192.0.2.7");
        assert_eq!(
            client("10.0.0.0/8", "192.0.2.7", &["198.51.100.1"]),
            "192.0.2.7"
        );
    }

    #[test]
    fn behind_a_trusted_proxy_the_rightmost_untrusted_entry_is_the_client() {
        let trusted = "127.0.0.1, 10.0.0.0/8";
        assert_eq!(
            client(trusted, "127.0.0.1", &["198.51.100.1"]),
            "198.51.100.1"
        );
        // A forged entry left of the real one is never reached.
        assert_eq!(
            client(trusted, "127.0.0.1", &["203.0.113.9, 198.51.100.1"]),
            "198.51.100.1"
        );
        // Trusted hops are skipped, across header lines too.
        assert_eq!(
            client(
                trusted,
                "127.0.0.1",
                &["198.51.100.1, 10.1.2.3", "10.0.0.5"]
            ),
            "198.51.100.1"
        );
        assert_eq!(
            client(trusted, "127.0.0.1", &["[2001:db8::1]:4711"]),
            "2001:db8::1"
        );
    }

    #[test]
    fn without_a_usable_header_the_last_trusted_hop_stands_for_the_client() {
        assert_eq!(client("127.0.0.1", "127.0.0.1", &[]), "127.0.0.1");
        assert_eq!(client("127.0.0.1", "127.0.0.1", &["garbage"]), "127.0.0.1");
        assert_eq!(
            client("127.0.0.0/8", "127.0.0.1", &["garbage, 127.0.0.5"]),
            "127.0.0.5"
        );
        // IPv4 peers seen through an IPv6 socket are matched as IPv4.
        assert_eq!(
            client("127.0.0.1", "::ffff:127.0.0.1", &["198.51.100.1"]),
            "198.51.100.1"
        );
    }

    #[test]
    fn a_list_parses_addresses_and_networks_and_names_a_bad_entry() {
        let parsed: TrustedProxies = "127.0.0.1, 10.0.0.0/8 ::1".parse().expect("valid");
        assert_eq!(parsed.to_string(), "127.0.0.1/32, 10.0.0.0/8, ::1/128");
        assert!("".parse::<TrustedProxies>().expect("valid").is_empty());
        let error = "127.0.0.1, nginx".parse::<TrustedProxies>().unwrap_err();
        assert!(error.contains("`nginx`"), "{error}");
    }

    #[test]
    fn a_network_that_would_trust_everyone_is_refused() {
        for wide in [
            "0.0.0.0/0",
            "::/0",
            "127.0.0.1, 64.0.0.0/2",
            "10.0.0.0/7",
            "2001:db8::/31",
        ] {
            let error = wide.parse::<TrustedProxies>().unwrap_err();
            assert!(error.contains("too wide"), "{wide}: {error}");
        }
        for narrow in [
            "10.0.0.0/8",
            "127.0.0.0/8",
            "2001:db8::/32",
            "fd12:3456:789a::/48",
        ] {
            assert!(narrow.parse::<TrustedProxies>().is_ok(), "{narrow}");
        }
    }
}

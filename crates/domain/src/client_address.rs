//! Who a request comes from, behind load balancers. The TCP peer of a server behind an
//! ALB is the ALB: one address for the whole internet, so per-client limits would be
//! one bucket for everybody. The balancer says who its client was by appending it to
//! `X-Forwarded-For`; anyone can write that header too, so it is believed only as far
//! as the hops that wrote it are trusted proxies (`TRUSTED_PROXIES`, CIDRs).
//!
//! Walking from the right (the hop nearest us) to the left, each address is taken while
//! the hop that reported it is trusted; the first address a trusted proxy reports from
//! outside the trusted set is the client. With no trusted proxies the peer is the
//! client, whatever the header says.
//!
//! IPv6 clients are counted per /64 ([`limit_key`]): one host usually holds a whole
//! /64, and counting its 2^64 addresses apart would give it 2^64 buckets.

use std::net::{IpAddr, Ipv6Addr};

/// One network: an address and how many leading bits name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Network {
    address: IpAddr,
    prefix: u8,
}

impl Network {
    /// `10.0.0.0/8`, `2600:1f18::/32`, or one address (`203.0.113.7`).
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        let (address, prefix) = match raw.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (raw, None),
        };
        let address: IpAddr = address
            .parse()
            .map_err(|_| format!("'{raw}' is not an address or a CIDR"))?;
        let most = if address.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => most,
            Some(prefix) => prefix
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= most)
                .ok_or_else(|| format!("'{raw}': the prefix must be 0 to {most}"))?,
        };
        Ok(Self { address, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.address, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                prefix_bits(u128::from(u32::from(net)) << 96, self.prefix)
                    == prefix_bits(u128::from(u32::from(ip)) << 96, self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_bits(u128::from(net), self.prefix)
                    == prefix_bits(u128::from(ip), self.prefix)
            }
            _ => false,
        }
    }
}

/// The first `prefix` bits of a 128-bit value.
fn prefix_bits(value: u128, prefix: u8) -> u128 {
    match prefix {
        0 => 0,
        p if p >= 128 => value,
        p => value & (u128::MAX << (128 - u32::from(p))),
    }
}

/// An IPv4 client reaching a dual-stack socket shows as `::ffff:a.b.c.d`.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The proxies whose `X-Forwarded-For` is believed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<Network>);

impl TrustedProxies {
    /// The `TRUSTED_PROXIES` setting: comma-separated CIDRs; empty means none.
    pub fn parse(setting: &str) -> Result<Self, String> {
        setting
            .split(',')
            .filter(|part| !part.trim().is_empty())
            .map(Network::parse)
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
            .map_err(|e| format!("TRUSTED_PROXIES: {e}"))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|network| network.contains(ip))
    }

    /// The client of a request from `peer` carrying these `X-Forwarded-For` values
    /// (each header's value, in the order received).
    pub fn client<'a>(
        &self,
        peer: IpAddr,
        forwarded_for: impl IntoIterator<Item = &'a str>,
    ) -> IpAddr {
        let mut client = canonical(peer);
        if !self.trusts(client) {
            return client;
        }
        let hops: Vec<&str> = forwarded_for
            .into_iter()
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .collect();
        for hop in hops.iter().rev() {
            // What a trusted proxy wrote, it wrote correctly; anything unreadable means
            // the chain is not one we understand, and the last trusted hop stands.
            let Some(reported) = parse_hop(hop) else {
                break;
            };
            client = reported;
            if !self.trusts(client) {
                break;
            }
        }
        client
    }
}

/// One `X-Forwarded-For` entry: an address, maybe with a port or in brackets.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    if let Ok(socket) = hop.parse::<std::net::SocketAddr>() {
        return Some(canonical(socket.ip()));
    }
    hop.strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .and_then(|ip| ip.parse::<Ipv6Addr>().ok())
        .map(|ip| canonical(IpAddr::V6(ip)))
}

/// How a client is named in per-client limits: an IPv4 address whole, an IPv6 address
/// by its /64.
pub fn limit_key(ip: IpAddr) -> String {
    match canonical(ip) {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let network = Ipv6Addr::from(prefix_bits(u128::from(v6), 64));
            format!("{network}/64")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(raw: &str) -> IpAddr {
        raw.parse().unwrap()
    }

    fn alb() -> TrustedProxies {
        TrustedProxies::parse("10.0.0.0/16, 2600:1f18:aaaa::/48").unwrap()
    }

    #[test]
    fn without_trusted_proxies_the_peer_is_the_client_whatever_the_header_says() {
        let none = TrustedProxies::default();
        assert_eq!(
            none.client(ip("203.0.113.9"), ["1.2.3.4"]),
            ip("203.0.113.9")
        );
        // A peer outside the trusted set cannot speak for anyone else either.
        assert_eq!(
            alb().client(ip("203.0.113.9"), ["1.2.3.4"]),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn behind_the_balancer_the_hop_it_appended_is_the_client() {
        assert_eq!(
            alb().client(ip("10.0.3.4"), ["198.51.100.7"]),
            ip("198.51.100.7")
        );
        // A client that writes its own header only adds entries to the left.
        assert_eq!(
            alb().client(ip("10.0.3.4"), ["6.6.6.6, 1.1.1.1", "198.51.100.7"]),
            ip("198.51.100.7")
        );
        // Through two trusted hops (a CDN in the set, then the ALB).
        assert_eq!(
            alb().client(ip("10.0.3.4"), ["198.51.100.7, 10.0.9.9"]),
            ip("198.51.100.7")
        );
        // Every hop trusted: the leftmost is the best we know.
        assert_eq!(alb().client(ip("10.0.3.4"), ["10.0.8.8"]), ip("10.0.8.8"));
        // No header: the balancer itself (a health check).
        assert_eq!(alb().client(ip("10.0.3.4"), []), ip("10.0.3.4"));
        // Garbage where the balancer's entry should be: the balancer stands.
        assert_eq!(alb().client(ip("10.0.3.4"), ["not-an-ip"]), ip("10.0.3.4"));
    }

    #[test]
    fn addresses_in_any_of_their_spellings() {
        assert_eq!(
            alb().client(ip("::ffff:10.0.3.4"), ["[2001:db8::1]"]),
            ip("2001:db8::1")
        );
        assert_eq!(
            alb().client(ip("10.0.3.4"), ["198.51.100.7:4312"]),
            ip("198.51.100.7")
        );
        assert!(alb().trusts(ip("2600:1f18:aaaa:1::5")));
        assert!(!alb().trusts(ip("2600:1f18:aaab::5")));
    }

    #[test]
    fn ipv6_clients_are_counted_per_64() {
        assert_eq!(limit_key(ip("2001:db8:1:2:aaaa::1")), "2001:db8:1:2::/64");
        assert_eq!(
            limit_key(ip("2001:db8:1:2:aaaa::1")),
            limit_key(ip("2001:db8:1:2:ffff:ffff:ffff:ffff"))
        );
        assert_ne!(
            limit_key(ip("2001:db8:1:2::1")),
            limit_key(ip("2001:db8:1:3::1"))
        );
        assert_eq!(limit_key(ip("203.0.113.9")), "203.0.113.9");
        assert_eq!(limit_key(ip("::ffff:203.0.113.9")), "203.0.113.9");
    }

    #[test]
    fn bad_settings_are_named() {
        for bad in ["10.0.0.0/33", "10.0.0/8", "::/129", "proxy.internal"] {
            let error = TrustedProxies::parse(bad).unwrap_err();
            assert!(error.starts_with("TRUSTED_PROXIES: "), "{error}");
        }
        assert!(TrustedProxies::parse("").unwrap().is_empty());
        assert!(Network::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
    }
}

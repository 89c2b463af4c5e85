//! Where Nudge may post a merchant's webhooks (events, care hand-offs, bot fulfilment).
//! A URL a merchant gives us must not turn Nudge into a way into its own network (SSRF):
//! in production only `https`, and only public addresses. The URL is checked when it is
//! saved (a clear 422) and every address its name resolves to is checked again at each
//! delivery, so a name that later points inside (DNS rebinding) is refused too.
//! Development may allow `http` and private addresses, for local receivers.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

/// What targets are allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TargetPolicy {
    /// `http://` targets (development only).
    pub allow_http: bool,
    /// Loopback, private, link-local and other non-public addresses (development only).
    pub allow_private: bool,
}

impl TargetPolicy {
    /// Production: https to public addresses only.
    pub const STRICT: TargetPolicy = TargetPolicy {
        allow_http: false,
        allow_private: false,
    };
    /// Local development: anything reachable.
    pub const DEVELOPMENT: TargetPolicy = TargetPolicy {
        allow_http: true,
        allow_private: true,
    };

    /// The `WEBHOOK_TARGETS` setting every service reads: `public` or `any`; anything
    /// else is refused with a sentence that names the variable.
    pub fn from_setting(raw: &str) -> Result<TargetPolicy, String> {
        match raw.trim() {
            "public" => Ok(TargetPolicy::STRICT),
            "any" => Ok(TargetPolicy::DEVELOPMENT),
            other => Err(format!(
                "WEBHOOK_TARGETS must be 'public' or 'any' (development), not '{other}'"
            )),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetRefusal {
    #[error("not a valid absolute URL")]
    Malformed,
    #[error("must use https")]
    NotHttps,
    #[error("must not carry a user name or password")]
    Credentials,
    #[error("must not point to a private, loopback or link-local address ({0})")]
    Private(String),
}

impl TargetPolicy {
    /// Checks a URL as saved: scheme, credentials, and its host when it is an address
    /// or a name that is local by definition.
    pub fn check_url(self, raw: &str) -> Result<Url, TargetRefusal> {
        let url = Url::parse(raw.trim()).map_err(|_| TargetRefusal::Malformed)?;
        match url.scheme() {
            "https" => {}
            "http" if self.allow_http => {}
            _ => return Err(TargetRefusal::NotHttps),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(TargetRefusal::Credentials);
        }
        match url.host() {
            None => return Err(TargetRefusal::Malformed),
            Some(Host::Ipv4(ip)) => self.check_ip(IpAddr::V4(ip))?,
            Some(Host::Ipv6(ip)) => self.check_ip(IpAddr::V6(ip))?,
            Some(Host::Domain(name)) => {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                let local = name == "localhost"
                    || [".localhost", ".local", ".internal", ".localdomain"]
                        .iter()
                        .any(|suffix| name.ends_with(suffix));
                if local && !self.allow_private {
                    return Err(TargetRefusal::Private(name));
                }
            }
        }
        Ok(url)
    }

    /// Checks one address a target resolved to.
    pub fn check_ip(self, ip: IpAddr) -> Result<(), TargetRefusal> {
        if self.allow_private || is_public(ip) {
            Ok(())
        } else {
            Err(TargetRefusal::Private(ip.to_string()))
        }
    }
}

/// Whether an address is on the public internet (not loopback, private, link-local,
/// shared, documentation, multicast, reserved or unspecified).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let segments = v6.segments();
            // NAT64 (64:ff9b::/96) carries an IPv4 address in its last 32 bits.
            if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                let octets = v6.octets();
                return is_public_v4(Ipv4Addr::new(
                    octets[12], octets[13], octets[14], octets[15],
                ));
            }
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (segments[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (segments[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (segments[0] & 0xffc0) == 0xfec0 // site-local fec0::/10 (deprecated, still routed inside)
                || (segments[0] == 0x2001 && segments[1] == 0x0db8) // documentation
                // Tunnels that carry an IPv4 address: 6to4 2002::/16 and Teredo
                // 2001::/32 could lead to any IPv4 address, private ones included.
                || segments[0] == 0x2002
                || (segments[0] == 0x2001 && segments[1] == 0)
                // IPv4-compatible ::/96 (deprecated): ::a.b.c.d
                || segments[..6] == [0, 0, 0, 0, 0, 0]
                // Local-use NAT64 64:ff9b:1::/48 translates to private networks.
                || segments[..3] == [0x64, 0xff9b, 1]
                || v6 == Ipv6Addr::from([0u8; 16]))
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local() // 169.254/16, cloud metadata included
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240) // reserved
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn production_wants_https_to_public_hosts() {
        let strict = TargetPolicy::STRICT;
        strict
            .check_url("https://hooks.example.com/nudge?x=1")
            .unwrap();
        strict.check_url("https://93.184.216.34/hook").unwrap();
        for (url, expected) in [
            ("http://hooks.example.com/", TargetRefusal::NotHttps),
            ("ftp://hooks.example.com/", TargetRefusal::NotHttps),
            ("not a url", TargetRefusal::Malformed),
            (
                "https://user:pw@hooks.example.com/",
                TargetRefusal::Credentials,
            ),
        ] {
            assert_eq!(strict.check_url(url).unwrap_err(), expected, "{url}");
        }
        for url in [
            "https://127.0.0.1/",
            "https://localhost:8443/",
            "https://LOCALHOST./",
            "https://metadata.google.internal/",
            "https://169.254.169.254/latest/meta-data/",
            "https://10.0.0.8/",
            "https://172.16.5.4/",
            "https://192.168.1.1/",
            "https://100.64.0.1/",
            "https://0.0.0.0/",
            "https://[::1]/",
            "https://[fd00::1]/",
            "https://[fe80::1]/",
            "https://[::ffff:127.0.0.1]/",
            "https://[64:ff9b::a00:1]/",
            "https://2130706433/", // 127.0.0.1 written as a number
            "https://0x7f.1/",
        ] {
            assert!(
                matches!(strict.check_url(url), Err(TargetRefusal::Private(_))),
                "{url} was allowed"
            );
        }
    }

    #[test]
    fn development_allows_local_receivers() {
        let dev = TargetPolicy::DEVELOPMENT;
        dev.check_url("http://127.0.0.1:9000/care").unwrap();
        dev.check_url("http://localhost:9000/care").unwrap();
        assert_eq!(
            dev.check_url("https://u:p@localhost/").unwrap_err(),
            TargetRefusal::Credentials
        );
    }

    #[test]
    fn public_addresses() {
        for ip in [
            "93.184.216.34",
            "2606:2800:220:1:248:1893:25c8:1946",
            "8.8.8.8",
        ] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "::1",
            "fe80::1",
            "192.0.2.1",
            "240.0.0.1",
            "2001:db8::1",
            "2002:7f00:1::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "fec0::1",
            "::7f00:1",
            "::a9fe:a9fe",
            "64:ff9b:1::a00:1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
    }
}

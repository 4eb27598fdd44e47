//! Where the gateway may deliver to an app: an endpoint's URL is `https` (plain `http` only to
//! hosts the operator allows, for local development), without credentials in it; and every
//! address its host resolves to, checked after DNS at each attempt (so a name that resolves
//! elsewhere later, DNS rebinding, is refused then), is a public one: never loopback, private,
//! link-local (where cloud metadata lives, 169.254.169.254), shared (carrier-grade NAT),
//! documentation, benchmarking, multicast, unspecified or reserved, in IPv4 or IPv6 (with IPv4
//! mapped or translated into IPv6 judged as the IPv4 it holds). A host the operator allows may
//! be reached at any address.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::Url;

/// Why a URL or an address is not delivered to.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("must be an https URL (http only to a host in OUTBOUND_WEBHOOK_ALLOWED_HOSTS)")]
    Scheme,
    #[error("must name a host")]
    NoHost,
    #[error("must not hold a user name or password")]
    Credentials,
    #[error("{0} is not a public address (loopback, private, link-local, reserved or the like)")]
    NotPublic(IpAddr),
}

/// The operator's exceptions: hosts (lowercase, as in the URL) that may be reached over plain
/// `http` and at any address, e.g. a receiver on `localhost` during development.
#[derive(Clone, Debug, Default)]
pub struct Targets {
    allowed_hosts: Vec<String>,
}

impl Targets {
    pub fn allowing(hosts: impl IntoIterator<Item = String>) -> Self {
        Self {
            allowed_hosts: hosts
                .into_iter()
                .map(|h| h.trim().to_ascii_lowercase())
                .filter(|h| !h.is_empty())
                .collect(),
        }
    }

    fn allows(&self, host: &str) -> bool {
        self.allowed_hosts.iter().any(|allowed| allowed == host)
    }

    /// Whether an endpoint may be registered with `url`; its addresses are checked at delivery.
    pub fn check_url(&self, url: &Url) -> Result<(), Refused> {
        let host = url.host_str().ok_or(Refused::NoHost)?.to_ascii_lowercase();
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Refused::Credentials);
        }
        match url.scheme() {
            "https" => {}
            "http" if self.allows(&host) => {}
            _ => return Err(Refused::Scheme),
        }
        // An address written in the URL is judged now as well as at delivery.
        match url.host() {
            Some(url::Host::Ipv4(ip)) => self.check_address(&host, IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => self.check_address(&host, IpAddr::V6(ip)),
            _ => Ok(()),
        }
    }

    /// Whether `host` may be reached at `ip`, one of the addresses it resolved to.
    pub fn check_address(&self, host: &str, ip: IpAddr) -> Result<(), Refused> {
        if self.allows(&host.to_ascii_lowercase()) || is_public(ip) {
            Ok(())
        } else {
            Err(Refused::NotPublic(ip))
        }
    }
}

/// Whether `ip` is an address of the public internet.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => is_public_v4(ip),
        IpAddr::V6(ip) => is_public_v6(ip),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let special = ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || a == 0 // "this network"
        || (a == 100 && (64..128).contains(&b)) // shared address space (carrier-grade NAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || a >= 240; // reserved
    !special
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let segments = ip.segments();
    // NAT64 (64:ff9b::/96) carries an IPv4 address in its last 32 bits.
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let [.., high, low] = segments;
        return is_public_v4(Ipv4Addr::from((u32::from(high) << 16) | u32::from(low)));
    }
    let special = ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (segments[0] & 0xfe00) == 0xfc00 // unique local
        || (segments[0] & 0xffc0) == 0xfe80 // link-local
        || (segments[0] == 0x2001 && segments[1] == 0x0db8) // documentation
        || segments[..4] == [0x100, 0, 0, 0] // discard-only
        || segments[..6] == [0, 0, 0, 0, 0, 0]; // IPv4-compatible (deprecated)
    !special
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    #[test]
    fn only_public_addresses_are_reached() {
        for refused in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "198.18.0.1",
            "240.0.0.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2001:db8::1",
            "192.0.2.1",
        ] {
            assert!(!is_public(refused.parse().unwrap()), "{refused}");
        }
        for public in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn urls_are_https_without_credentials_unless_the_operator_allows_the_host() {
        let targets = Targets::allowing(["localhost".to_string()]);
        assert_eq!(targets.check_url(&url("https://app.example/hooks")), Ok(()));
        assert_eq!(
            targets.check_url(&url("http://app.example/hooks")),
            Err(Refused::Scheme)
        );
        assert_eq!(
            targets.check_url(&url("ftp://app.example/")),
            Err(Refused::Scheme)
        );
        assert_eq!(
            targets.check_url(&url("https://user:pw@app.example/")),
            Err(Refused::Credentials)
        );
        assert_eq!(
            targets.check_url(&url("https://169.254.169.254/latest/meta-data")),
            Err(Refused::NotPublic("169.254.169.254".parse().unwrap()))
        );
        assert!(targets.check_url(&url("https://[::1]:8443/")).is_err());
        // The operator's host: plain http, at loopback.
        assert_eq!(
            targets.check_url(&url("http://localhost:9000/hooks")),
            Ok(())
        );
        assert_eq!(
            targets.check_address("localhost", "127.0.0.1".parse().unwrap()),
            Ok(())
        );
        // Any other name resolving to loopback is refused at delivery.
        assert_eq!(
            targets.check_address("rebound.example", "127.0.0.1".parse().unwrap()),
            Err(Refused::NotPublic("127.0.0.1".parse().unwrap()))
        );
    }
}

//! Who a client is, for the shield: its IPv4 address, or its IPv6 network
//! of `shield.ipv6_prefix` bits (one site gets a whole /64 and could use a
//! fresh address per connection).

use std::fmt;
use std::net::IpAddr;

use ipnet::Ipv6Net;

/// A client as the pass cache and the rate counters know it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum ClientKey {
    V4(std::net::Ipv4Addr),
    V6(Ipv6Net),
}

impl ClientKey {
    /// The key of `ip` (IPv4-mapped IPv6 counts as IPv4).
    pub(crate) fn new(ip: IpAddr, ipv6_prefix: u8) -> Self {
        match ip.to_canonical() {
            IpAddr::V4(v4) => Self::V4(v4),
            IpAddr::V6(v6) => {
                let prefix = ipv6_prefix.min(128);
                Self::V6(Ipv6Net::new(v6, prefix).map_or_else(|_| Ipv6Net::from(v6), |n| n.trunc()))
            }
        }
    }
}

impl fmt::Display for ClientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::V4(ip) => write!(f, "{ip}"),
            Self::V6(net) => write!(f, "{net}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_by_prefix_ipv4_by_address() {
        let key = |ip: &str, p| ClientKey::new(ip.parse().unwrap(), p).to_string();
        assert_eq!(key("2001:db8:1:2:aaaa::1", 64), "2001:db8:1:2::/64");
        assert_eq!(key("2001:db8:1:2:bbbb::9", 64), "2001:db8:1:2::/64");
        assert_eq!(key("2001:db8:1:2:bbbb::9", 128), "2001:db8:1:2:bbbb::9/128");
        assert_eq!(key("192.0.2.7", 64), "192.0.2.7");
        assert_eq!(key("::ffff:192.0.2.7", 64), "192.0.2.7");
    }
}

//! Pure helpers of the DNS layer: query names (reverse, DNSBL, fully
//! qualified) and merging the A and AAAA halves of an address lookup.

use std::fmt::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{Answer, Lookup};

/// `name` with exactly one trailing dot, so no search domain is ever appended.
pub(super) fn fqdn(name: &str) -> String {
    let mut s = name.trim_end_matches('.').to_owned();
    s.push('.');
    s
}

/// A name from an answer, lowercased and without the trailing dot.
pub(super) fn plain(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// The labels of `ip` in reverse order (`4.3.2.1`, or 32 nibbles for IPv6),
/// without a trailing dot. An IPv4-mapped IPv6 address counts as IPv4.
fn reversed(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            let [a, b, c, d] = v4.octets();
            format!("{d}.{c}.{b}.{a}")
        }
        IpAddr::V6(v6) => {
            let mut s = String::with_capacity(63);
            for byte in v6.octets().iter().rev() {
                // Low nibble first: the name runs from the last hex digit.
                let _ = write!(s, "{:x}.{:x}.", byte & 0xf, byte >> 4);
            }
            s.pop();
            s
        }
    }
}

/// The PTR query name of `ip`: `4.3.2.1.in-addr.arpa.` or `…ip6.arpa.`.
pub fn reverse_name(ip: IpAddr) -> String {
    let suffix = match ip.to_canonical() {
        IpAddr::V4(_) => "in-addr.arpa.",
        IpAddr::V6(_) => "ip6.arpa.",
    };
    format!("{}.{suffix}", reversed(ip))
}

/// The DNSBL query name of `ip` in `zone`: `4.3.2.1.bl.example.` (RFC 5782).
pub fn dnsbl_name(ip: IpAddr, zone: &str) -> String {
    format!("{}.{}", reversed(ip), fqdn(zone))
}

/// Merges the A and AAAA lookups of one name. Any address wins; else
/// NXDOMAIN from either half (it is about the name, not the type); else a
/// failure of either half; else NoData.
pub(super) fn merge_ips(v4: Lookup<Ipv4Addr>, v6: Lookup<Ipv6Addr>) -> Lookup<IpAddr> {
    let mut addrs: Vec<IpAddr> = Vec::new();
    if let Ok(a) = &v4 {
        addrs.extend(a.records().iter().copied().map(IpAddr::V4));
    }
    if let Ok(a) = &v6 {
        addrs.extend(a.records().iter().copied().map(IpAddr::V6));
    }
    if !addrs.is_empty() {
        return Ok(Answer::Records(addrs));
    }
    match (v4, v6) {
        (Ok(Answer::NxDomain), _) | (_, Ok(Answer::NxDomain)) => Ok(Answer::NxDomain),
        (Err(e), _) | (_, Err(e)) => Err(e),
        _ => Ok(Answer::NoData),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::dns::LookupError;

    #[test]
    fn query_names() {
        let v4: IpAddr = "192.0.2.10".parse().unwrap();
        assert_eq!(reverse_name(v4), "10.2.0.192.in-addr.arpa.");
        assert_eq!(dnsbl_name(v4, "bl.test"), "10.2.0.192.bl.test.");
        assert_eq!(dnsbl_name(v4, "bl.test."), "10.2.0.192.bl.test.");
        let mapped: IpAddr = "::ffff:192.0.2.10".parse().unwrap();
        assert_eq!(reverse_name(mapped), "10.2.0.192.in-addr.arpa.");
        // RFC 3596 2.5's example.
        let v6: IpAddr = "4321:0:1:2:3:4:567:89ab".parse().unwrap();
        assert_eq!(reverse_name(v6), "b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.0.0.0.0.1.2.3.4.ip6.arpa.");
        assert_eq!(fqdn("benderclmsuedu"), "benderclmsuedu.");
        assert_eq!(fqdn("a.test.."), "a.test.");
        assert_eq!(plain("Mail.Example.TEST."), "mail.example.test");
    }

    #[test]
    fn merging_address_halves() {
        let v4 = |a: &str| Ok(Answer::Records(vec![a.parse::<Ipv4Addr>().unwrap()]));
        fn timeout<T>() -> Lookup<T> {
            Err(LookupError::Timeout { after: Duration::from_secs(1) })
        }
        let both = merge_ips(v4("192.0.2.1"), Ok(Answer::NoData));
        assert_eq!(both, Ok(Answer::Records(vec!["192.0.2.1".parse().unwrap()])));
        assert_eq!(merge_ips(v4("192.0.2.1"), timeout()).unwrap().records().len(), 1);
        assert_eq!(merge_ips(Ok(Answer::NxDomain), timeout()), Ok(Answer::NxDomain));
        assert_eq!(merge_ips(Ok(Answer::NoData), timeout()), timeout());
        assert_eq!(merge_ips(Ok(Answer::NoData), Ok(Answer::NoData)), Ok(Answer::NoData));
    }
}

//! Address classes the rules need. Callers pass canonical addresses
//! (`IpAddr::to_canonical`: an IPv4-mapped IPv6 address is IPv4).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// 127.0.0.0/8 or ::1.
pub(super) fn is_loopback(ip: IpAddr) -> bool {
    ip.is_loopback()
}

/// A client address that is not on the public Internet: loopback, RFC 1918,
/// shared (CGNAT, RFC 6598), link-local, unique local (RFC 4193),
/// unspecified. Such a client may well HELO with a private address.
pub(super) fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || in_v4(v4, [100, 64, 0, 0], 10)
        }
        IpAddr::V6(v6) => v6.is_loopback() || v6.is_unspecified() || in_v6(v6, 0xfc00, 7) || in_v6(v6, 0xfe80, 10),
    }
}

/// An address no public client can have: the internal ones, plus "this
/// network" 0/8, IETF protocol assignments 192.0.0.0/24, documentation
/// (192.0.2/24, 198.51.100/24, 203.0.113/24, 2001:db8::/32), benchmarking
/// 198.18/15, multicast, 240/4 and broadcast.
pub(super) fn is_reserved(ip: IpAddr) -> bool {
    if is_internal(ip) || ip.is_multicast() {
        return true;
    }
    match ip {
        IpAddr::V4(v4) => {
            v4.octets()[0] == 0
                || v4.octets()[0] >= 240
                || in_v4(v4, [192, 0, 0, 0], 24)
                || in_v4(v4, [192, 0, 2, 0], 24)
                || in_v4(v4, [198, 51, 100, 0], 24)
                || in_v4(v4, [203, 0, 113, 0], 24)
                || in_v4(v4, [198, 18, 0, 0], 15)
        }
        IpAddr::V6(v6) => v6.segments()[..2] == [0x2001, 0x0db8],
    }
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], prefix: u32) -> bool {
    let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
    u32::from(ip) & mask == u32::from(Ipv4Addr::from(net)) & mask
}

fn in_v6(ip: Ipv6Addr, first_segment: u16, prefix: u32) -> bool {
    let mask = u16::MAX.checked_shl(16 - prefix).unwrap_or(0);
    ip.segments()[0] & mask == first_segment & mask
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        // (address, internal, reserved)
        let table = [
            ("127.0.0.1", true, true),
            ("10.1.2.3", true, true),
            ("172.16.0.1", true, true),
            ("172.32.0.1", false, false),
            ("192.168.1.10", true, true),
            ("100.64.0.1", true, true),
            ("100.128.0.1", false, false),
            ("169.254.1.1", true, true),
            ("0.0.0.0", true, true),
            ("0.1.2.3", false, true),
            ("192.0.0.8", false, true),
            ("192.0.2.1", false, true),
            ("198.51.100.1", false, true),
            ("203.0.113.5", false, true),
            ("198.19.0.1", false, true),
            ("224.0.0.1", false, true),
            ("255.255.255.255", false, true),
            ("8.8.8.8", false, false),
            ("::1", true, true),
            ("::", true, true),
            ("fd00::1", true, true),
            ("fe80::1", true, true),
            ("ff02::1", false, true),
            ("2001:db8::1", false, true),
            ("2a00:1450::1", false, false),
        ];
        for (ip, internal, reserved) in table {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(is_internal(ip), internal, "{ip} internal");
            assert_eq!(is_reserved(ip), reserved, "{ip} reserved");
        }
    }
}

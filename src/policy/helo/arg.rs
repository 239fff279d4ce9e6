//! The HELO/EHLO argument, parsed: a domain (RFC 5321 4.1.2), an address
//! literal (4.1.3), a bare address, or something invalid.
//!
//! Deliberately lenient where real clients deviate harmlessly: one trailing
//! dot (`host.example.`), underscores (Windows machine names such as
//! `DESKTOP_7`; Postfix accepts them too), an IPv6 literal without its
//! `IPv6:` tag. Anything that could smuggle text into a Received header
//! (spaces, `()<>;"\@` and the like) is invalid.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::wire::domain::{self as wire, Charset, DOMAIN_MAX};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum HeloArg {
    /// A domain, lowercased, without a trailing dot.
    Name(String),
    /// `[192.0.2.1]` or `[IPv6:2001:db8::1]`, canonical (an IPv4-mapped IPv6
    /// literal is IPv4).
    Literal(IpAddr),
    /// `192.0.2.1` without brackets.
    BareIp(IpAddr),
    /// Not a domain or an address; the reason is for the log.
    Invalid(&'static str),
}

pub(super) fn parse(arg: &str) -> HeloArg {
    if arg.is_empty() {
        return HeloArg::Invalid("empty argument");
    }
    if arg.len() > DOMAIN_MAX {
        return HeloArg::Invalid("longer than 255 octets");
    }
    if let Some(inner) = arg.strip_prefix('[') {
        return match inner.strip_suffix(']').and_then(literal) {
            Some(ip) => HeloArg::Literal(ip.to_canonical()),
            None => HeloArg::Invalid("malformed address literal"),
        };
    }
    if let Ok(ip) = arg.parse::<IpAddr>() {
        return HeloArg::BareIp(ip.to_canonical());
    }
    let name = arg.strip_suffix('.').unwrap_or(arg);
    match domain_error(name) {
        Some(reason) => HeloArg::Invalid(reason),
        None => HeloArg::Name(name.to_ascii_lowercase()),
    }
}

/// The address inside the brackets: dotted quad, or IPv6 with (or, leniently,
/// without) the `IPv6:` tag.
fn literal(inner: &str) -> Option<IpAddr> {
    let tag = inner.get(..5).filter(|t| t.eq_ignore_ascii_case("IPv6:"));
    match tag {
        Some(_) => inner[5..].parse::<Ipv6Addr>().ok().map(IpAddr::V6),
        None => inner.parse::<Ipv4Addr>().map(IpAddr::V4).or_else(|_| inner.parse::<Ipv6Addr>().map(IpAddr::V6)).ok(),
    }
}

/// Why `name` is not a HELO domain: the shared domain syntax, with the
/// underscores real clients use, and not all-numeric (`1.2.3.400`, `12345`:
/// neither a name nor an address).
fn domain_error(name: &str) -> Option<&'static str> {
    let all_numeric = !name.is_empty() && name.split('.').all(|l| l.bytes().all(|b| b.is_ascii_digit()));
    wire::domain_error(name, Charset::Underscore).or(all_numeric.then_some("numeric name that is not an address"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> HeloArg {
        HeloArg::Name(s.into())
    }
    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn valid_arguments() {
        let table = [
            ("mail.example.test", name("mail.example.test")),
            ("Mail.Example.TEST.", name("mail.example.test")),
            ("benderclmsuedu", name("benderclmsuedu")),
            ("DESKTOP_7.corp.example", name("desktop_7.corp.example")),
            ("xn--bcher-kva.example", name("xn--bcher-kva.example")),
            ("localhost", name("localhost")),
            ("3com.example", name("3com.example")),
            ("[192.0.2.1]", HeloArg::Literal(ip("192.0.2.1"))),
            ("[IPv6:2001:db8::1]", HeloArg::Literal(ip("2001:db8::1"))),
            ("[ipv6:::1]", HeloArg::Literal(ip("::1"))),
            ("[2001:db8::1]", HeloArg::Literal(ip("2001:db8::1"))),
            ("[IPv6:::ffff:192.0.2.1]", HeloArg::Literal(ip("192.0.2.1"))),
            ("192.0.2.1", HeloArg::BareIp(ip("192.0.2.1"))),
            ("::1", HeloArg::BareIp(ip("::1"))),
        ];
        for (input, want) in table {
            assert_eq!(parse(input), want, "{input:?}");
        }
    }

    /// Security checklist C.23/24: header metacharacters and odd values.
    #[test]
    fn invalid_arguments() {
        let long_label = format!("{}.example", "a".repeat(64));
        let too_long = format!("{}.example", ["a"; 130].join("."));
        let table = [
            "",
            "a (b) <c>; by x",
            "x\"y\\z@w",
            "host example",
            "host;by.trusted.example",
            "(comment)",
            "<mail.example>",
            "-bad.example",
            "bad-.example",
            "a..b",
            ".example",
            "..",
            ".",
            "1.2.3.400",
            "12345",
            "[192.0.2.1",
            "[192.0.2.256]",
            "[IPv6:192.0.2.1]",
            "[mail.example]",
            "[]",
            "host\u{e9}.example",
            long_label.as_str(),
            too_long.as_str(),
        ];
        for input in table {
            assert!(matches!(parse(input), HeloArg::Invalid(_)), "{input:?} -> {:?}", parse(input));
        }
    }
}

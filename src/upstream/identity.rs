//! Telling the upstream who the real client is. Every connection reaches the
//! upstream from doorman's own address; an upstream that trusts that address
//! (Postfix `mynetworks` with 127.0.0.1) would relay for anyone. So doorman
//! passes the client on: XCLIENT (the upstream applies its policy to the real
//! client), XFORWARD (logging only), a PROXY v1/v2 header, or, for upstreams
//! with none of these (Exchange), a Received header. Pure: builds bytes only.

use std::net::{IpAddr, SocketAddr};

use crate::tls::TlsSummary;

/// What doorman knows about the client when it must describe it.
#[derive(Debug, Clone)]
pub(crate) struct ClientFacts<'a> {
    /// The client's address and port.
    pub addr: SocketAddr,
    /// The client's verified PTR name, if any.
    pub name: Option<&'a str>,
    /// The HELO/EHLO argument, if given.
    pub helo: Option<&'a str>,
    /// EHLO (ESMTP) rather than HELO.
    pub esmtp: bool,
    /// What the client's TLS session negotiated; `None` in plaintext.
    pub tls: Option<TlsSummary>,
    /// The client authenticated.
    pub authenticated: bool,
}

impl ClientFacts<'_> {
    /// The RFC 3848 protocol name: SMTP, ESMTP, ESMTPS, ESMTPA, ESMTPSA.
    pub(crate) fn protocol(&self) -> &'static str {
        match (self.esmtp, self.tls.is_some(), self.authenticated) {
            (false, _, _) => "SMTP",
            (true, false, false) => "ESMTP",
            (true, true, false) => "ESMTPS",
            (true, false, true) => "ESMTPA",
            (true, true, true) => "ESMTPSA",
        }
    }
}

/// A PROXY protocol header (v1 text or v2 binary) for a TCP connection.
///
/// # Errors
/// Only if the v2 builder fails, which needs a programming error.
pub(crate) fn proxy_header(v2: bool, client: SocketAddr, local: SocketAddr) -> std::io::Result<Vec<u8>> {
    // Map IPv4-mapped IPv6 down so both ends have the same family.
    let (client, local) = (canonical(client), canonical(local));
    if !v2 {
        let family = if client.is_ipv4() && local.is_ipv4() { "TCP4" } else { "TCP6" };
        let (c, l) = if family == "TCP4" { (client, local) } else { (v6(client), v6(local)) };
        return Ok(format!("PROXY {family} {} {} {} {}\r\n", c.ip(), l.ip(), c.port(), l.port()).into_bytes());
    }
    use ppp::v2::{Builder, Command, Protocol, Version};
    let (client, local) = if client.is_ipv4() && local.is_ipv4() { (client, local) } else { (v6(client), v6(local)) };
    let addresses = ppp::v2::Addresses::from((client, local));
    Builder::with_addresses(Version::Two | Command::Proxy, Protocol::Stream, addresses).build()
}

/// A PROXY header for a connection of doorman's own (the readiness probe):
/// v1 `UNKNOWN`, v2 `LOCAL`. The upstream takes the connection's own
/// addresses, as for a load balancer's health check.
///
/// # Errors
/// Only if the v2 builder fails, which needs a programming error.
pub(crate) fn proxy_header_local(v2: bool) -> std::io::Result<Vec<u8>> {
    if !v2 {
        return Ok(b"PROXY UNKNOWN\r\n".to_vec());
    }
    use ppp::v2::{Addresses, Builder, Command, Protocol, Version};
    Builder::with_addresses(Version::Two | Command::Local, Protocol::Unspecified, Addresses::Unspecified).build()
}

fn canonical(a: SocketAddr) -> SocketAddr {
    match a {
        SocketAddr::V6(v6) => v6.ip().to_ipv4_mapped().map_or(a, |ip| SocketAddr::new(IpAddr::V4(ip), v6.port())),
        SocketAddr::V4(_) => a,
    }
}

fn v6(a: SocketAddr) -> SocketAddr {
    match a {
        SocketAddr::V4(v4) => SocketAddr::new(IpAddr::V6(v4.ip().to_ipv6_mapped()), v4.port()),
        SocketAddr::V6(_) => a,
    }
}

/// Why the client's identity cannot be sent whole. The session must then
/// refuse the client (`421 4.3.0`) rather than let the upstream judge it by
/// doorman's own address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum IdentityError {
    /// The upstream does not take the client's address in this command.
    #[error("the upstream's {verb} does not take ADDR")]
    NoAddr { verb: &'static str },
    /// The identity attributes alone do not fit in one command line.
    #[error("{verb} identity attributes longer than a command line")]
    TooLong { verb: &'static str },
}

/// The longest command line with its CRLF (RFC 5321 4.5.3.1.4).
const LINE_MAX: usize = 512;

/// The longest NAME value sent (a DNS name has at most 255 octets).
const NAME_MAX: usize = 255;

/// The value XCLIENT and XFORWARD take for "not known".
const UNAVAILABLE: &str = "[UNAVAILABLE]";

/// The XCLIENT command for the attributes the upstream advertised
/// (`supported`, the words after XCLIENT in its EHLO reply).
///
/// The identity attributes (ADDR, NAME, PORT, PROTO) are never dropped: a
/// NAME too long to be a DNS name, or a HELO that would not fit in the line,
/// is sent as `[UNAVAILABLE]` (the session relays the client's HELO itself
/// right after).
///
/// # Errors
/// [`IdentityError`] when the upstream does not take ADDR or the identity
/// cannot fit in one line.
pub(crate) fn xclient_command(f: &ClientFacts<'_>, supported: &str) -> Result<String, IdentityError> {
    attribute_command("XCLIENT", &identity_attributes(f), f.helo, supported)
}

/// The XFORWARD command for the attributes the upstream advertised, with
/// the same guarantees as [`xclient_command`].
///
/// # Errors
/// As [`xclient_command`].
pub(crate) fn xforward_command(f: &ClientFacts<'_>, supported: &str) -> Result<String, IdentityError> {
    let mut attrs = identity_attributes(f);
    attrs.push(("SOURCE", "REMOTE".into()));
    attribute_command("XFORWARD", &attrs, f.helo, supported)
}

/// ADDR, NAME, PORT and PROTO, xtext-encoded.
fn identity_attributes(f: &ClientFacts<'_>) -> Vec<(&'static str, String)> {
    let addr = match f.addr.ip() {
        IpAddr::V4(ip) => ip.to_string(),
        IpAddr::V6(ip) => ip.to_ipv4_mapped().map_or_else(|| format!("IPV6:{ip}"), |v4| v4.to_string()),
    };
    let name = f.name.map(xtext).filter(|n| n.len() <= NAME_MAX).unwrap_or_else(|| UNAVAILABLE.to_owned());
    vec![
        ("PROTO", if f.esmtp { "ESMTP" } else { "SMTP" }.to_owned()),
        ("PORT", f.addr.port().to_string()),
        ("NAME", name),
        ("ADDR", addr),
    ]
}

/// `VERB HELO=... <identity> ...`: only attributes the upstream advertised;
/// HELO takes what room the identity leaves, else `[UNAVAILABLE]`.
fn attribute_command(
    verb: &'static str,
    identity: &[(&'static str, String)],
    helo: Option<&str>,
    supported: &str,
) -> Result<String, IdentityError> {
    let supported: Vec<String> = supported.split_whitespace().map(str::to_ascii_uppercase).collect();
    let takes = |key: &str| supported.iter().any(|s| s == key);
    if !takes("ADDR") {
        return Err(IdentityError::NoAddr { verb });
    }
    let mut tail = String::new();
    for (key, value) in identity.iter().filter(|(k, _)| takes(k)) {
        tail.push_str(&format!(" {key}={value}"));
    }
    // Room for " HELO=<value>" within the line, CRLF included.
    let room = LINE_MAX.saturating_sub(verb.len() + tail.len() + " HELO=".len() + 2);
    let helo = match helo {
        Some(h) if takes("HELO") => {
            Some(Some(xtext(h)).filter(|v| v.len() <= room).unwrap_or_else(|| UNAVAILABLE.into()))
        }
        _ => None,
    };
    let line = match helo {
        Some(h) => format!("{verb} HELO={h}{tail}"),
        None => format!("{verb}{tail}"),
    };
    if line.len() + 2 > LINE_MAX {
        return Err(IdentityError::TooLong { verb });
    }
    Ok(line)
}

/// RFC 3461 xtext: printable ASCII except `+` and `=` as is, the rest `+XX`.
pub(crate) fn xtext(s: &str) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if (33..=126).contains(&b) && b != b'+' && b != b'=' {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "+{b:02X}");
        }
    }
    out
}

/// A `Received:` header naming the real client, for upstreams that take no
/// identity command, and for a TLS client whatever the upstream takes (no
/// identity command carries TLS). A TLS session is recorded as Postfix does:
/// `(using TLSv1.3 with cipher ... (256/256 bits) key-exchange ...)` and
/// `with ESMTPS` (RFC 3848). Client-supplied text is neutered as Postfix
/// does: only printable ASCII, and none of `"<>()\;@` (no forged `by`/`for`
/// clauses).
pub(crate) fn received_header(f: &ClientFacts<'_>, hostname: &str, id: &str, date: &str) -> String {
    use std::fmt::Write;
    fn push_clean(out: &mut String, s: Option<&str>) {
        let Some(s) = s else {
            out.push_str("unknown");
            return;
        };
        let safe = |c: char| c.is_ascii_graphic() && !"\"<>()\\;@".contains(c);
        out.extend(s.chars().take(100).map(|c| if safe(c) { c } else { '?' }));
    }
    let mut out = String::with_capacity(256);
    out.push_str("Received: from ");
    push_clean(&mut out, f.helo);
    out.push_str(" (");
    push_clean(&mut out, f.name);
    let _ = write!(out, " [{}])\r\n\t", f.addr.ip());
    if let Some(tls) = f.tls {
        let using = tls.to_string().replacen(" key-exchange ", "\r\n\t key-exchange ", 1);
        let _ = write!(out, "({using})\r\n\t");
    }
    out.push_str("by ");
    for part in [hostname, " (doorman) with ", f.protocol(), " id ", id, ";\r\n\t", date, "\r\n"] {
        out.push_str(part);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(addr: &str) -> ClientFacts<'static> {
        ClientFacts {
            addr: addr.parse().unwrap(),
            name: None,
            helo: Some("mail.client.example"),
            esmtp: true,
            tls: None,
            authenticated: false,
        }
    }

    #[test]
    fn proxy_headers() {
        let c: SocketAddr = "198.51.100.23:40001".parse().unwrap();
        let l: SocketAddr = "127.0.0.1:25".parse().unwrap();
        assert_eq!(proxy_header(false, c, l).unwrap(), b"PROXY TCP4 198.51.100.23 127.0.0.1 40001 25\r\n");
        let v2 = proxy_header(true, c, l).unwrap();
        assert_eq!(&v2[..12], b"\r\n\r\n\0\r\nQUIT\n");
        assert_eq!(v2[12], 0x21); // version 2, PROXY
        assert_eq!(v2[13], 0x11); // TCP over IPv4
        let parsed = ppp::HeaderResult::parse(&v2);
        assert!(matches!(parsed, ppp::HeaderResult::V2(Ok(_))), "{parsed:?}");
        let c6: SocketAddr = "[2001:db8::5]:1234".parse().unwrap();
        let v1 = String::from_utf8(proxy_header(false, c6, l).unwrap()).unwrap();
        assert_eq!(v1, "PROXY TCP6 2001:db8::5 ::ffff:127.0.0.1 1234 25\r\n");
    }

    #[test]
    fn xclient_only_sends_advertised_attributes() {
        let f = facts("198.51.100.23:40001");
        assert_eq!(
            xclient_command(&f, "NAME ADDR PROTO HELO REVERSE_NAME PORT LOGIN DESTADDR DESTPORT").unwrap(),
            "XCLIENT HELO=mail.client.example PROTO=ESMTP PORT=40001 NAME=[UNAVAILABLE] ADDR=198.51.100.23"
        );
        assert_eq!(
            xclient_command(&f, "NAME HELO ADDR").unwrap(),
            "XCLIENT HELO=mail.client.example NAME=[UNAVAILABLE] ADDR=198.51.100.23"
        );
        let mut hostile = facts("[2001:db8::1]:25");
        hostile.helo = Some("a b=c+d");
        let cmd = xclient_command(&hostile, "HELO ADDR").unwrap();
        assert_eq!(cmd, "XCLIENT HELO=a+20b+3Dc+2Bd ADDR=IPV6:2001:db8::1");
        assert!(xforward_command(&f, "NAME ADDR PROTO HELO SOURCE PORT IDENT").unwrap().ends_with("SOURCE=REMOTE"));
    }

    /// The attack of the hostile review: a HELO of 165 `=` is 495 octets of
    /// xtext. It used to push ADDR out of the line; now HELO gives way.
    #[test]
    fn a_long_helo_never_pushes_the_identity_out() {
        let helo = "=".repeat(165);
        let name = "n".repeat(300);
        for (name, want_name) in [
            (None, "[UNAVAILABLE]"),
            (Some("mail.client.example"), "mail.client.example"),
            (Some(name.as_str()), "[UNAVAILABLE]"),
        ] {
            let f = ClientFacts { helo: Some(&helo), name, ..facts("[2001:db8:ffff:ffff:ffff:ffff:ffff:ffff]:65535") };
            for (verb, cmd) in [
                ("XCLIENT", xclient_command(&f, "NAME ADDR PROTO HELO PORT").unwrap()),
                ("XFORWARD", xforward_command(&f, "NAME ADDR PROTO HELO PORT SOURCE").unwrap()),
            ] {
                assert!(cmd.len() + 2 <= 512, "{verb}: {} octets", cmd.len());
                assert!(
                    cmd.starts_with(&format!("{verb} HELO=[UNAVAILABLE] PROTO=ESMTP PORT=65535 NAME={want_name} ")),
                    "{cmd}"
                );
                assert!(cmd.contains(" ADDR=IPV6:2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"), "{cmd}");
            }
        }
        // A HELO that fits is sent as it is.
        let f = ClientFacts { helo: Some("ok.example"), ..facts("198.51.100.23:40001") };
        assert!(xclient_command(&f, "ADDR HELO").unwrap().contains("HELO=ok.example"));
    }

    #[test]
    fn no_addr_is_an_error_not_a_silent_drop() {
        let f = facts("198.51.100.23:40001");
        assert_eq!(xclient_command(&f, "NAME HELO"), Err(IdentityError::NoAddr { verb: "XCLIENT" }));
        assert_eq!(xforward_command(&f, "NAME HELO"), Err(IdentityError::NoAddr { verb: "XFORWARD" }));
    }

    use proptest::strategy::Strategy as _;

    proptest::proptest! {
        /// Whatever the client's address, PTR name and HELO, XCLIENT and
        /// XFORWARD keep ADDR (and PORT, PROTO, NAME) and fit a line.
        #[test]
        fn xclient_never_drops_addr(
            ip in proptest::prop_oneof![
                proptest::num::u32::ANY.prop_map(|a| IpAddr::from(a.to_be_bytes())),
                proptest::num::u128::ANY.prop_map(|a| IpAddr::from(a.to_be_bytes())),
            ],
            port in proptest::num::u16::ANY,
            helo in proptest::collection::vec(proptest::num::u8::ANY, 0..700),
            name in proptest::option::of(proptest::collection::vec(proptest::num::u8::ANY, 0..600)),
        ) {
            let helo = String::from_utf8_lossy(&helo).into_owned();
            let name = name.map(|n| String::from_utf8_lossy(&n).into_owned());
            let addr = SocketAddr::new(ip, port);
            let f = ClientFacts { helo: Some(&helo), name: name.as_deref(), addr, ..facts("[2001:db8::1]:25") };
            let want = match ip {
                IpAddr::V4(v4) => format!(" ADDR={v4}"),
                IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(format!(" ADDR=IPV6:{v6}"), |v4| format!(" ADDR={v4}")),
            };
            for cmd in [
                xclient_command(&f, "NAME ADDR PROTO HELO PORT LOGIN").unwrap(),
                xforward_command(&f, "NAME ADDR PROTO HELO SOURCE PORT IDENT").unwrap(),
            ] {
                proptest::prop_assert!(cmd.len() + 2 <= 512);
                proptest::prop_assert!(cmd.contains(&format!("{want} ")) || cmd.ends_with(&want), "{}", cmd);
                proptest::prop_assert!(cmd.contains(&format!(" PORT={port} ")), "{}", cmd);
                proptest::prop_assert!(cmd.contains(" PROTO=ESMTP") && cmd.contains(" NAME="));
                proptest::prop_assert!(cmd.bytes().all(|b| (32..=126).contains(&b)), "{}", cmd);
            }
        }
    }

    #[test]
    fn received_header_is_neutered() {
        let mut f = facts("198.51.100.23:40001");
        f.helo = Some("a (b) <c>; by trusted.example");
        let h = received_header(&f, "mx.example.test", "0000001a", "Sun, 29 Nov 2026 15:07:31 +0000");
        assert_eq!(
            h,
            "Received: from a??b???c???by?trusted.example (unknown [198.51.100.23])\r\n\
             \tby mx.example.test (doorman) with ESMTP id 0000001a;\r\n\tSun, 29 Nov 2026 15:07:31 +0000\r\n"
        );
        assert!(h.ends_with("\r\n") && h.lines().count() == 3);
    }

    /// A TLS client: ESMTPS (ESMTPSA when authenticated) and the session's
    /// version, cipher and key exchange, as Postfix writes them.
    #[test]
    fn received_header_records_tls() {
        let mut f = facts("198.51.100.23:40001");
        f.name = Some("mail.client.example");
        f.tls = Some(TlsSummary {
            version: "TLSv1.3",
            cipher: "TLS_AES_256_GCM_SHA384",
            bits: 256,
            group: Some("X25519MLKEM768"),
        });
        let h = received_header(&f, "mx.example.test", "0000001a", "Sun, 29 Nov 2026 15:07:31 +0000");
        assert_eq!(
            h,
            "Received: from mail.client.example (mail.client.example [198.51.100.23])\r\n\
             \t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)\r\n\
             \t key-exchange X25519MLKEM768)\r\n\
             \tby mx.example.test (doorman) with ESMTPS id 0000001a;\r\n\tSun, 29 Nov 2026 15:07:31 +0000\r\n"
        );
        f.authenticated = true;
        f.tls = f.tls.map(|t| TlsSummary { group: None, ..t });
        let h = received_header(&f, "mx.example.test", "1", "date");
        assert!(h.contains("\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits))\r\n\tby "), "{h}");
        assert!(h.contains(" with ESMTPSA id 1;"), "{h}");
        assert!(h.lines().all(|l| l.len() < 78), "{h}");
    }
}

//! Telling the upstream who the real client is. Every connection reaches the
//! upstream from doorman's own address; an upstream that trusts that address
//! (Postfix `mynetworks` with 127.0.0.1) would relay for anyone. So doorman
//! passes the client on: XCLIENT (the upstream applies its policy to the real
//! client), XFORWARD (logging only), a PROXY v1/v2 header, or, for upstreams
//! with none of these (Exchange), a Received header. Pure: builds bytes only.

use std::net::{IpAddr, SocketAddr};

/// What doorman knows about the client when it must describe it.
#[derive(Debug, Clone)]
pub struct ClientFacts<'a> {
    /// The client's address and port.
    pub addr: SocketAddr,
    /// The client's verified PTR name, if any.
    pub name: Option<&'a str>,
    /// The HELO/EHLO argument, if given.
    pub helo: Option<&'a str>,
    /// EHLO (ESMTP) rather than HELO.
    pub esmtp: bool,
    /// TLS is active on the client side.
    pub tls: bool,
    /// The client authenticated.
    pub authenticated: bool,
}

impl ClientFacts<'_> {
    /// The RFC 3848 protocol name: SMTP, ESMTP, ESMTPS, ESMTPA, ESMTPSA.
    pub fn protocol(&self) -> &'static str {
        match (self.esmtp, self.tls, self.authenticated) {
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
pub fn proxy_header(v2: bool, client: SocketAddr, local: SocketAddr) -> std::io::Result<Vec<u8>> {
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

/// The XCLIENT command for the attributes the upstream advertised
/// (`supported`, the words after XCLIENT in its EHLO reply). ADDR and NAME go
/// last: after ADDR the upstream may stop treating doorman as privileged.
pub fn xclient_command(f: &ClientFacts<'_>, supported: &str) -> String {
    attribute_command("XCLIENT", &xclient_attributes(f), supported)
}

/// The XFORWARD command for the attributes the upstream advertised.
pub fn xforward_command(f: &ClientFacts<'_>, supported: &str) -> String {
    let mut attrs = xclient_attributes(f);
    attrs.retain(|(k, _)| *k != "LOGIN");
    attrs.push(("SOURCE", "REMOTE".into()));
    attribute_command("XFORWARD", &attrs, supported)
}

fn xclient_attributes(f: &ClientFacts<'_>) -> Vec<(&'static str, String)> {
    let addr = match f.addr.ip() {
        IpAddr::V4(ip) => ip.to_string(),
        IpAddr::V6(ip) => ip.to_ipv4_mapped().map_or_else(|| format!("IPV6:{ip}"), |v4| v4.to_string()),
    };
    let mut attrs = Vec::new();
    if let Some(helo) = f.helo {
        attrs.push(("HELO", helo.to_owned()));
    }
    attrs.push(("PROTO", if f.esmtp { "ESMTP" } else { "SMTP" }.to_owned()));
    attrs.push(("PORT", f.addr.port().to_string()));
    attrs.push(("NAME", f.name.unwrap_or("[UNAVAILABLE]").to_owned()));
    attrs.push(("ADDR", addr));
    attrs
}

fn attribute_command(verb: &str, attrs: &[(&'static str, String)], supported: &str) -> String {
    let supported: Vec<String> = supported.split_whitespace().map(str::to_ascii_uppercase).collect();
    let mut line = verb.to_owned();
    for (key, value) in attrs {
        if supported.iter().any(|s| s == key) {
            let value = xtext(value);
            // Keep the whole command within 512 octets with CRLF.
            if line.len() + key.len() + value.len() + 4 <= 510 {
                line.push_str(&format!(" {key}={value}"));
            }
        }
    }
    line
}

/// RFC 3461 xtext: printable ASCII except `+` and `=` as is, the rest `+XX`.
fn xtext(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if (33..=126).contains(&b) && b != b'+' && b != b'=' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("+{b:02X}"));
        }
    }
    out
}

/// A `Received:` header naming the real client, for upstreams that take no
/// identity command. Client-supplied text is neutered as Postfix does: only
/// printable ASCII, and none of `"<>()\;@` (no forged `by`/`for` clauses).
pub fn received_header(f: &ClientFacts<'_>, hostname: &str, id: &str, date: &str) -> String {
    let clean = |s: &str| -> String {
        s.chars().take(100).map(|c| if c.is_ascii_graphic() && !"\"<>()\\;@".contains(c) { c } else { '?' }).collect()
    };
    let helo = f.helo.map_or_else(|| "unknown".to_owned(), clean);
    let name = f.name.map_or_else(|| "unknown".to_owned(), clean);
    format!(
        "Received: from {helo} ({name} [{}])\r\n\tby {hostname} (doorman) with {} id {id};\r\n\t{date}\r\n",
        f.addr.ip(),
        f.protocol()
    )
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
            tls: false,
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
    fn xclient_only_sends_advertised_attributes_with_addr_last() {
        let f = facts("198.51.100.23:40001");
        assert_eq!(
            xclient_command(&f, "NAME ADDR PROTO HELO REVERSE_NAME PORT LOGIN DESTADDR DESTPORT"),
            "XCLIENT HELO=mail.client.example PROTO=ESMTP PORT=40001 NAME=[UNAVAILABLE] ADDR=198.51.100.23"
        );
        assert_eq!(xclient_command(&f, "NAME HELO"), "XCLIENT HELO=mail.client.example NAME=[UNAVAILABLE]");
        let mut hostile = facts("[2001:db8::1]:25");
        hostile.helo = Some("a b=c+d");
        let cmd = xclient_command(&hostile, "HELO ADDR");
        assert_eq!(cmd, "XCLIENT HELO=a+20b+3Dc+2Bd ADDR=IPV6:2001:db8::1");
        assert!(xforward_command(&f, "NAME ADDR PROTO HELO SOURCE PORT IDENT").ends_with("SOURCE=REMOTE"));
    }

    #[test]
    fn received_header_is_neutered() {
        let mut f = facts("198.51.100.23:40001");
        f.helo = Some("a (b) <c>; by trusted.example");
        f.tls = true;
        let h = received_header(&f, "mx.example.test", "0000001a", "Sun, 29 Nov 2026 15:07:31 +0000");
        assert_eq!(
            h,
            "Received: from a??b???c???by?trusted.example (unknown [198.51.100.23])\r\n\
             \tby mx.example.test (doorman) with ESMTPS id 0000001a;\r\n\tSun, 29 Nov 2026 15:07:31 +0000\r\n"
        );
        assert!(h.ends_with("\r\n") && h.lines().count() == 3);
    }
}

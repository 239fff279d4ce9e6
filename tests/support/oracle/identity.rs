//! The oracle's reading of the identity doorman gives the upstream: a PROXY
//! v1/v2 header at connect, XCLIENT/XFORWARD attributes, or (with
//! `client_identity: none`) the `Received:` header at the top of each
//! message. Written from the specifications (the PROXY protocol text,
//! Postfix's XCLIENT_README/XFORWARD_README, RFC 5321 4.4), not from
//! doorman's builders, so it does not share their mistakes.

use std::net::IpAddr;

/// A PROXY header at the start of a connection.
#[derive(Debug)]
pub struct ProxyHeader {
    /// Its length in octets.
    pub len: usize,
    /// Version 2 (binary).
    pub v2: bool,
    /// It names a client (TCP4/TCP6, PROXY command), not UNKNOWN or LOCAL.
    pub client: bool,
}

impl ProxyHeader {
    /// "v1" or "v2".
    pub fn version(&self) -> &'static str {
        if self.v2 { "v2" } else { "v1" }
    }
}

const V2_SIGNATURE: &[u8] = b"\r\n\r\n\0\r\nQUIT\n";

/// The PROXY header `sent` starts with: `None` if it starts with none,
/// `Err` if it starts with a broken one.
pub fn proxy_header(sent: &[u8]) -> Option<Result<ProxyHeader, String>> {
    if sent.starts_with(V2_SIGNATURE) {
        return Some(proxy_v2(sent));
    }
    sent.starts_with(b"PROXY ").then(|| proxy_v1(sent))
}

/// `PROXY TCP4|TCP6 src dst sport dport\r\n` or `PROXY UNKNOWN...\r\n`, at
/// most 107 octets.
fn proxy_v1(sent: &[u8]) -> Result<ProxyHeader, String> {
    let head = &sent[..sent.len().min(107)];
    let end = head.windows(2).position(|w| w == b"\r\n").ok_or("a PROXY v1 header that is not whole")?;
    let text = std::str::from_utf8(&head[..end]).map_err(|_| "a PROXY v1 header that is not ASCII")?;
    let words: Vec<&str> = text.split(' ').collect();
    let header = |client| Ok(ProxyHeader { len: end + 2, v2: false, client });
    if words.get(1) == Some(&"UNKNOWN") {
        return header(false);
    }
    let [_, family, src, dst, sport, dport] = words[..] else {
        return Err(format!("a PROXY v1 header with {} fields: {text:?}", words.len()));
    };
    let v4 = match family {
        "TCP4" => true,
        "TCP6" => false,
        _ => return Err(format!("a PROXY v1 header with family {family:?}")),
    };
    let addr_ok = |a: &str| a.parse::<IpAddr>().is_ok_and(|ip| ip.is_ipv4() == v4);
    let port_ok = |p: &str| p.parse::<u16>().is_ok() && (p == "0" || !p.starts_with('0'));
    if !(addr_ok(src) && addr_ok(dst) && port_ok(sport) && port_ok(dport)) {
        return Err(format!("a malformed PROXY v1 header: {text:?}"));
    }
    header(true)
}

/// The binary header: signature, version/command, family, length, addresses.
fn proxy_v2(sent: &[u8]) -> Result<ProxyHeader, String> {
    let Some(&[ver_cmd, family, hi, lo]) = sent.get(12..16) else {
        return Err("a PROXY v2 header that is not whole".into());
    };
    let body = usize::from(u16::from_be_bytes([hi, lo]));
    if sent.len() < 16 + body {
        return Err(format!("a PROXY v2 header that is not whole: {} of {} octets", sent.len(), 16 + body));
    }
    let client = match ver_cmd {
        0x20 => false,
        0x21 => true,
        _ => return Err(format!("a PROXY v2 header with version/command {ver_cmd:#04x}")),
    };
    let needed = match family {
        0x11 => 12,
        0x21 => 36,
        _ if !client => 0,
        _ => return Err(format!("a PROXY v2 header naming a client with family {family:#04x}")),
    };
    if body < needed {
        return Err(format!("a PROXY v2 header with {body} octets of addresses, {needed} needed"));
    }
    Ok(ProxyHeader { len: 16 + body, v2: true, client: client && needed > 0 })
}

/// What is wrong with an XCLIENT or XFORWARD line, given the attributes the
/// upstream advertised for it (empty: not seen, then not checked against).
pub fn attribute_command(line: &str, advertised: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let mut words = line.split(' ');
    let verb = words.next().unwrap_or_default().to_ascii_uppercase();
    if line.len() + 2 > 512 {
        problems.push(format!("{verb} of {} octets, over a command line", line.len() + 2));
    }
    let offered: Vec<String> = advertised.split_whitespace().map(str::to_ascii_uppercase).collect();
    let mut seen: Vec<String> = Vec::new();
    for word in words {
        let Some((key, value)) = word.split_once('=') else {
            problems.push(format!("{verb} attribute without a value: {word:?}"));
            continue;
        };
        let key = key.to_ascii_uppercase();
        if seen.contains(&key) {
            problems.push(format!("{verb} repeats {key}"));
        }
        if !offered.is_empty() && !offered.contains(&key) {
            problems.push(format!("{verb} sends {key}, which the upstream did not advertise"));
        }
        if let Err(e) = attribute_value(&key, value) {
            problems.push(format!("{verb} {key}={value:?}: {e}"));
        }
        seen.push(key);
    }
    let mut required = vec!["ADDR"];
    required.extend(["NAME", "PORT", "PROTO", "HELO", "SOURCE"].iter().filter(|k| offered.iter().any(|o| o == *k)));
    if verb == "XCLIENT" {
        required.retain(|k| *k != "SOURCE");
    }
    for key in required.into_iter().filter(|k| !seen.iter().any(|s| s == k)) {
        problems.push(format!("{verb} without {key}: {line:?}"));
    }
    problems
}

/// The syntax of one attribute's value.
fn attribute_value(key: &str, value: &str) -> Result<(), &'static str> {
    let ok = match key {
        "ADDR" => match value.strip_prefix("IPV6:") {
            Some(v6) => v6.parse::<std::net::Ipv6Addr>().is_ok(),
            None => value.parse::<std::net::Ipv4Addr>().is_ok(),
        },
        "PORT" => value.parse::<u16>().is_ok(),
        "PROTO" => value == "SMTP" || value == "ESMTP",
        "SOURCE" => value == "LOCAL" || value == "REMOTE",
        _ => is_xtext(value),
    };
    if ok { Ok(()) } else { Err("not a valid value") }
}

/// RFC 3461 xtext: printable ASCII but `+` and `=`, or `+` and two
/// upper-case hex digits.
fn is_xtext(value: &str) -> bool {
    let b = value.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' if b
                .get(i + 1..i + 3)
                .is_some_and(|h| h.iter().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_lowercase())) =>
            {
                i += 3
            }
            33..=126 if b[i] != b'+' && b[i] != b'=' => i += 1,
            _ => return false,
        }
    }
    !value.is_empty()
}

/// With `client_identity: none`, each message starts with doorman's
/// `Received: from HELO (NAME [ADDR])` ... `by HOST (doorman) with PROTO id
/// ID;` DATE. `content` is the content from its first line.
pub fn received_header(content: &[u8]) -> Result<(), String> {
    let text = String::from_utf8_lossy(&content[..content.len().min(2048)]);
    let mut lines = text.split("\r\n");
    let first = lines.next().unwrap_or_default();
    if !first.starts_with("Received: from ") {
        return Err(format!("a message without doorman's Received header first: {first:?}"));
    }
    let mut field = first.to_owned();
    for more in lines.take_while(|l| l.starts_with('\t') || l.starts_with(' ')) {
        field.push(' ');
        field.push_str(more.trim_start());
    }
    let bad = |what: &str| Err(format!("doorman's Received header {what}: {field:?}"));
    let addr = field.split_once(" [").and_then(|(_, rest)| rest.split_once("])")).map(|(a, _)| a);
    if addr.is_none_or(|a| a.parse::<IpAddr>().is_err()) {
        return bad("does not name the client's address");
    }
    let Some((_, by)) = field.split_once(" by ") else {
        return bad("has no by clause");
    };
    let Some((host, rest)) = by.split_once(" (doorman) with ") else {
        return bad("has no `(doorman) with`");
    };
    let Some((proto, rest)) = rest.split_once(" id ") else {
        return bad("has no id");
    };
    let Some((id, date)) = rest.split_once(';') else {
        return bad("has no `;` before its date");
    };
    let protos = ["SMTP", "ESMTP", "ESMTPS", "ESMTPA", "ESMTPSA"];
    if host.is_empty() || !protos.contains(&proto) || id.is_empty() || id.contains(' ') || date.trim().len() < 20 {
        return bad("is malformed");
    }
    Ok(())
}

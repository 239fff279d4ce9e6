//! xtext and the XCLIENT/XFORWARD commands: xtext is printable ASCII that
//! decodes back to the input; whatever the client's address, PTR name and
//! HELO, the command keeps ADDR (and PORT, PROTO, NAME when advertised),
//! fits in 512 octets and passes the upstream oracle.
#![no_main]

use std::net::{IpAddr, SocketAddr};

use doorman::fuzzing::{Client, identity_command, xtext};
use doorman_fuzz::header;
use doorman_fuzz::oracle::check_command;
use libfuzzer_sys::fuzz_target;

const ATTRIBUTES: [&str; 8] = ["NAME", "ADDR", "PROTO", "HELO", "PORT", "SOURCE", "LOGIN", "IDENT"];

fn decode(x: &str) -> Vec<u8> {
    let bytes = x.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'+' {
            let hex = x.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok());
            out.push(hex.expect("+ followed by two hex digits"));
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

fn expected_addr(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or_else(|| format!("IPV6:{v6}"), |v4| v4.to_string()),
    }
}

fuzz_target!(|input: &[u8]| {
    let (head, rest) = header::<21>(input);
    let text = String::from_utf8_lossy(rest);
    let encoded = xtext(&text);
    assert!(encoded.bytes().all(|b| (33..=126).contains(&b) && b != b'='), "{encoded:?}");
    assert_eq!(decode(&encoded), text.as_bytes(), "xtext does not decode back");
    let v6: [u8; 16] = head[1..17].try_into().unwrap_or_default();
    let ip = if head[0] & 1 == 0 { IpAddr::from([v6[0], v6[1], v6[2], v6[3]]) } else { IpAddr::from(v6) };
    let addr = SocketAddr::new(ip, u16::from_be_bytes([head[17], head[18]]));
    let cut = usize::from(head[19]).min(text.len());
    let (name, helo) = (text.get(..cut).unwrap_or(""), text.get(cut..).unwrap_or(""));
    let mut supported: Vec<&str> =
        ATTRIBUTES.iter().enumerate().filter(|(i, _)| head[20] & (1 << i) != 0).map(|(_, a)| *a).collect();
    let client = Client {
        addr,
        name: (!name.is_empty()).then_some(name),
        helo: (!helo.is_empty()).then_some(helo),
        esmtp: head[0] & 2 == 2,
    };
    let xforward = head[0] & 0x80 == 0x80;
    if !supported.contains(&"ADDR") {
        assert!(identity_command(client, &supported.join(" "), xforward).is_err(), "sent without ADDR");
        supported.push("ADDR");
    }
    let cmd = identity_command(client, &supported.join(" "), xforward).expect("an identity command");
    if let Err(e) = check_command(format!("{cmd}\r\n").as_bytes(), false) {
        panic!("{e}");
    }
    assert!(
        cmd.contains(&format!(" ADDR={} ", expected_addr(ip)))
            || cmd.ends_with(&format!(" ADDR={}", expected_addr(ip))),
        "{cmd}"
    );
    for (key, value) in [("PORT", addr.port().to_string()), ("PROTO", String::new()), ("NAME", String::new())] {
        if supported.contains(&key) {
            assert!(cmd.contains(&format!(" {key}={value}")), "{key} dropped: {cmd}");
        }
    }
});

//! The PROXY v1/v2 header: the listener's parser never panics; a complete
//! header is at most the input and parses the same alone; headers doorman
//! builds for any address parse back to that address, and every cut of
//! them is incomplete rather than an error.
#![no_main]

use std::net::{IpAddr, SocketAddr};

use doorman::fuzzing::{parse_proxy_header, proxy_header};
use doorman_fuzz::header;
use libfuzzer_sys::fuzz_target;

fn canonical(a: SocketAddr) -> SocketAddr {
    match a.ip() {
        IpAddr::V6(ip) => ip.to_ipv4_mapped().map_or(a, |v4| SocketAddr::new(IpAddr::V4(v4), a.port())),
        IpAddr::V4(_) => a,
    }
}

/// An address from 19 bytes: a family byte, 16 address bytes, a port.
fn address(b: &[u8; 19]) -> SocketAddr {
    let port = u16::from_be_bytes([b[17], b[18]]);
    let v6: [u8; 16] = b[1..17].try_into().unwrap_or_default();
    let ip = match b[0] % 3 {
        0 => IpAddr::from([b[1], b[2], b[3], b[4]]),
        1 => IpAddr::from(v6),
        _ => IpAddr::V6(std::net::Ipv4Addr::from([b[1], b[2], b[3], b[4]]).to_ipv6_mapped()),
    };
    SocketAddr::new(ip, port)
}

fn round_trip(client: SocketAddr, local: SocketAddr) {
    for v2 in [false, true] {
        let built = proxy_header(v2, client, local).expect("a header");
        let parsed = parse_proxy_header(&built);
        let got = parsed.clone().ok().flatten().map(|(c, n)| (c.map(canonical), n));
        assert_eq!(got, Some((Some(canonical(client)), built.len())), "v2={v2} {built:?} parsed as {parsed:?}");
        for cut in 1..built.len() {
            assert_eq!(parse_proxy_header(&built[..cut]), Ok(None), "v2={v2} cut at {cut} of {built:?}");
        }
    }
}

fuzz_target!(|input: &[u8]| {
    if let Ok(Some((_, len))) = parse_proxy_header(input) {
        assert!(len <= input.len());
        assert_eq!(parse_proxy_header(&input[..len]), parse_proxy_header(input), "the header alone differs");
    }
    let (a, rest) = header::<19>(input);
    let (b, _) = header::<19>(rest);
    round_trip(address(&a), address(&b));
});

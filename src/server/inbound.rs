//! What the accept loop learns about a connection before the session starts:
//! the real client from a PROXY v1/v2 header (only from trusted networks), and
//! the original destination of an iptables REDIRECT (SO_ORIGINAL_DST).

use std::net::SocketAddr;
use std::time::Duration;

use ipnet::IpNet;
use ppp::HeaderResult;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// The largest PROXY header accepted (v2 with TLVs can be long; we need none).
const MAX_HEADER: usize = 4096;

/// Why a PROXY header was not accepted.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ProxyError {
    /// The peer is not in `trusted_proxies`.
    #[error("PROXY header expected from an untrusted address")]
    Untrusted,
    /// No complete header within the timeout.
    #[error("no PROXY header within {0:?}")]
    Timeout(Duration),
    /// Not a valid PROXY v1/v2 header.
    #[error("invalid PROXY header")]
    Invalid,
    /// The connection failed or closed.
    #[error("connection failed while reading the PROXY header: {0}")]
    Io(#[from] std::io::Error),
}

/// Reads a PROXY header from a trusted peer and returns the client address
/// it names (`None` for v2 LOCAL or v1 UNKNOWN: a health check, the peer
/// itself).
///
/// Not one byte after the header is consumed: the header is found by
/// peeking, and only its own bytes are read. Whatever the client sent in the
/// same segment (an early EHLO, a TLS ClientHello) stays in the socket for
/// the early-talker check and the TLS handshake to see.
pub(crate) async fn read_proxy_header(
    stream: &mut TcpStream,
    peer: SocketAddr,
    trusted: &[IpNet],
    timeout: Duration,
) -> Result<Option<SocketAddr>, ProxyError> {
    if !trusted.iter().any(|net| net.contains(&peer.ip())) {
        return Err(ProxyError::Untrusted);
    }
    // The part of the header consumed so far, and a view of what follows.
    let mut header = Vec::with_capacity(128);
    let mut peeked = [0u8; MAX_HEADER];
    let read = async {
        loop {
            // Waits for new bytes: everything seen before is consumed.
            let n = stream.peek(&mut peeked[..MAX_HEADER - header.len()]).await?;
            if n == 0 {
                return Err(ProxyError::Invalid);
            }
            let seen = header.len();
            header.extend_from_slice(&peeked[..n]);
            match parse(&header)? {
                Some((client, used)) => {
                    stream.read_exact(&mut peeked[..used - seen]).await?;
                    return Ok(client);
                }
                None if header.len() >= MAX_HEADER => return Err(ProxyError::Invalid),
                None => {
                    stream.read_exact(&mut peeked[..n]).await?;
                }
            }
        }
    };
    tokio::time::timeout(timeout, read).await.map_err(|_| ProxyError::Timeout(timeout))?
}

/// `Ok(None)`: incomplete. `Ok(Some((client, header length)))`: complete.
pub(crate) fn parse(buf: &[u8]) -> Result<Option<(Option<SocketAddr>, usize)>, ProxyError> {
    use ppp::PartialResult;
    if buf.is_empty() {
        return Ok(None);
    }
    // v1 is a text line of at most 107 octets: wait for its CRLF (the parser
    // cannot always tell a cut line from a bad one).
    let v1_prefix = b"PROXY ";
    let looks_v1 = buf.len() < v1_prefix.len() && v1_prefix.starts_with(buf) || buf.starts_with(v1_prefix);
    if looks_v1 && memchr::memmem::find(buf, b"\r\n").is_none() {
        return if buf.len() < 108 { Ok(None) } else { Err(ProxyError::Invalid) };
    }
    let result = HeaderResult::parse(buf);
    if result.is_incomplete() {
        return Ok(None);
    }
    match result {
        // ppp ends a v1 header two octets after its first CR, whatever they
        // are (found by fuzzing: `PROXY UNKNOWN x \n\rN...`): only a CRLF ends it.
        HeaderResult::V1(Ok(h)) if !h.header.ends_with("\r\n") => Err(ProxyError::Invalid),
        HeaderResult::V1(Ok(h)) => {
            let client = match h.addresses {
                ppp::v1::Addresses::Tcp4(a) => Some(SocketAddr::from((a.source_address, a.source_port))),
                ppp::v1::Addresses::Tcp6(a) => Some(SocketAddr::from((a.source_address, a.source_port))),
                ppp::v1::Addresses::Unknown => None,
            };
            Ok(Some((client, h.header.len())))
        }
        HeaderResult::V2(Ok(h)) => {
            let client = match (h.command, h.addresses) {
                (ppp::v2::Command::Local, _) => None,
                (_, ppp::v2::Addresses::IPv4(a)) => Some(SocketAddr::from((a.source_address, a.source_port))),
                (_, ppp::v2::Addresses::IPv6(a)) => Some(SocketAddr::from((a.source_address, a.source_port))),
                (_, _) => return Err(ProxyError::Invalid),
            };
            Ok(Some((client, h.len())))
        }
        HeaderResult::V1(Err(_)) | HeaderResult::V2(Err(_)) => Err(ProxyError::Invalid),
    }
}

/// The destination the client dialled before an iptables REDIRECT rewrote it,
/// when it differs from the local address (Linux SO_ORIGINAL_DST).
pub(crate) fn original_destination(stream: &TcpStream) -> Option<SocketAddr> {
    use nix::sys::socket::{getsockopt, sockopt};
    let local = stream.local_addr().ok()?;
    let original = match local {
        SocketAddr::V4(_) => getsockopt(stream, sockopt::OriginalDst)
            .ok()
            .map(|a| SocketAddr::V4(nix::sys::socket::SockaddrIn::from(a).into())),
        SocketAddr::V6(_) => getsockopt(stream, sockopt::Ip6tOriginalDst)
            .ok()
            .map(|a| SocketAddr::V6(nix::sys::socket::SockaddrIn6::from(a).into())),
    }?;
    (original != local).then_some(original)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::identity::proxy_header;

    #[test]
    fn parses_v1_and_v2_and_keeps_what_follows() {
        let client: SocketAddr = "198.51.100.23:40001".parse().unwrap();
        let local: SocketAddr = "127.0.0.1:25".parse().unwrap();
        for v2 in [false, true] {
            let mut bytes = proxy_header(v2, client, local).unwrap();
            let len = bytes.len();
            bytes.extend_from_slice(b"EHLO x\r\n");
            for cut in 1..len {
                assert_eq!(
                    parse(&bytes[..cut]).ok(),
                    Some(None),
                    "v2={v2} cut={cut} {:?}",
                    String::from_utf8_lossy(&bytes[..cut])
                );
            }
            assert_eq!(parse(&bytes).unwrap(), Some((Some(client), len)));
        }
        assert!(parse(b"EHLO client.example\r\n").is_err());
        assert_eq!(parse(b"PROXY UNKNOWN\r\n").unwrap(), Some((None, 15)));
    }

    /// Found by fuzzing (fuzz/fuzz_targets/proxy.rs): ppp took
    /// `PROXY UNKNOWN a \n\rN` as a whole header, ending it inside the
    /// client's bytes. Only CRLF ends a v1 header.
    #[test]
    fn a_v1_header_ends_only_at_crlf() {
        assert!(parse(b"PROXY UNKNOWN a  \n\rNEHLO x\r\n").is_err());
        assert!(parse(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rxEHLO x\r\n").is_err());
        assert_eq!(parse(b"PROXY UNKNOWN a b\r\nEHLO x\r\n").unwrap(), Some((None, 19)));
    }
}

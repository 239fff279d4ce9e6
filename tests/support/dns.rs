//! A private dnsmasq, started once per test binary by the project's own
//! `tests/support/dnsmasq.sh` in a temp state dir on a free loopback port,
//! and stopped by a watchdog when the test process exits. The data it serves
//! is listed in the script's header; the constants below name it.
//!
//! Also: fault-injection name servers (one that never answers, one that
//! answers SERVFAIL to everything), for the failure paths a healthy dnsmasq
//! cannot produce on demand.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use super::{free_port, repo};

/// A: 203.0.113.10, AAAA: 2001:db8::10, PTR of both back to it.
pub const GOOD: &str = "good.example.test";
pub const GOOD_V4: &str = "203.0.113.10";
pub const GOOD_V6: &str = "2001:db8::10";
/// A 203.0.113.11 only (AAAA is NoData).
pub const V4_ONLY: &str = "v4only.example.test";
/// A 203.0.113.12; used by the cache test alone.
pub const CACHED: &str = "cached.example.test";
/// CNAME to [`GOOD`].
pub const CNAME: &str = "cname.example.test";
/// A 198.51.100.7; the PTR of [`FORGED_CLIENT`] names it (FCrDNS fails).
pub const FORGED: &str = "forged.example.test";
pub const FORGED_CLIENT: &str = "203.0.113.20";
/// A 127.0.0.1: an Office 365 style HELO name.
pub const O365: &str = "o365.example.test";
/// No PTR.
pub const NO_PTR_CLIENT: &str = "203.0.113.30";
/// A name under example.test that does not exist.
pub const NXDOMAIN: &str = "nx.example.test";
/// The Outlook/Pegasus dotless HELO; NXDOMAIN.
pub const DOTLESS: &str = "benderclmsuedu";
/// A DNSBL: lists 127.0.0.2 (127.0.0.2 + TXT [`BL_TXT`]), 203.0.113.20
/// (127.0.0.4, no TXT), 2001:db8::10 (127.0.0.2); answers 127.255.255.254
/// (a query-error code) for 203.0.113.10.
pub const BL: &str = "bl.test";
pub const BL_TXT: &str = "Listed for testing: https://bl.test/lookup?ip=127.0.0.2";
/// A second DNSBL: lists 127.0.0.2 (127.0.0.3 + TXT "bl2 says no").
pub const BL2: &str = "bl2.test";

/// The running instance.
pub struct Dnsmasq {
    pub state: PathBuf,
    pub port: u16,
}

static DNSMASQ: OnceLock<Dnsmasq> = OnceLock::new();

/// The shared instance of this test binary, started on first use.
pub fn dnsmasq() -> &'static Dnsmasq {
    DNSMASQ.get_or_init(Dnsmasq::start)
}

impl Dnsmasq {
    fn script() -> PathBuf {
        repo().join("tests/support/dnsmasq.sh")
    }

    fn start() -> Self {
        assert!(
            Path::new("/usr/sbin/dnsmasq").exists(),
            "/usr/sbin/dnsmasq is missing: run tests/support/install-deps.sh (package dnsmasq-base)"
        );
        let exe = std::env::current_exe().ok();
        let name = exe.as_deref().and_then(Path::file_stem).and_then(|s| s.to_str()).unwrap_or("test");
        let dns =
            Self { state: PathBuf::from(format!("/tmp/doorman-dns-{name}-{}", std::process::id())), port: free_port() };
        let out = dns.command("start").output().expect("run tests/support/dnsmasq.sh");
        assert!(
            out.status.success(),
            "dnsmasq did not start (is it installed? run tests/support/install-deps.sh):\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        super::stop_at_exit(
            &Self::script(),
            &[("DNSMASQ_STATE".into(), dns.state.display().to_string()), ("DNSMASQ_PORT".into(), dns.port.to_string())],
            &dns.state,
        );
        dns
    }

    fn command(&self, verb: &str) -> Command {
        let mut c = Command::new("bash");
        c.arg(Self::script()).arg(verb).env("DNSMASQ_STATE", &self.state).env("DNSMASQ_PORT", self.port.to_string());
        c
    }

    /// `127.0.0.1:port`.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// The query log (one line per query and per answer).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.state.join("dnsmasq.log")).unwrap_or_default()
    }

    /// A `dns:` section pointing at this dnsmasq, as YAML.
    pub fn dns_yaml(&self, timeout: &str) -> String {
        format!("nameservers: [\"{}\"]\ntimeout: {timeout}\n", self.addr())
    }
}

/// Fault injection: a UDP socket on loopback that reads queries and never
/// answers. Dropping it closes the socket.
pub struct SilentServer {
    pub addr: SocketAddr,
    _task: tokio::task::JoinHandle<()>,
}

impl SilentServer {
    pub async fn start() -> Self {
        let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.expect("bind a loopback UDP socket");
        let addr = sock.local_addr().expect("local addr");
        let task = tokio::spawn(async move {
            let mut buf = [0u8; 1500];
            while sock.recv_from(&mut buf).await.is_ok() {}
        });
        Self { addr, _task: task }
    }
}

impl Drop for SilentServer {
    fn drop(&mut self) {
        self._task.abort();
    }
}

/// Fault injection: a UDP name server that answers every query with
/// SERVFAIL (the query's header and question echoed, QR set, RCODE 2).
pub struct ServfailServer {
    pub addr: SocketAddr,
    _task: tokio::task::JoinHandle<()>,
}

impl ServfailServer {
    pub async fn start() -> Self {
        let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.expect("bind a loopback UDP socket");
        let addr = sock.local_addr().expect("local addr");
        let task = tokio::spawn(async move {
            let mut buf = [0u8; 1500];
            while let Ok((n, peer)) = sock.recv_from(&mut buf).await {
                if n < 12 {
                    continue;
                }
                let mut reply = buf[..n].to_vec();
                reply[2] = 0x80 | (reply[2] & 0x01); // QR=1, opcode 0, RD kept
                reply[3] = 0x80 | 0x02; // RA=1, RCODE=SERVFAIL
                // Keep the question; no answer, authority or additional (EDNS dropped).
                reply[6..12].fill(0);
                let question_end = question_end(&reply).unwrap_or(n);
                reply.truncate(question_end);
                let _ = sock.send_to(&reply, peer).await;
            }
        });
        Self { addr, _task: task }
    }
}

impl Drop for ServfailServer {
    fn drop(&mut self) {
        self._task.abort();
    }
}

/// The end of the first question (QNAME labels, QTYPE, QCLASS).
fn question_end(msg: &[u8]) -> Option<usize> {
    let mut i = 12;
    loop {
        let len = usize::from(*msg.get(i)?);
        i += 1;
        if len == 0 {
            break;
        }
        i += len;
    }
    (i + 4 <= msg.len()).then_some(i + 4)
}

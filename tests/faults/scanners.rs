//! The scanner side of the fault matrix. FAULT INJECTION ONLY: the scanner
//! is the scripted fake of `support/fake_scanner.rs` (or a closed port); the
//! real clamd, spamd and rspamd verdicts are tested in `tests/scanners/`.
//! Each scanner is the only one configured, with `on_error: tempfail` (the
//! default): every fault must give `451 4.7.1` at the final dot, and the
//! message must never reach the upstream (no final dot).

use std::time::Duration;

use crate::support::client::Client;
use crate::support::fake_scanner::{self, Behaviour, FakeScanner, Protocol};
use crate::{Cell, Setup, message, open_data, report, short};

/// How a scanner misbehaves.
#[derive(Debug, Clone, Copy)]
enum Fault {
    Refuses,
    Stalls,
    ClosesMidReply,
    Garbage,
}

/// A scanner: its config key, its protocol, a reply cut short, garbage.
struct Scanner {
    key: &'static str,
    protocol: Protocol,
    cut: &'static [u8],
    garbage: &'static [u8],
}

const SCANNERS: [Scanner; 3] = [
    Scanner { key: "clamav", protocol: Protocol::Clamd, cut: b"stream: O", garbage: b"\xff\xfegarbage: maybe\0" },
    Scanner {
        key: "spamassassin",
        protocol: Protocol::Spamd,
        cut: b"SPAMD/1.1 0 EX_OK\r\nContent-length: 40\r\nSpam: Fal",
        garbage: b"\xff\xfe garbage\r\n\r\n",
    },
    Scanner {
        key: "rspamd",
        protocol: Protocol::Http,
        cut: b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{\"action\": \"no ac",
        garbage: b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 9\r\n\r\nnot json!",
    },
];

/// The fake for a fault (`None`: nothing listens).
async fn fake(scanner: &Scanner, fault: Fault) -> Option<FakeScanner> {
    let reply = |bytes: &[u8]| Behaviour::Reply { delay: Duration::ZERO, reply: bytes.to_vec() };
    let behaviour = match fault {
        Fault::Refuses => return None,
        Fault::Stalls => Behaviour::Silent,
        Fault::ClosesMidReply => reply(scanner.cut),
        Fault::Garbage => reply(scanner.garbage),
    };
    Some(fake_scanner::start(scanner.protocol, behaviour).await)
}

async fn run(scanner: &Scanner, fault: Fault) -> Cell {
    let fake = fake(scanner, fault).await;
    let address = fake.as_ref().map_or_else(crate::closed_port, FakeScanner::address);
    let extra = format!(
        "scanners:\n  {}:\n    addresses: [\"{address}\"]\n    connect_timeout: 1s\n    timeout: 2s\n",
        scanner.key
    );
    let setup = Setup::start(&extra, "").await;
    let (mut c, _) = Client::connect(setup.d.addr).await;
    let reply = match open_data(&mut c).await {
        Ok(()) => {
            c.send(format!("{}.\r\n", message()).as_bytes()).await;
            let r = c.reply().await;
            let _ = c.cmd("QUIT").await;
            short(&r.to_string())
        }
        Err(e) => e,
    };
    drop(c);
    let (saw, leak) = setup.verdict().await;
    let pass = reply.starts_with("451 4.7.1") && matches!(saw.as_str(), "Nothing" | "Envelope") && leak == "none";
    Cell { stage: "after-dot", fault: format!("{} {fault:?}", scanner.key), reply, saw, leak, pass }
}

/// The scanner side of the fault matrix: 3 scanners × 4 faults.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_matrix_scanner_side() {
    let mut cells = Vec::new();
    for scanner in &SCANNERS {
        for fault in [Fault::Refuses, Fault::Stalls, Fault::ClosesMidReply, Fault::Garbage] {
            cells.push(run(scanner, fault).await);
        }
    }
    report("scanner", &cells);
}

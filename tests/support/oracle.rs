//! The oracle (issue #13): every doorman a relay test starts ([`Binary`] or
//! [`Proxy`]) gets its own tap in front of the upstream it was given, and
//! when that doorman is dropped (or stopped) the oracle judges every byte it
//! wrote upstream, whatever the test itself asserted:
//!
//! - only CRLF line endings; no NUL, bare CR or bare LF, in commands and
//!   content alike;
//! - every content line that starts with `.` is dot-stuffed, no content line
//!   is over 1000 octets, and each DATA ends at exactly one lone `.` (a
//!   second one would be read as a command, and is reported as such);
//! - every command line is a known verb with valid syntax
//!   (`doorman::wire::Command::parse`) in canonical form (what
//!   `Command::encode` writes for it), XCLIENT/XFORWARD are checked by
//!   [`identity`], SASL responses are base64, BDAT chunks are skipped by size;
//! - the identity is whole for `upstream.client_identity`: a PROXY v1/v2
//!   header naming the client before a MAIL; XCLIENT with ADDR and every
//!   attribute the upstream advertised (NAME, PORT, PROTO, HELO) before MAIL;
//!   XFORWARD likewise right before each MAIL; with `none`, doorman's own
//!   `Received:` header naming the client's address at the top of each
//!   message; and no identity command or header of another mode;
//! - the messages the upstream accepted (2xx to the final dot, read on the
//!   way back) are as many as the 250s doorman gave clients for their final
//!   dot. The clients of `tests/support/client.rs` (the raw client, swaks,
//!   smtplib) report those to [`client_accepted`] keyed by the address they
//!   connected to; the oracle sums them over its doorman's listen addresses,
//!   so the count is per doorman, even with tests running in parallel.
//!   doorman's metrics are not used: in-process they are shared by all tests.
//!
//! The tap runs on plain threads ([`wiretap`]), so it records and closes
//! whatever the test's runtime does; at the check the oracle waits (at most
//! [`CLOSE_WAIT`]) for doorman's upstream connections to close. A connection
//! that ends inside a line or a DATA (a killed process) is noted as cut, not
//! failed: the upstream discards an unfinished command or message.
//!
//! After a 220 to STARTTLS toward the upstream the rest of that connection
//! is TLS: it is not read, and the count check is waived for that doorman.
//!
//! It is on in the `relay` test binary (`DOORMAN_ORACLE=1` turns it on in
//! others, `=0` off). A test may waive the count check, with its reason,
//! through `skip_count`; nothing waives the byte-level checks. Each check
//! prints `oracle: ...` with this doorman's numbers and the run's totals so
//! far (see them with `--nocapture`).
//!
//! [`Binary`]: super::binary::Binary
//! [`Proxy`]: super::proxy::Proxy

pub mod identity;
pub mod judge;
pub mod wiretap;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use doorman::config::ClientIdentity;

pub use judge::{Verdict, judge};
use wiretap::WireTap;

/// How long the check waits for doorman's upstream connections to close.
pub const CLOSE_WAIT: Duration = Duration::from_secs(10);

/// Whether the oracle is on in this test binary.
pub fn enabled() -> bool {
    match std::env::var("DOORMAN_ORACLE").as_deref() {
        Ok("1") => true,
        Ok("0") => false,
        _ => {
            let exe = std::env::current_exe().ok();
            let stem = exe.as_deref().and_then(std::path::Path::file_stem).and_then(|s| s.to_str());
            stem.is_some_and(|s| s == "relay" || s.starts_with("relay-"))
        }
    }
}

/// 250s to a final dot that clients got, by the address they connected to.
static CLIENT_ACCEPTED: Mutex<BTreeMap<SocketAddr, usize>> = Mutex::new(BTreeMap::new());

/// A client connected to `doorman` got a 2xx reply to its final dot.
pub fn client_accepted(doorman: SocketAddr) {
    *CLIENT_ACCEPTED.lock().expect("oracle counts").entry(doorman).or_default() += 1;
}

/// Sessions, messages, commands and doormen checked in this run.
static TOTALS: [AtomicUsize; 4] = [const { AtomicUsize::new(0) }; 4];

/// The oracle of one doorman.
pub struct Oracle {
    taps: Mutex<Vec<(String, WireTap)>>,
    identity: ClientIdentity,
    listen: Vec<SocketAddr>,
    skip_count: Option<&'static str>,
    done: bool,
}

impl Oracle {
    /// An oracle for a doorman with `identity`, or `None` when it is off.
    pub fn new(identity: ClientIdentity) -> Option<Self> {
        enabled().then(|| Self { taps: Mutex::default(), identity, listen: Vec::new(), skip_count: None, done: false })
    }

    /// The address doorman should use for `upstream`: a tap in front of it
    /// (one per distinct upstream). An upstream that refuses connections now
    /// is given as is (nothing to record, and doorman must see the refusal).
    pub fn upstream(&self, upstream: &str) -> String {
        let mut taps = self.taps.lock().expect("oracle taps");
        if let Some((_, tap)) = taps.iter().find(|(u, _)| u == upstream) {
            return tap.addr.to_string();
        }
        let Ok(addr) = upstream.parse::<SocketAddr>() else {
            return upstream.to_owned();
        };
        if std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_err() {
            return upstream.to_owned();
        }
        let tap = WireTap::start(addr);
        let through = tap.addr.to_string();
        taps.push((upstream.to_owned(), tap));
        through
    }

    /// doorman listens on `addrs`: its clients' counts start at zero.
    pub fn listening(&mut self, addrs: &[SocketAddr]) {
        let mut counts = CLIENT_ACCEPTED.lock().expect("oracle counts");
        for a in addrs {
            counts.remove(a);
        }
        self.listen = addrs.to_vec();
    }

    /// Waives the count check for this doorman, with the reason.
    pub fn skip_count(&mut self, why: &'static str) {
        self.skip_count = Some(why);
    }

    /// Judges every connection; panics listing the violations, or prints
    /// them if the test is already failing (a second panic would abort).
    /// `wait`: wait for the connections to close.
    pub fn check(&mut self, wait: bool) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        let taps = std::mem::take(&mut *self.taps.lock().expect("oracle taps"));
        let mut all_closed = true;
        if wait {
            let waiting = || taps.iter().all(|(_, t)| t.wait_closed(CLOSE_WAIT));
            all_closed = blocking(waiting);
        }
        let (mut sum, mut open, mut violations) = (Verdict::default(), 0, Vec::new());
        let mut sessions = 0;
        for (upstream, tap) in &taps {
            for (i, conn) in tap.conns.lock().expect("tap list").iter().enumerate() {
                let sent = conn.sent.lock().expect("tap record").clone();
                let received = conn.received.lock().expect("tap record").clone();
                let v = judge(&sent, &received, self.identity);
                violations.extend(v.violations.iter().map(|e| format!("{upstream} connection {i}: {e}")));
                if !v.violations.is_empty() {
                    let head = String::from_utf8_lossy(&sent[..sent.len().min(1500)]).into_owned();
                    violations.push(format!("{upstream} connection {i} sent (first 1500 octets): {head:?}"));
                }
                open += usize::from(!conn.closed());
                sessions += 1;
                sum.commands += v.commands;
                sum.messages += v.messages;
                sum.accepted += v.accepted;
                sum.opaque |= v.opaque;
            }
        }
        let clients = self.clients_accepted();
        if sum.opaque {
            self.skip_count.get_or_insert("the upstream session went under TLS: its replies are not readable");
        }
        self.report(sessions, &sum, open, clients);
        if let (None, true) = (self.skip_count, all_closed)
            && sum.accepted != clients
        {
            violations.push(format!(
                "the upstream accepted {} messages, clients got a 250 for {clients} final dots",
                sum.accepted
            ));
        }
        let found = format!("the oracle found broken promises:\n{}", violations.join("\n"));
        if std::thread::panicking() {
            if !violations.is_empty() {
                eprintln!("{found}");
            }
            return;
        }
        assert!(violations.is_empty(), "{found}");
    }

    fn clients_accepted(&self) -> usize {
        let counts = CLIENT_ACCEPTED.lock().expect("oracle counts");
        self.listen.iter().filter_map(|a| counts.get(a)).sum()
    }

    fn report(&self, sessions: usize, sum: &Verdict, open: usize, clients: usize) {
        let add = |i: usize, n: usize| TOTALS[i].fetch_add(n, Ordering::SeqCst) + n;
        let totals = [add(0, sessions), add(1, sum.messages), add(2, sum.commands), add(3, 1)];
        let count = match self.skip_count {
            Some(why) => format!("count check waived: {why}"),
            None => format!("{} accepted upstream, {clients} 250s to clients", sum.accepted),
        };
        eprintln!(
            "oracle: {sessions} sessions ({open} still open), {} messages, {} commands checked; {count}; \
             run so far: {} doormen, {} sessions, {} messages, {} commands",
            sum.messages, sum.commands, totals[3], totals[0], totals[1], totals[2]
        );
    }
}

/// Runs a wait that needs doorman's tasks to go on: on a multi-thread
/// runtime in place of the worker; on a current-thread one not at all (it
/// would wait on itself), so the connections are judged as they are.
fn blocking(wait: impl FnOnce() -> bool) -> bool {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(RuntimeFlavor::CurrentThread) => false,
        Ok(_) => tokio::task::block_in_place(wait),
        Err(_) => wait(),
    }
}

//! Integration tests of the scanning engine (`doorman::scan`) against the
//! real daemons: clamd with the project's signature database, spamd with
//! Debian's rules and network tests off, and rspamd, each started once for
//! this binary by `support/scanners.rs`. Faults the real daemons will not
//! produce on demand use the scripted fake in `support/fake_scanner.rs`.

mod support;

#[path = "scanners/clamav.rs"]
mod clamav;
#[path = "scanners/engine.rs"]
mod engine;
#[path = "scanners/rspamd.rs"]
mod rspamd;
#[path = "scanners/spamassassin.rs"]
mod spamassassin;

use std::time::{Duration, Instant};

use doorman::config::Scanners;
use doorman::scan::{ScanAction, ScanContext, ScanEngine, ScanOutcome, ScannerResult};
use doorman::spool::Spool;

pub use support::content::{eicar, gtube, with_attachment};

/// A plain message with the headers that keep SpamAssassin quiet.
pub fn clean_message(tag: &str) -> String {
    support::message(
        "bob@example.test",
        tag,
        &["Hi Bob,", "", "the minutes of Tuesday's meeting are below. See you next week.", "", "Alice"],
    )
}

/// Builds an engine from the YAML of a `scanners:` section.
pub fn engine(yaml: &str) -> ScanEngine {
    let cfg: Scanners = serde_saphyr::from_str(yaml).unwrap_or_else(|e| panic!("bad scanners config: {e}\n{yaml}"));
    ScanEngine::from_config(&cfg)
}

/// A context as a session from a loopback client gives it, with a unique
/// session id.
pub fn ctx() -> ScanContext {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    ScanContext {
        session_id: format!("T{}", N.fetch_add(1, Ordering::Relaxed)),
        authenticated: false,
        client_ip: Some(std::net::Ipv4Addr::LOCALHOST.into()),
        helo: Some("client.example.net".into()),
        mail_from: Some("alice@sender.example".into()),
        rcpt_to: vec!["bob@example.test".into()],
    }
}

/// How far below the first action (tag, greylist, refuse) the suite's clean
/// message must score. Less, and a rule-set update or the calendar could tip
/// the ham tests into a 451 somewhere far from the cause.
pub const HAM_MARGIN: f64 = 2.0;

/// A scan as the session runs it: `start`, `feed` in `chunk`-byte pieces
/// while spooling, then `finish`. Returns the outcome and the time
/// `finish` took (what the scan adds after the final dot).
pub async fn scan_with(engine: &ScanEngine, ctx: ScanContext, message: &[u8], chunk: usize) -> (ScanOutcome, Duration) {
    let mut spool = Spool::new(256 * 1024, None);
    let mut scan = engine.start(ctx);
    for piece in message.chunks(chunk.max(1)) {
        spool.append(piece).await.expect("spool write");
        scan.feed(piece).await;
    }
    let t0 = Instant::now();
    let outcome = scan.finish(&mut spool).await;
    (outcome, t0.elapsed())
}

/// [`scan_with`] with a fresh context and 16 KiB chunks.
pub async fn scan(engine: &ScanEngine, message: &[u8]) -> (ScanOutcome, Duration) {
    scan_with(engine, ctx(), message, 16 * 1024).await
}

/// The result of scanner `name`.
pub fn result<'a>(o: &'a ScanOutcome, name: &str) -> &'a ScannerResult {
    o.results.iter().find(|r| r.name == name).unwrap_or_else(|| panic!("no result for {name}: {o:?}"))
}

/// The reply of a refused message, as text (`554 5.7.1 ...`).
pub fn refusal(o: &ScanOutcome) -> String {
    match &o.action {
        ScanAction::Reject(r) | ScanAction::TempFail(r) => r.to_string(),
        ScanAction::Deliver => panic!("expected a refusal, got {o:?}"),
    }
}

/// A loopback address where nothing listens.
pub fn closed_port() -> String {
    format!("127.0.0.1:{}", support::free_port())
}

//! Test support: a real Postfix per test binary, doorman in-process on a free
//! port, and clients (a raw socket client, swaks, Python's smtplib).
//! A missing service is a test failure with a message naming the install
//! script, never a skipped test.
#![allow(dead_code, unreachable_pub)]

pub mod binary;
pub mod client;
pub mod content;
pub mod dns;
pub mod fake_scanner;
pub mod http;
pub mod oracle;
pub mod postfix;
pub mod proxy;
pub mod redis;
pub mod scanners;
pub mod sink;
pub mod tap;
pub mod tls;

use std::net::TcpListener;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How long a test waits for something due "soon" (a delivery, a log line,
/// a reload, a closed connection). Generous on purpose: a loaded 2-core
/// machine must not fail a test that passes on a quiet one, and a real bug
/// makes the thing never happen, not happen late.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// Polls `check` until it holds; fails the test naming `what` after
/// [`PATIENCE`].
pub async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < PATIENCE, "{what}: not after {PATIENCE:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `bash <script> stop` with `env`, and removes `state`, once this test
/// process has exited, whatever way it exits (a detached watchdog shell), so
/// the services a test binary started never outlive it.
pub fn stop_at_exit(script: &std::path::Path, env: &[(String, String)], state: &std::path::Path) {
    let env: String = env.iter().map(|(k, v)| format!("{k}='{v}' ")).collect();
    let cleanup = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; {env}bash '{script}' stop >/dev/null 2>&1; rm -rf '{state}'",
        pid = std::process::id(),
        script = script.display(),
        state = state.display(),
    );
    let _ = std::process::Command::new("setsid")
        .args(["sh", "-c", &cleanup])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

/// A unique recipient for one test, so tests can share one Postfix.
pub fn rcpt(test: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!("{test}-{}@example.test", N.fetch_add(1, Ordering::Relaxed))
}

/// The current time as an RFC 5322 date (`Sun, 29 Nov 2026 14:47:31 +0000`),
/// for the `Date:` of every test message: spamd and rspamd score a date far
/// in the past or future, so a frozen date makes ham drift towards spam.
pub fn date_now() -> String {
    use time::format_description::well_known::Rfc2822;
    time::OffsetDateTime::now_utc().format(&Rfc2822).expect("the clock is after 1900")
}

/// Parses an RFC 5322 date with a numeric zone, as a test assertion; returns
/// how far it is from now.
pub fn age_of_date(text: &str) -> std::time::Duration {
    use time::format_description::well_known::Rfc2822;
    let zone = text.rsplit(' ').next().unwrap_or_default();
    assert!(
        zone.len() == 5 && zone.starts_with(['+', '-']) && zone[1..].bytes().all(|b| b.is_ascii_digit()),
        "not a numeric zone (RFC 5322 3.3): {text:?}"
    );
    let at =
        time::OffsetDateTime::parse(text, &Rfc2822).unwrap_or_else(|e| panic!("not an RFC 5322 date: {text:?}: {e}"));
    (time::OffsetDateTime::now_utc() - at).unsigned_abs()
}

/// The header block of a test message (Date from the clock, From, To,
/// Subject, Message-ID), ending with CRLF but without the blank line. The
/// headers keep SpamAssassin and rspamd quiet: `tests/scanners` scores this
/// message and asserts its margin below their first action.
pub fn headers(to: &str, subject: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    format!(
        "Date: {}\r\nFrom: Alice <alice@sender.example>\r\nTo: <{to}>\r\nSubject: {subject}\r\n\
         Message-ID: <{n}.{}@sender.example>\r\n",
        date_now(),
        std::process::id()
    )
}

/// An RFC 5322 message with [`headers`]; `body` lines are joined with CRLF.
pub fn message(to: &str, subject: &str, body: &[&str]) -> String {
    let mut m = headers(to, subject);
    m.push_str("\r\n");
    for line in body {
        m.push_str(line);
        m.push_str("\r\n");
    }
    m
}

/// Debian's Exim, unpacked by `tests/support/install-deps.sh` (never
/// installed as the system MTA).
pub fn exim_binary() -> PathBuf {
    let tools = std::env::var_os("DOORMAN_TEST_TOOLS").map_or_else(|| "/opt/doorman-test-tools".into(), PathBuf::from);
    let bin = tools.join("exim/usr/sbin/exim4");
    assert!(bin.is_file(), "{} is missing: run tests/support/install-deps.sh (as root)", bin.display());
    bin
}

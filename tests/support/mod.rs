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
pub mod fake_upstream;
pub mod http;
pub mod postfix;
pub mod proxy;
pub mod scanners;
pub mod sink;
pub mod tls;

use std::net::TcpListener;
use std::path::PathBuf;

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

/// An RFC 5322 message with the headers that keep SpamAssassin and Postfix
/// quiet; `body` lines are joined with CRLF.
pub fn message(to: &str, subject: &str, body: &[&str]) -> String {
    let mut m = format!(
        "Date: Mon, 23 Nov 2026 06:00:00 +0000\r\nFrom: Alice <alice@sender.example>\r\nTo: <{to}>\r\n\
         Subject: {subject}\r\nMessage-ID: <{subject}.{to}>\r\n\r\n"
    );
    for line in body {
        m.push_str(line);
        m.push_str("\r\n");
    }
    m
}

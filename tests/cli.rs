//! The `doorman` binary: `--version`, `check` (exit 0 / exit 2 with file,
//! line, column and key path), `run` until SIGTERM, and start-up failures.
//! Also asserts that `src/wire` stays free of I/O, runtime and clocks, and
//! that every configuration the repository ships passes `doorman check`,
//! and that docs/configuration.md lists every configuration key.
// These tests are synchronous (no runtime to block), so polling with
// std::thread::sleep is fine here.
#![allow(clippy::disallowed_methods)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[path = "cli/config_reference.rs"]
mod config_reference;
#[path = "cli/design.rs"]
mod design;
#[path = "cli/docs_tests.rs"]
mod docs_tests;
#[path = "cli/fingerprints.rs"]
mod fingerprints;
#[path = "cli/shipped_configs.rs"]
mod shipped_configs;

fn doorman() -> Command {
    Command::new(env!("CARGO_BIN_EXE_doorman"))
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn write_config(dir: &tempfile::TempDir, text: &str) -> PathBuf {
    let path = dir.path().join("proxy.yaml");
    std::fs::File::create(&path).and_then(|mut f| f.write_all(text.as_bytes())).expect("write config");
    path
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port()
}

#[test]
fn version() {
    let out = doorman().arg("--version").output().expect("run doorman");
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), format!("doorman {}", env!("CARGO_PKG_VERSION")));
}

#[test]
fn check_prints_the_effective_config() {
    let out = doorman().args(["check", "--config"]).arg(repo().join("proxy.yaml")).output().expect("run doorman");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    for expected in ["hostname: mx.example.test", "max_errors: 20", "mode: rewrite", "bare_line_endings: reject"] {
        assert!(text.contains(expected), "{expected:?} missing from:\n{text}");
    }
}

#[test]
fn check_reports_file_line_column_and_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_config(
        &dir,
        "hostname: mx.example.test\nlisten:\n  - address: 127.0.0.1:2525\nupstream:\n  address: 127.0.0.1:25\nlimits:\n  max_mesage_size: 10MiB\n",
    );
    let out = doorman().args(["check", "--config"]).arg(&path).output().expect("run doorman");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    let position = format!("{}:7:3: limits", path.display());
    assert!(err.contains(&position), "{position:?} missing from: {err}");
    assert!(err.contains("max_mesage_size"), "{err}");

    let out = doorman().args(["check", "--config", "/nonexistent/proxy.yaml"]).output().expect("run doorman");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/proxy.yaml"));
}

/// A configuration whose scanners and upstream may take longer after the
/// final dot than `limits.final_reply_timeout` is refused, naming the key.
#[test]
fn check_refuses_timeouts_that_exceed_the_final_reply_budget() {
    let dir = tempfile::tempdir().expect("tempdir");
    let base = "hostname: mx.example.test\nlisten:\n  - address: 127.0.0.1:2525\nupstream:\n  address: 127.0.0.1:25\n";
    let too_slow = format!(
        "{base}  data_timeout: 600s\nscanners:\n  clamav:\n    addresses: [\"127.0.0.1:3310\"]\n    timeout: 60s\n"
    );
    let out = doorman().args(["check", "--config"]).arg(write_config(&dir, &too_slow)).output().expect("run doorman");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("limits.final_reply_timeout") && err.contains("12m 10s in all"), "{err}");
    // The defaults fit, with every scanner at its default timeouts.
    let defaults = format!(
        "{base}scanners:\n  clamav:\n    addresses: [\"127.0.0.1:3310\"]\n  spamassassin:\n    addresses: [\"127.0.0.1:783\"]\n  \
         rspamd:\n    addresses: [\"127.0.0.1:11333\"]\n"
    );
    let out = doorman().args(["check", "--config"]).arg(write_config(&dir, &defaults)).output().expect("run doorman");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// Kills the child if the test fails before it exits.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
    }
}

fn read_reply(stream: &mut TcpStream) -> String {
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).expect("read reply");
    line
}

#[test]
fn run_serves_until_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    // Nothing listens on the upstream port: every client is greeted (the
    // upstream is opened late), and gets the 421 when it needs the upstream.
    let config = format!(
        "hostname: mx.example.test\nlisten:\n  - address: 127.0.0.1:{port}\nupstream:\n  address: 127.0.0.1:{}\n  connect_timeout: 1s\ndns:\n  nameservers: [\"127.0.0.1:9\"]\n",
        free_port()
    );
    let path = write_config(&dir, &config);
    let child = doorman().args(["run", "--config"]).arg(&path).stderr(Stdio::piped()).spawn().expect("spawn");
    let mut running = Running(child);
    let start = Instant::now();
    let mut stream = loop {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => break s,
            Err(_) if start.elapsed() < Duration::from_secs(20) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => panic!("doorman did not listen: {e}"),
        }
    };
    assert_eq!(read_reply(&mut stream), "220 mx.example.test ESMTP\r\n");
    stream.write_all(b"EHLO c.example.net\r\n").expect("write");
    assert_eq!(read_reply(&mut stream), "421 4.3.0 mx.example.test Service not available, try again later\r\n");
    let pid = running.0.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().expect("kill").success());
    let start = Instant::now();
    let status = loop {
        if let Some(status) = running.0.try_wait().expect("wait") {
            break status;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "doorman ignored SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0));
    let mut log = String::new();
    running.0.stderr.take().expect("stderr").read_to_string(&mut log).expect("log");
    assert!(log.contains("graceful shutdown"), "{log}");
    assert!(!log.contains("\u{1b}["), "ANSI colours in a non-terminal log");
}

#[test]
fn run_fails_cleanly_when_the_port_is_taken() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_config(
        &dir,
        &format!(
            "hostname: mx.example.test\nlisten:\n  - address: 127.0.0.1:{port}\nupstream:\n  address: 127.0.0.1:25\n\
             dns:\n  nameservers: [\"127.0.0.1:9\"]\n"
        ),
    );
    let out = doorman().args(["run", "--config"]).arg(&path).output().expect("run doorman");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("cannot listen on 127.0.0.1:{port}")));
}

/// The SMTP wire code is pure: no runtime, no sockets, no clocks.
#[test]
fn wire_module_does_no_io() {
    let mut files = vec![repo().join("src/wire.rs")];
    let mut dirs = vec![repo().join("src/wire")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("src/wire").flatten() {
            let p = entry.path();
            if p.is_dir() { dirs.push(p) } else { files.push(p) }
        }
    }
    assert!(files.len() > 5);
    for f in files {
        let text = std::fs::read_to_string(&f).expect("read");
        let code: String = text.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n");
        for banned in ["tokio", "std::net", "std::fs", "std::time", "SystemTime", "Instant"] {
            assert!(!code.contains(banned), "{} uses {banned}", f.display());
        }
    }
}

/// Checklist I104: every timeout runs on the monotonic clock (tokio's and
/// std's `Instant`). The wall clock is read only for dates (`Received:`,
/// `{date}`), for pass expiry shared by replicas through the store, and by
/// the audit's certificate checks.
#[test]
fn only_dates_read_the_wall_clock() {
    let mut dirs = vec![repo().join("src")];
    let mut readers = Vec::new();
    while let Some(dir) = dirs.pop() {
        for p in std::fs::read_dir(&dir).expect("src").flatten().map(|e| e.path()) {
            if p.is_dir() {
                dirs.push(p);
            } else if ["SystemTime", "chrono::", "time::OffsetDateTime"]
                .iter()
                .any(|w| std::fs::read_to_string(&p).expect("read").contains(w))
            {
                readers.push(p.strip_prefix(repo()).expect("in repo").display().to_string());
            }
        }
    }
    let allowed = |f: &String| f == "src/date.rs" || f == "src/shield/store.rs" || f.starts_with("src/audit");
    let others: Vec<_> = readers.iter().filter(|f| !allowed(f)).collect();
    assert!(others.is_empty(), "the wall clock is read outside dates: {others:?}");
    assert!(readers.contains(&"src/date.rs".to_owned()), "the search found nothing: {readers:?}");
}

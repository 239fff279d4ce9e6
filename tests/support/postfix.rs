//! A private Postfix instance, started once per test binary by the project's
//! own `tests/support/postfix.sh` in a temp state dir on free ports, and
//! stopped by a watchdog when the test process exits.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::{free_port, repo};

/// The running instance.
pub struct Postfix {
    pub state: PathBuf,
    pub port: u16,
    pub proxy_port: u16,
}

static POSTFIX: OnceLock<Postfix> = OnceLock::new();
static TRAP: OnceLock<Postfix> = OnceLock::new();
static SMALL: OnceLock<Postfix> = OnceLock::new();

/// The shared instance of this test binary, started on first use.
pub fn postfix() -> &'static Postfix {
    POSTFIX.get_or_init(|| Postfix::start("default", None))
}

/// The open-relay trap: a Postfix whose `mynetworks` trusts 127.0.0.1/32,
/// doorman's own source address. Whatever doorman relays without telling it
/// the real client, it relays for anyone.
pub fn trap() -> &'static Postfix {
    TRAP.get_or_init(|| Postfix::start("trap", Some("127.0.0.1/32")))
}

/// A Postfix with few smtpd processes (`default_process_limit` 10): what
/// slow clients can exhaust.
pub fn small() -> &'static Postfix {
    SMALL.get_or_init(|| Postfix::start_with("small", &[("POSTFIX_PROCESS_LIMIT", "10")]))
}

/// A second, sending Postfix (the `sender` flavour of postfix.sh): it keeps
/// no mail, and its smtp client relays every message, `example.test`
/// included, to `relay` (`relayhost = [127.0.0.1]:port`). 127.0.0.0/8 may
/// relay through its smtpd. Stopped when the test process exits.
pub fn sender(relay: std::net::SocketAddr) -> Postfix {
    let relayhost = relay.to_string();
    Postfix::start_with(
        &format!("sender{}", relay.port()),
        &[
            ("POSTFIX_RELAYHOST", relayhost.as_str()),
            ("POSTFIX_TRUSTED", "127.0.0.0/8"),
            ("POSTFIX_HOSTNAME", "mta.sender.example"),
        ],
    )
}

impl Postfix {
    fn script() -> PathBuf {
        repo().join("tests/support/postfix.sh")
    }

    fn start(flavour: &str, trusted: Option<&str>) -> Self {
        match trusted {
            Some(t) => Self::start_with(flavour, &[("POSTFIX_TRUSTED", t)]),
            None => Self::start_with(flavour, &[]),
        }
    }

    fn start_with(flavour: &str, env: &[(&str, &str)]) -> Self {
        let exe = std::env::current_exe().ok();
        let name = exe.as_deref().and_then(Path::file_stem).and_then(|s| s.to_str()).unwrap_or("test");
        let name = name.rsplit_once('-').map_or(name, |(n, _)| n);
        let state = PathBuf::from(format!("/tmp/doorman-{name}-{flavour}-{}", std::process::id()));
        let pf = Self { state, port: free_port(), proxy_port: free_port() };
        let mut cmd = pf.command("start");
        cmd.envs(env.iter().copied());
        let out = cmd.output().expect("run tests/support/postfix.sh");
        assert!(
            out.status.success(),
            "Postfix did not start (is it installed? run tests/support/install-deps.sh):\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        super::stop_at_exit(
            &Self::script(),
            &[
                ("POSTFIX_STATE".into(), pf.state.display().to_string()),
                ("POSTFIX_PORT".into(), pf.port.to_string()),
                ("POSTFIX_PROXY_PORT".into(), pf.proxy_port.to_string()),
            ],
            &pf.state,
        );
        pf
    }

    fn command(&self, verb: &str) -> Command {
        let mut c = Command::new("bash");
        c.arg(Self::script())
            .arg(verb)
            .env("POSTFIX_STATE", &self.state)
            .env("POSTFIX_PORT", self.port.to_string())
            .env("POSTFIX_PROXY_PORT", self.proxy_port.to_string());
        c
    }

    /// Injects `message` with this instance's `sendmail` (postdrop, pickup,
    /// cleanup, qmgr: the local submission path); returns (success, output).
    pub async fn sendmail(&self, from: &str, to: &str, message: &str) -> (bool, String) {
        use tokio::io::AsyncWriteExt;
        let mut child = tokio::process::Command::new("/usr/sbin/sendmail")
            .arg("-C")
            .arg(self.state.join("etc"))
            .args(["-f", from, "--", to])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("/usr/sbin/sendmail is missing: run tests/support/install-deps.sh");
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(message.as_bytes()).await.expect("write the message to sendmail");
        drop(stdin);
        let out = child.wait_with_output().await.expect("sendmail");
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        (out.status.success(), text)
    }

    /// `127.0.0.1:port` of the plain smtpd.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn maildir(&self) -> PathBuf {
        self.state.join("mail/example.test/new")
    }

    /// Delivered messages whose `Delivered-To:` is `rcpt`.
    pub fn messages_for(&self, rcpt: &str) -> Vec<Vec<u8>> {
        let header = format!("delivered-to: {}", rcpt.to_ascii_lowercase());
        let mut found = Vec::new();
        for entry in std::fs::read_dir(self.maildir()).into_iter().flatten().flatten() {
            let Ok(bytes) = std::fs::read(entry.path()) else {
                continue;
            };
            let text = String::from_utf8_lossy(&bytes).to_ascii_lowercase();
            if text.lines().take_while(|l| !l.is_empty()).any(|l| l == header) {
                found.push(bytes);
            }
        }
        found
    }

    /// Waits until `rcpt` has `n` messages (delivery is asynchronous), then
    /// returns them; fails the test after 15 s.
    pub async fn wait_for(&self, rcpt: &str, n: usize) -> Vec<Vec<u8>> {
        let start = Instant::now();
        loop {
            let found = self.messages_for(rcpt);
            if found.len() >= n {
                return found;
            }
            assert!(
                start.elapsed() < Duration::from_secs(15),
                "{rcpt}: {} of {n} messages delivered after 15 s; postfix log:\n{}",
                found.len(),
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the mail log (written asynchronously by postlogd)
    /// contains `needle`; fails the test after 10 s.
    pub async fn wait_log(&self, needle: &str) -> String {
        let start = Instant::now();
        loop {
            let log = self.log();
            if log.contains(needle) {
                return log;
            }
            assert!(start.elapsed() < Duration::from_secs(10), "{needle:?} not in the Postfix log:\n{log}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The mail log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.state.join("log/postfix.log")).unwrap_or_default()
    }

    /// The last 30 lines of the mail log.
    pub fn log_tail(&self) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

/// The part of a delivered message after the headers Postfix adds
/// (Return-Path, X-Original-To, Delivered-To, Received), with CRLF restored:
/// Postfix's Maildir delivery stores LF line endings.
pub fn strip_mta_headers(delivered: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(delivered);
    let mut lines = text.split('\n').peekable();
    let mut skipping_received = false;
    let mut out = String::new();
    let mut in_trace = true;
    while let Some(line) = lines.next() {
        if in_trace {
            let lower = line.to_ascii_lowercase();
            if skipping_received && (line.starts_with(' ') || line.starts_with('\t')) {
                continue;
            }
            skipping_received = false;
            if lower.starts_with("return-path:")
                || lower.starts_with("x-original-to:")
                || lower.starts_with("delivered-to:")
            {
                continue;
            }
            if lower.starts_with("received:") {
                skipping_received = true;
                continue;
            }
            in_trace = false;
        }
        out.push_str(line);
        if lines.peek().is_some() {
            out.push_str("\r\n");
        }
    }
    out.into_bytes()
}

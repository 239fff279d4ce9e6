//! Real scanner daemons for the tests: clamd (the project's signature
//! database), spamd (Debian's rules, no network tests) and rspamd, each
//! started once per test binary by the project's own scripts
//! (`tests/support/{clamd,spamd,rspamd}.sh`) in a temp state dir on a free
//! loopback port, and stopped by a watchdog when the test process exits.
//! A missing daemon fails the test with a message naming
//! `tests/support/install-deps.sh`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Instant;

use super::{free_port, repo};

/// clamd's StreamMaxLength in the tests: small, so the size-limit path is
/// cheap to reach.
pub const CLAMD_STREAM_MAX: usize = 1024 * 1024;

/// One running daemon.
pub struct Daemon {
    /// Its state dir (config, log, sockets).
    pub state: PathBuf,
    /// Its TCP port on 127.0.0.1.
    pub port: u16,
    /// How long its start took.
    pub started_in: std::time::Duration,
    script: &'static str,
    prefix: &'static str,
    extra_env: Vec<(&'static str, String)>,
}

static CLAMD: OnceLock<Daemon> = OnceLock::new();
static SPAMD: OnceLock<Daemon> = OnceLock::new();
static RSPAMD: OnceLock<Daemon> = OnceLock::new();

/// The shared clamd of this test binary (StreamMaxLength 1M).
pub fn clamd() -> &'static Daemon {
    CLAMD.get_or_init(|| Daemon::start("clamd", "CLAMD", vec![("CLAMD_STREAM_MAX", CLAMD_STREAM_MAX.to_string())]))
}

/// The shared spamd of this test binary.
pub fn spamd() -> &'static Daemon {
    SPAMD.get_or_init(|| Daemon::start("spamd", "SPAMD", Vec::new()))
}

/// The shared rspamd of this test binary.
pub fn rspamd() -> &'static Daemon {
    RSPAMD.get_or_init(|| Daemon::start("rspamd", "RSPAMD", Vec::new()))
}

impl Daemon {
    fn start(script: &'static str, prefix: &'static str, extra_env: Vec<(&'static str, String)>) -> Self {
        // Short: clamd's unix socket lives in it (sun_path is 108 bytes).
        let state = PathBuf::from(format!("/tmp/doorman-{script}-{}", std::process::id()));
        let d = Self { state, port: free_port(), started_in: std::time::Duration::ZERO, script, prefix, extra_env };
        let t0 = Instant::now();
        let out = d.command("start").output().unwrap_or_else(|e| panic!("cannot run tests/support/{script}.sh: {e}"));
        assert!(
            out.status.success(),
            "{script} did not start (is it installed? run tests/support/install-deps.sh):\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        super::stop_at_exit(&d.script_path(), &d.env(), &d.state);
        Self { started_in: t0.elapsed(), ..d }
    }

    fn script_path(&self) -> PathBuf {
        repo().join(format!("tests/support/{}.sh", self.script))
    }

    fn env(&self) -> Vec<(String, String)> {
        let mut env = vec![
            (format!("{}_STATE", self.prefix), self.state.display().to_string()),
            (format!("{}_PORT", self.prefix), self.port.to_string()),
        ];
        env.extend(self.extra_env.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
        env
    }

    fn command(&self, verb: &str) -> Command {
        let mut c = Command::new("bash");
        c.arg(self.script_path()).arg(verb).envs(self.env());
        c
    }

    /// The output of the daemon's script run with `verb` (for example
    /// rspamd's `actions`); fails the test if the script fails.
    pub fn script_output(&self, verb: &str) -> String {
        let out = self.command(verb).output().unwrap_or_else(|e| panic!("cannot run {}: {e}", self.script));
        assert!(out.status.success(), "{}.sh {verb} failed:\n{}", self.script, String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `127.0.0.1:port`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// clamd's unix socket.
    pub fn unix_socket(&self) -> PathBuf {
        self.state.join("clamd.sock")
    }

    /// The tail of the daemon's log, for assertion messages.
    pub fn log_tail(&self, file: &str) -> String {
        let text = std::fs::read_to_string(self.state.join(file)).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// The state dir.
    pub fn state(&self) -> &Path {
        &self.state
    }
}

//! The real `doorman` binary under a configuration file, for signal tests
//! (SIGHUP, SIGTERM). Killed on drop; then, in the relay tests, the oracle
//! judges what it sent upstream (`super::oracle`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::free_port;
use super::oracle::Oracle;

/// A running doorman process.
pub struct Binary {
    pub addr: SocketAddr,
    pub admin: SocketAddr,
    pub config: PathBuf,
    /// doorman's stderr (its log).
    pub log: PathBuf,
    child: Child,
    oracle: Option<Oracle>,
    _dir: tempfile::TempDir,
}

impl Binary {
    /// Writes a config (listen and admin on free ports, then `body`) and starts doorman.
    pub async fn start(upstream: &str, extra: &str) -> Self {
        Self::start_listening(upstream, &format!("  - address: 127.0.0.1:{}\n", free_port()), extra).await
    }

    /// [`Binary::start`] with the items of `listen:` given (`addr` is the first).
    pub async fn start_listening(upstream: &str, listen: &str, extra: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let admin = free_port();
        let config = dir.path().join("proxy.yaml");
        let text = Self::text(listen, admin, upstream, extra);
        let identity = doorman::Config::from_yaml(&text, &config).map(|c| c.upstream.client_identity);
        let mut oracle = Oracle::new(identity.unwrap_or_default());
        let through = oracle.as_ref().map_or_else(|| upstream.to_owned(), |o| o.upstream(upstream));
        let b = Self::write(&config, listen, admin, &through, extra);
        let log = dir.path().join("doorman.log");
        let log_file = std::fs::File::create(&log).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_doorman"))
            .args(["run", "--config"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::from(log_file))
            .spawn()
            .expect("spawn doorman");
        let addrs = listen_addrs(listen);
        let addr = *addrs.first().expect("a listen address");
        if let Some(o) = &mut oracle {
            o.listening(&addrs);
        }
        let start = Instant::now();
        while std::net::TcpStream::connect(b).is_err() {
            assert!(start.elapsed() < Duration::from_secs(10), "doorman's admin endpoint did not listen");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Self { addr, admin: b, config, log, child, oracle, _dir: dir }
    }

    fn text(listen: &str, admin: u16, upstream: &str, extra: &str) -> String {
        format!(
            "hostname: mx.example.test\nlisten:\n{listen}upstream:\n  address: {upstream}\n\
             admin:\n  address: 127.0.0.1:{admin}\n{}{extra}\n",
            super::proxy::default_dns(extra)
        )
    }

    fn write(path: &PathBuf, listen: &str, admin: u16, upstream: &str, extra: &str) -> SocketAddr {
        std::fs::write(path, Self::text(listen, admin, upstream, extra)).expect("write config");
        format!("127.0.0.1:{admin}").parse().expect("addr")
    }

    /// Rewrites the configuration file (same ports) for a reload.
    pub fn rewrite(&self, upstream: &str, extra: &str) {
        self.rewrite_listening(&format!("  - address: {}\n", self.addr), upstream, extra);
    }

    /// [`Binary::rewrite`] with the items of `listen:` given.
    pub fn rewrite_listening(&self, listen: &str, upstream: &str, extra: &str) {
        let through = self.oracle.as_ref().map_or_else(|| upstream.to_owned(), |o| o.upstream(upstream));
        Self::write(&self.config, listen, self.admin.port(), &through, extra);
    }

    /// Waives the oracle's count check for this doorman (byte-level checks
    /// stay), saying why.
    pub fn skip_count(&mut self, why: &'static str) {
        if let Some(o) = &mut self.oracle {
            o.skip_count(why);
        }
    }

    /// The log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the log contains `needle` (at most [`super::PATIENCE`]);
    /// returns the log.
    pub async fn wait_log(&self, needle: &str) -> String {
        super::eventually(&format!("{needle:?} in doorman's log"), || self.log_text().contains(needle)).await;
        self.log_text()
    }

    /// A line of `/proc/<pid>/status` in KiB (`VmHWM`: peak RSS, `VmRSS`).
    pub fn status_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).expect("/proc status");
        let line = status.lines().find(|l| l.starts_with(&format!("{field}:"))).expect("field in /proc status");
        line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).expect("a number of kB")
    }

    /// The process id (for `/proc/<pid>/fd`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal by name (`HUP`, `TERM`).
    pub fn signal(&self, name: &str) {
        let ok = Command::new("kill").args([&format!("-{name}"), &self.child.id().to_string()]).status();
        assert!(ok.is_ok_and(|s| s.success()), "kill -{name} failed");
    }

    /// Waits for the process to exit (at most `limit`).
    pub async fn wait(&mut self, limit: Duration) -> ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(start.elapsed() < limit, "doorman did not exit within {limit:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(o) = &mut self.oracle {
            o.check(true);
        }
    }
}

/// The addresses of the items of `listen:`.
fn listen_addrs(listen: &str) -> Vec<SocketAddr> {
    listen.split("address: ").skip(1).filter_map(|rest| rest.split_whitespace().next()?.parse().ok()).collect()
}

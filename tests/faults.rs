//! The fault matrix (issue #13), the rows that need the real process: the
//! scanners (clamd, spamd, rspamd) refusing, stalling, closing mid-reply or
//! answering garbage, and the local faults (the spool directory gone, the
//! spool budget, SIGHUP and SIGTERM mid-session). Each row runs the real
//! `doorman` binary with a spool directory of its own, in front of Postfix's
//! `smtp-sink` behind a recording tap; after the row the process must hold
//! no more file descriptors than before it, none of them a spool file, and
//! the spool directory must be empty. The upstream, client and in-memory
//! local rows are in `src/session/tests/fault_matrix/`.
//! `cargo test --test faults -- --nocapture` prints the tables.

mod support;

#[path = "faults/local.rs"]
mod local;
#[path = "faults/scanners.rs"]
mod scanners;

use std::path::Path;
use std::time::{Duration, Instant};

use support::binary::Binary;
use support::client::Client;
use support::sink::Sink;
use support::tap::Tap;

/// One cell of the table.
pub struct Cell {
    pub stage: &'static str,
    pub fault: String,
    pub reply: String,
    pub saw: String,
    pub leak: String,
    pub pass: bool,
}

/// Prints one side's table, then fails the test if any cell failed.
pub fn report(side: &str, cells: &[Cell]) {
    let mut out = format!("\nfault matrix, {side} side: {} cells\n", cells.len());
    out.push_str(&format!(
        "{:<10} {:<28} {:<52} {:<9} {:<12} result\n",
        "stage", "fault", "client reply", "upstream", "leak"
    ));
    for c in cells {
        let result = if c.pass { "ok" } else { "FAIL" };
        out.push_str(&format!(
            "{:<10} {:<28} {:<52} {:<9} {:<12} {result}\n",
            c.stage, c.fault, c.reply, c.saw, c.leak
        ));
    }
    let failed = cells.iter().filter(|c| !c.pass).count();
    out.push_str(&format!("{side}: {} ok, {failed} failed\n", cells.len() - failed));
    println!("{out}");
    assert_eq!(failed, 0, "{side}: cells failed (the table above)");
}

/// A row's surroundings: the real upstream (smtp-sink) behind a tap, a
/// spool directory, doorman, and its file descriptors before the row.
pub struct Setup {
    pub d: Binary,
    pub tap: Tap,
    pub spool: tempfile::TempDir,
    _sink: Sink,
    fds: usize,
}

impl Setup {
    /// Starts everything; `extra` is more YAML (`{spool}` is replaced by
    /// the spool directory; its `data:` section is given here).
    pub async fn start(extra: &str, data: &str) -> Self {
        let sink = Sink::start().await;
        let tap = Tap::start(&sink.addr.to_string()).await;
        let spool = tempfile::tempdir().expect("spool dir");
        let yaml = format!(
            "data:\n  spool_memory_limit: 1KiB\n  spool_dir: {}\n{data}{extra}",
            spool.path().join("s").display()
        );
        std::fs::create_dir(spool.path().join("s")).expect("spool subdir");
        let d = Binary::start(&tap.addr(), &yaml).await;
        let fds = fds(d.pid(), spool.path()).0;
        Self { d, tap, spool, _sink: sink, fds }
    }

    /// The spool directory doorman writes to.
    pub fn spool_dir(&self) -> std::path::PathBuf {
        self.spool.path().join("s")
    }

    /// After the row: the upstream's connections closed, then what reached
    /// it and the leak check (descriptors back to the count before the
    /// row, no spool file open, the spool directory empty).
    pub async fn verdict(&self) -> (String, String) {
        self.tap.wait_all_closed().await;
        let saw = saw(&self.tap.sent_text());
        let start = Instant::now();
        loop {
            let (open, spool) = fds(self.d.pid(), self.spool.path());
            let files = std::fs::read_dir(self.spool_dir()).map_or(0, |d| d.count());
            if open <= self.fds && spool == 0 && files == 0 {
                return (saw, "none".into());
            }
            if start.elapsed() > support::PATIENCE {
                return (saw, format!("fds {open}/{}, spool fds {spool}, files {files}", self.fds));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The descriptors a process holds, and how many of them are under `spool`
/// (a spool file, deleted or not).
pub fn fds(pid: u32, spool: &Path) -> (usize, usize) {
    let dir = format!("/proc/{pid}/fd");
    let links: Vec<_> =
        std::fs::read_dir(dir).map(|d| d.flatten().map(|e| std::fs::read_link(e.path())).collect()).unwrap_or_default();
    let in_spool = links.iter().flatten().filter(|l| l.starts_with(spool)).count();
    (links.len(), in_spool)
}

/// What reached the upstream: `Nothing` (no MAIL), `Envelope` (no final
/// dot), `One` (one message), or what is wrong.
pub fn saw(sent: &str) -> String {
    let ends = sent.matches("\r\n.\r\n").count() + sent.matches(" LAST\r\n").count();
    match (sent.contains("MAIL FROM"), ends) {
        (false, 0) => "Nothing".into(),
        (true, 0) => "Envelope".into(),
        (true, 1) => "One".into(),
        (_, n) => format!("{n} messages"),
    }
}

/// The message of every row: larger than the spool's memory limit.
pub fn message() -> String {
    let headers = support::headers("bob@example.test", "fault matrix");
    format!("{headers}\r\n{}", "fault-matrix-body line of text\r\n".repeat(150))
}

/// EHLO, MAIL, RCPT, DATA, each with its positive reply; the first reply
/// that is not, as text.
pub async fn open_data(c: &mut Client) -> Result<(), String> {
    for (line, ok) in [
        ("EHLO client.example.net", 250),
        ("MAIL FROM:<alice@sender.example>", 250),
        ("RCPT TO:<bob@example.test>", 250),
        ("DATA", 354),
    ] {
        let r = c.cmd(line).await;
        if r.code() != ok {
            return Err(format!("{line} -> {}", short(&r.to_string())));
        }
    }
    Ok(())
}

/// The first line of a reply, cut to fit the table.
pub fn short(text: &str) -> String {
    text.lines().next().unwrap_or_default().chars().take(40).collect()
}

/// A loopback address where nothing listens.
pub fn closed_port() -> String {
    format!("127.0.0.1:{}", support::free_port())
}

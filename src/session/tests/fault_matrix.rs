//! The fault matrix (issue #13): one table per side (upstream, client,
//! local), each row a stage × fault with the reply the client must get,
//! what may have reached the upstream, and a leak check. FAULT INJECTION
//! ONLY: the upstream is the scripted one of `upstream.rs`, the client the
//! harness's; the scanner and signal rows run against the real binary in
//! `tests/faults.rs`. Every row runs in its own task under paused time, so a
//! hang is a failed cell (the harness gives up after a virtual day), never a
//! hung run. `cargo test --lib fault_matrix -- --nocapture` prints the tables.

use std::sync::atomic::Ordering;

use super::harness::{Harness, Running};
use super::upstream::Recorded;

mod client_side;
mod local_side;
mod upstream_side;

/// The message of every row: larger than the spool's memory limit, so it
/// spills to a temp file in the row's spool directory.
pub(super) fn message() -> String {
    format!("Subject: fault matrix\r\n\r\n{}", "fault-matrix-body line of text\r\n".repeat(150))
}

/// The configuration every row adds: a small in-memory spool and a spool
/// directory of its own.
pub(super) fn spool_yaml(dir: &tempfile::TempDir, data: &str) -> String {
    let own =
        if data.contains("spool_dir") { String::new() } else { format!("  spool_dir: {}\n", dir.path().display()) };
    format!("data:\n  spool_memory_limit: 1KiB\n{own}{data}")
}

/// What may have reached the upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Saw {
    /// No MAIL (at most a connection and EHLO).
    Nothing,
    /// MAIL and RCPT, perhaps some content, but no final dot.
    Envelope,
    /// Exactly one message (one final dot).
    One,
}

impl Saw {
    /// What the upstream's record shows, or what is wrong with it.
    pub(super) fn of(up: &Recorded) -> Result<Self, String> {
        let all = up.all();
        let ends = all.matches("\r\n.\r\n").count() + all.matches(" LAST\r\n").count();
        match (all.contains("MAIL FROM"), ends) {
            (false, 0) => Ok(Self::Nothing),
            (true, 0) => Ok(Self::Envelope),
            (true, 1) => Ok(Self::One),
            (_, n) => Err(format!("{n} ends of data")),
        }
    }
}

/// The reply a row expects: at which client command the fault shows, and
/// the code there (an exact code, or 4 for any 4xx); `None`: every reply
/// positive, the message (if any) taken with 250.
pub(super) type Want = Option<(&'static str, u16)>;

/// One cell's outcome, for the table.
pub(super) struct Cell {
    pub(super) stage: &'static str,
    pub(super) fault: &'static str,
    pub(super) reply: String,
    pub(super) saw: String,
    pub(super) leak: String,
    pub(super) pass: bool,
}

/// Compares what a row saw with what it expects.
pub(super) fn judge(want: Want, got: &Option<(&'static str, u16, String)>) -> bool {
    match (want, got) {
        (None, None) => true,
        (Some((at, code)), Some((cmd, got, _))) => {
            at == *cmd && if code < 10 { got / 100 == code } else { *got == code }
        }
        _ => false,
    }
}

/// The client-reply column.
pub(super) fn show(got: &Option<(&'static str, u16, String)>) -> String {
    match got {
        None => "all positive".into(),
        Some((cmd, _, text)) => format!("{cmd} -> {text}"),
    }
}

/// The client's commands, each with the reply that lets it go on (`.`:
/// the message and its final dot).
pub(super) const DATA_FLOW: &[(&str, u16)] = &[
    ("EHLO client.example.net", 250),
    ("MAIL FROM:<alice@sender.example>", 250),
    ("RCPT TO:<bob@example.test>", 250),
    ("DATA", 354),
    (".", 250),
    ("QUIT", 221),
];

/// A transaction the client resets instead of sending a message.
pub(super) const RSET_FLOW: &[(&str, u16)] = &[
    ("EHLO client.example.net", 250),
    ("MAIL FROM:<alice@sender.example>", 250),
    ("RCPT TO:<bob@example.test>", 250),
    ("RSET", 250),
    ("QUIT", 221),
];

/// Runs `flow` until a reply other than the one that lets it go on (then
/// QUIT), or a close; returns that command's verb and reply.
pub(super) async fn drive(s: &mut Running, flow: &[(&'static str, u16)]) -> Option<(&'static str, u16, String)> {
    let message = message();
    for &(cmd, ok) in flow {
        let bytes = if cmd == "." { format!("{message}.\r\n") } else { format!("{cmd}\r\n") };
        let verb = cmd.split([' ', ':']).next().unwrap_or(cmd);
        if !s.client.try_send(bytes.as_bytes()).await {
            return Some((verb, 0, "closed".into()));
        }
        match s.client.try_reply().await {
            None => return Some((verb, 0, "closed".into())),
            Some(r) if r.code() != ok => {
                let _ = s.client.try_send(b"QUIT\r\n").await;
                return Some((verb, r.code(), short(&r.to_string())));
            }
            Some(_) => {}
        }
    }
    None
}

/// The first line of a reply, cut to fit the table.
pub(super) fn short(text: &str) -> String {
    text.lines().next().unwrap_or_default().chars().take(44).collect()
}

/// Waits for the session to end and checks for leaks: the spool budget is
/// back to zero and the spool directory is empty.
pub(super) async fn end(s: Running, dir: &tempfile::TempDir) -> (Recorded, String) {
    let spooled = s.spooled.clone();
    let up = s.hang_up().await;
    let left = spooled.load(Ordering::SeqCst);
    let files = std::fs::read_dir(dir.path()).map(|d| d.count()).unwrap_or(usize::MAX);
    let leak = if left == 0 && files == 0 { "none".into() } else { format!("{left} B spooled, {files} files") };
    (up, leak)
}

/// A harness with the row's spool (and more `data:` keys).
pub(super) fn harness(dir: &tempfile::TempDir, data: &str) -> Harness {
    Harness::new().yaml(&spool_yaml(dir, data))
}

/// Prints one side's table, then fails the test if any cell failed.
pub(super) fn report(side: &str, cells: &[Cell]) {
    let mut out = format!("\nfault matrix, {side} side: {} cells\n", cells.len());
    out.push_str(&format!(
        "{:<10} {:<22} {:<58} {:<9} {:<7} {}\n",
        "stage", "fault", "client reply", "upstream", "leak", "result"
    ));
    for c in cells {
        let result = if c.pass { "ok" } else { "FAIL" };
        out.push_str(&format!("{:<10} {:<22} {:<58} {:<9} {:<7} {result}\n", c.stage, c.fault, c.reply, c.saw, c.leak));
    }
    let failed = cells.iter().filter(|c| !c.pass).count();
    out.push_str(&format!("{side}: {} ok, {failed} failed\n", cells.len() - failed));
    println!("{out}");
    assert_eq!(failed, 0, "{side}: cells failed (the table above)");
}

/// The cell of a row whose task panicked.
pub(super) fn panicked(stage: &'static str, fault: &'static str, e: &tokio::task::JoinError) -> Cell {
    let reply = format!("panicked: {e}");
    Cell { stage, fault, reply, saw: "?".into(), leak: "?".into(), pass: false }
}

/// What reached the upstream is within what may have: "MAIL and RCPT, no
/// final dot" allows less.
pub(super) fn saw_fits(saw: Option<&Saw>, want: Saw) -> bool {
    saw == Some(&want) || (want == Saw::Envelope && saw == Some(&Saw::Nothing))
}

/// A cell from a row's outcome.
pub(super) fn cell(
    (stage, fault): (&'static str, &'static str),
    want: (Want, Saw),
    got: Option<(&'static str, u16, String)>,
    (up, leak): (Recorded, String),
) -> Cell {
    let saw = Saw::of(&up);
    let pass = judge(want.0, &got) && saw_fits(saw.as_ref().ok(), want.1) && leak == "none";
    let saw = match saw {
        Ok(s) => format!("{s:?}"),
        Err(e) => e,
    };
    let mut reply = show(&got);
    if !pass {
        reply.push_str(&format!(" (want {:?}, {:?})", want.0, want.1));
    }
    Cell { stage, fault, reply, saw, leak, pass }
}

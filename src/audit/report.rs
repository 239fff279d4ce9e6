//! The report: one [`View`] of the server as audited directly and, with
//! `--config`, one through doorman; what it serialises to (`--format
//! json`, schema in docs/audit.md) and the exit code.

use serde::Serialize;

use super::finding::{Finding, Severity, worst};
use super::findings::judge;
use super::transcript::{Exchange, Transcript};

/// The version of the JSON schema.
pub const SCHEMA: u32 = 1;

/// Exit code: nothing worse than low.
pub const EXIT_OK: u8 = 0;
/// Exit code: the worst finding is medium.
pub const EXIT_MEDIUM: u8 = 1;
/// Exit code: the worst finding is high.
pub const EXIT_HIGH: u8 = 2;
/// Exit code: the audit could not run (usage, configuration, no server).
pub const EXIT_UNAUDITED: u8 = 3;

/// What a client is told for one command, or the greeting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SurfaceItem {
    /// `banner`, `EHLO`, `HELP`, `VRFY <address>`, `EXPN <address>`.
    pub item: String,
    /// The reply's lines as sent, code included, escaped.
    pub lines: Vec<String>,
}

/// The audit of one address.
#[derive(Debug, Clone, Serialize)]
pub struct View {
    /// `host:port` audited.
    pub address: String,
    /// Why the audit could not run, if it could not.
    pub error: Option<String>,
    /// The worst severity found (`null` when nothing was found).
    pub worst: Option<Severity>,
    /// Findings, worst first.
    pub findings: Vec<Finding>,
    /// What a client sees: banner, EHLO, HELP, VRFY, EXPN.
    pub surface: Vec<SurfaceItem>,
}

impl View {
    /// Judges a transcript; `now` is Unix seconds.
    pub fn judged(t: &Transcript, now: i64) -> Self {
        let findings = judge(t, now);
        Self { address: t.target.clone(), error: None, worst: worst(&findings), findings, surface: surface(t) }
    }

    /// An audit that could not run.
    pub fn failed(address: String, error: String) -> Self {
        Self { address, error: Some(error), worst: None, findings: Vec::new(), surface: Vec::new() }
    }

    /// The exit code this view calls for.
    pub fn exit_code(&self) -> u8 {
        match (self.error.is_some(), self.worst) {
            (true, _) => EXIT_UNAUDITED,
            (_, Some(Severity::High)) => EXIT_HIGH,
            (_, Some(Severity::Medium)) => EXIT_MEDIUM,
            _ => EXIT_OK,
        }
    }
}

fn surface(t: &Transcript) -> Vec<SurfaceItem> {
    let s = &t.surface;
    let mut items = vec![SurfaceItem { item: "banner".into(), lines: s.greeting.display_lines() }];
    let mut add = |item: String, e: &Option<Exchange>| {
        if let Some(e) = e {
            items.push(SurfaceItem { item, lines: e.reply.display_lines() });
        }
    };
    add("EHLO".into(), &s.ehlo);
    add("HELO".into(), &s.helo);
    add("HELP".into(), &s.help);
    for e in &s.vrfy_known {
        add(e.command.clone(), &Some(e.clone()));
    }
    add(s.vrfy_unknown.as_ref().map_or_else(String::new, |e| e.command.clone()), &s.vrfy_unknown);
    add(s.expn.as_ref().map_or_else(String::new, |e| e.command.clone()), &s.expn);
    items
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// [`SCHEMA`].
    pub schema: u32,
    /// The target as given.
    pub target: String,
    /// The process's exit code: from `doorman` when present (what clients
    /// will see once doorman is in front), else from `direct`.
    pub exit_code: u8,
    /// The server, audited directly.
    pub direct: View,
    /// The server through doorman (`--config`), in-process on loopback.
    pub doorman: Option<View>,
}

impl Report {
    /// A report; the exit code follows the view clients will see.
    pub fn new(target: String, direct: View, doorman: Option<View>) -> Self {
        let exit_code = doorman.as_ref().unwrap_or(&direct).exit_code();
        Self { schema: SCHEMA, target, exit_code, direct, doorman }
    }
}

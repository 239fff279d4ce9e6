//! `doorman audit HOST:PORT`: what a mail server tells the world, and what
//! doorman would change. It connects as a client, read-only (never DATA,
//! never AUTH), records what the server says, and judges it.
//!
//! The probing and the judging are apart. Probes do I/O, each step bounded
//! in time and bytes; judging is pure and unit-tested on recorded
//! transcripts.
//!
//! - [`plan`]: the target, the names and addresses to send, the limits.
//! - [`conn`]: one bounded client connection; STARTTLS that accepts any certificate.
//! - [`raw_reply`]: replies as received, however malformed (pure).
//! - [`probe`]: the probes (main session, STARTTLS, early talker, pipelining).
//! - [`transcript`]: what the probes recorded (pure data).
//! - [`cert`]: certificate facts and name matching (pure).
//! - [`findings`]: transcript → findings (pure).
//! - [`finding`]: checks, severities, findings.
//! - [`compare`]: doorman in-process on loopback for `--config`.
//! - [`report`]: the report, its JSON, the exit code.
//! - [`render`]: the table for people.
//! - [`progress`]: the progress line.
//! - [`cli`]: the subcommand.

pub mod cert;
pub mod cli;
pub mod compare;
pub mod conn;
pub mod finding;
pub mod findings;
pub mod plan;
pub mod probe;
pub mod progress;
pub mod raw_reply;
pub mod render;
pub mod report;
pub mod transcript;

pub use cli::{AuditArgs, main, usage_error};

use crate::config::Config;
use plan::Plan;
use progress::Progress;
use report::{Report, View};

/// One audit to run.
#[derive(Debug)]
pub struct Request {
    /// The server and how to probe it.
    pub plan: Plan,
    /// doorman's configuration for the comparison, if any.
    pub config: Option<Config>,
    /// The current time, Unix seconds (certificate validity).
    pub now: i64,
}

/// Audits the server, and with a configuration the same server through doorman.
pub async fn run(req: Request, progress: &mut Progress) -> Report {
    let target = req.plan.target.addr();
    let direct = match probe::probe(&req.plan, progress).await {
        Ok(t) => t,
        Err(e) => return Report::new(target.clone(), View::failed(target, e), None),
    };
    let view = View::judged(&direct, req.now);
    let Some(config) = req.config else {
        return Report::new(target, view, None);
    };
    // Through doorman the same addresses are probed, and the certificate
    // must name doorman's host name: that is what clients connect to.
    let domain = direct.users.unknown.rsplit_once('@').map(|(_, d)| d.to_owned());
    let hostname = config.hostname.to_string();
    let doorman = match compare::InProcess::start(config).await {
        Ok(server) => {
            let mut plan = req.plan.clone();
            plan.target = plan::Target { host: server.addr.ip().to_string(), port: server.addr.port() };
            plan.domain = domain.or(plan.domain);
            plan.tls_name = Some(hostname);
            let result = probe::probe(&plan, progress).await;
            server.stop().await;
            match result {
                Ok(t) => View::judged(&t, req.now),
                Err(e) => View::failed(plan.target.addr(), e),
            }
        }
        Err(e) => View::failed("doorman".into(), e),
    };
    Report::new(target, view, Some(doorman))
}

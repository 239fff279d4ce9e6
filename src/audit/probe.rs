//! The probing: the I/O half of the audit. Each probe opens its own
//! connection ([`super::conn::Conn`], bounded in time and size) and records
//! what it saw in a [`Transcript`]; judging is `findings`' job.
//!
//! Order: the main session (greeting, EHLO, HELP, VRFY, EXPN, RCPT), then
//! STARTTLS, then the early talker and pipelining probes. A probe that
//! cannot finish is recorded as a failure and the others still run.

mod session;
mod starttls;
mod sync;

use super::plan::Plan;
use super::progress::Progress;
use super::transcript::{ProbeFailure, Transcript};

/// Probes the server of `plan`.
///
/// # Errors
/// The server could not be reached, did not greet, or refused the session.
pub async fn probe(plan: &Plan, progress: &mut Progress) -> Result<Transcript, String> {
    let target = plan.target.addr();
    progress.step(&format!("{target}: connecting"));
    let main = session::run(plan, progress).await?;
    let mut failures: Vec<ProbeFailure> = main.failure.into_iter().collect();
    let mut t = Transcript {
        target: target.clone(),
        users: main.users,
        surface: main.surface,
        enumeration: main.enumeration,
        tls: None,
        early_talker: None,
        pipelining: None,
        failures: Vec::new(),
    };
    if t.surface.ehlo_reply().is_some() {
        progress.step(&format!("{target}: STARTTLS"));
        let offered = t.surface.keywords().iter().any(|(k, _)| k == "STARTTLS");
        match starttls::run(plan, offered, &plan.tls_name(&t.surface)).await {
            Ok(outcome) => t.tls = Some(outcome),
            Err(error) => failures.push(ProbeFailure { probe: "STARTTLS", error }),
        }
    }
    if t.surface.greeting.is_complete() {
        progress.step(&format!("{target}: early talker"));
        match sync::early_talker(plan).await {
            Ok(p) => t.early_talker = Some(p),
            Err(error) => failures.push(ProbeFailure { probe: "early-talker", error }),
        }
        progress.step(&format!("{target}: pipelining before PIPELINING"));
        match sync::pipelining(plan).await {
            Ok(p) => t.pipelining = Some(p),
            Err(error) => failures.push(ProbeFailure { probe: "pipelining", error }),
        }
    }
    t.failures = failures;
    Ok(t)
}

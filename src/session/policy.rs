//! The HELO/EHLO and client policy inside a session: connect-time checks run
//! in the background while the greeting goes out, findings are kept for the
//! whole connection (sticky: a client refused at EHLO cannot pass with HELO),
//! and refusals are delivered at RCPT by default (`helo.delay_reject`), so
//! clients that mishandle HELO rejections still get a clear 5xx and the log
//! shows sender and recipients. Exempt networks and authenticated sessions
//! skip the rules.

use crate::tls::Io;
use crate::upstream::Dialer;
use tokio::task::JoinHandle;

use super::Session;
use crate::metrics::{HeloRuleLabels, metrics};
use crate::policy::helo::{Action, ClientVerdict, Finding, Rule, decisive};
use crate::wire::Reply;

/// Connect-time checks (PTR, FCrDNS, DNSBL) still running.
pub(super) type ClientCheck = Option<JoinHandle<ClientVerdict>>;

/// The findings of one session: the first of each rule and action, and how
/// often each fired since. A client that repeats a bad EHLO a hundred
/// thousand times grows nothing and logs one line per rule.
#[derive(Debug, Default)]
pub(super) struct Findings {
    kept: Vec<Finding>,
    /// How often `kept[i]` fired, the first time included.
    counts: Vec<u32>,
}

impl Findings {
    /// Keeps and logs `f` unless its rule and action are known; counts it.
    fn add(&mut self, f: Finding) {
        match self.kept.iter().position(|k| k.rule == f.rule && k.action == f.action) {
            Some(i) => self.counts[i] = self.counts[i].saturating_add(1),
            None => {
                f.log();
                self.kept.push(f);
                self.counts.push(1);
            }
        }
    }

    /// The finding to act on, if any.
    fn decisive(&self) -> Option<&Finding> {
        decisive(&self.kept)
    }

    /// No rule fired.
    pub(super) fn is_empty(&self) -> bool {
        self.kept.is_empty()
    }

    /// A finding refuses this client's mail.
    pub(super) fn blocking(&self) -> bool {
        self.decisive().is_some()
    }

    /// The refusal of `rule`, if it fired and blocks.
    pub(super) fn refusal_for(&self, rule: Rule) -> Option<Reply> {
        self.kept.iter().find(|f| f.rule == rule && f.blocks()).map(Finding::reply)
    }

    /// At the end of the session: one line per rule that fired more than once.
    pub(super) fn log_repeats(&self) {
        for (f, &count) in self.kept.iter().zip(&self.counts).filter(|(_, c)| **c > 1) {
            tracing::info!(
                rule = f.rule.as_str(),
                action = f.action.as_str(),
                count,
                "helo policy: rule fired repeatedly"
            );
        }
    }
}

impl<S: Io, D: Dialer> Session<S, D> {
    /// The rules apply to this session.
    pub(super) fn policy_applies(&self) -> bool {
        !self.helo_exempt && !self.authenticated
    }

    /// The client sent its first command before the greeting and may stay
    /// (`early_talker` at `monitor` or `off`): that rule judged it, so the
    /// command is not also a break of command synchronization.
    pub(super) fn talked_early(&mut self, finding: Option<Finding>) {
        self.talked_early = true;
        self.record(finding.into_iter().collect());
    }

    /// Counts findings; logs and keeps each rule's first.
    pub(super) fn record(&mut self, found: Vec<Finding>) {
        for f in found {
            count(&f);
            self.findings.add(f);
        }
    }

    /// The refusal this session has earned so far, if any. Waits for the
    /// connect-time checks (bounded by the DNS timeout) the first time.
    pub(super) async fn refusal(&mut self) -> Option<Reply> {
        self.finish_client_check().await;
        if !self.policy_applies() {
            return None;
        }
        self.findings.decisive().map(Finding::reply)
    }

    /// Waits for the connect-time checks (once), recording their findings
    /// and the client's verified PTR name.
    pub(super) async fn finish_client_check(&mut self) {
        if let Some(task) = self.client_check.take() {
            let verdict = task.await.unwrap_or_default();
            if verdict.allowlisted {
                // An allowlist vouches for it: no rule applies (as for `helo.exempt`).
                self.helo_exempt = true;
            }
            self.record(verdict.findings);
            self.client_name = verdict.name;
        }
    }

    /// The client passed the greeting delay and the connect-time tests, and
    /// no rule fired at all, not even one in `monitor` (a pass earned while
    /// the rules only watch must not outlive the switch to `reject`): it goes
    /// into the pass cache (docs/shield.md). Called at its first MAIL that
    /// reaches the upstream.
    pub(super) async fn remember_pass(&mut self) {
        if self.passed || !self.policy_applies() || !self.findings.is_empty() || self.sync_violations > 0 {
            return;
        }
        self.passed = true;
        self.shield.remember_pass(self.client.peer.ip(), self.client_name.as_deref(), &self.config).await;
    }

    /// The refusal to deliver right now at HELO or MAIL: only when rejections
    /// are not delayed to RCPT.
    pub(super) async fn early_refusal(&mut self) -> Option<Reply> {
        if self.shared.helo.delay_reject() { None } else { self.refusal().await }
    }
}

/// Counts a finding in `doorman_helo_rule_total{rule,action}`.
pub(super) fn count(f: &Finding) {
    let action = match f.action {
        Action::Reject => "reject",
        Action::TempFail => "tempfail",
        Action::Monitor => "would_reject",
    };
    metrics().helo_rules.get_or_create(&HeloRuleLabels { rule: f.rule.as_str(), action }).inc();
}

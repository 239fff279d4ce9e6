//! One message's scan: clamd streamed while the message arrives, the
//! whole-message scanners after the final dot, and the combined verdict.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::task::{AbortHandle, Id, JoinSet};
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::engine::*;
use super::verdict::{Act, Decision};
use super::*;
use crate::spool::Spool;

/// One message's scan in progress; see the module docs. Dropping it (or
/// [`MessageScan::abort`]) cancels every scanner task.
#[derive(Debug)]
pub struct MessageScan {
    pub(super) engine: ScanEngine,
    pub(super) ctx: Arc<ScanContext>,
    /// clamd's INSTREAM task, while the message arrives.
    pub(super) stream: Option<Stream>,
    /// Every scanner task of this message; dropping the set aborts them.
    pub(super) tasks: JoinSet<Result<Verdict, ScanError>>,
    /// Which scanner each task belongs to.
    pub(super) task_slots: Vec<(Id, Slot)>,
    /// Results known before the final dot (too big, a stalled stream).
    pub(super) early: Vec<(Slot, ScanError)>,
    /// Scanners not run for this session.
    pub(super) skipped: Vec<Slot>,
}

#[derive(Debug)]
pub(super) struct Stream {
    /// `None` once the stream ended (message complete, too big, or the task
    /// finished early); dropping the sender tells the task the message ended.
    pub(super) tx: Option<mpsc::Sender<Bytes>>,
    pub(super) abort: AbortHandle,
    pub(super) fed: u64,
    pub(super) max_size: u64,
    pub(super) feed_timeout: Duration,
}

impl MessageScan {
    /// Feeds the next chunk of decoded message content to the streaming
    /// scanners. Waits only while the scanner's queue is full (backpressure),
    /// at most the scanner's `timeout`; never fails: problems are reported by
    /// [`MessageScan::finish`].
    pub async fn feed(&mut self, chunk: &[u8]) {
        let Some(s) = &mut self.stream else {
            return;
        };
        let Some(tx) = &s.tx else {
            return;
        };
        if chunk.is_empty() {
            return;
        }
        s.fed += chunk.len() as u64;
        if s.fed > s.max_size {
            // Never rely on clamd's own StreamMaxLength handling: stop here.
            s.tx = None;
            s.abort.abort();
            self.early.push((
                Slot::Clamav,
                ScanError::TooBig { detail: format!("over clamav.max_size of {} bytes", s.max_size) },
            ));
            return;
        }
        let chunk = match tx.try_send(Bytes::copy_from_slice(chunk)) {
            Ok(()) => return,
            Err(mpsc::error::TrySendError::Closed(_)) => {
                // The task ended early (connect failure, clamd closed); its
                // result is waiting in the join set.
                s.tx = None;
                return;
            }
            Err(mpsc::error::TrySendError::Full(chunk)) => chunk,
        };
        match tokio::time::timeout(s.feed_timeout, tx.send(chunk)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => s.tx = None,
            Err(_) => {
                s.tx = None;
                s.abort.abort();
                self.early.push((
                    Slot::Clamav,
                    ScanError::Timeout {
                        endpoint: "clamd".into(),
                        stage: "streaming the message",
                        after: s.feed_timeout,
                    },
                ));
            }
        }
    }

    /// Completes the scan after the final dot: ends the streams, runs the
    /// whole-message scanners on `spool` (concurrently with the streams'
    /// replies) and combines the verdicts. A refusal returns at once and
    /// cancels the scanners still running.
    pub async fn finish(mut self, spool: &mut Spool) -> ScanOutcome {
        let started = Instant::now();
        if let Some(s) = &mut self.stream {
            s.tx = None;
        }
        let mut decided: [Option<(Decision, Duration)>; 3] = [None, None, None];
        let early = std::mem::take(&mut self.early);
        for (slot, err) in early {
            if let Some(d) = self.decide(slot, Err(err)) {
                decided[slot.index()] = Some((d, Duration::ZERO));
            }
        }
        if let Some(outcome) = self.refusal_so_far(&decided) {
            return self.conclude(decided, Some(outcome), started);
        }
        self.start_whole_message_scanners(spool, &mut decided).await;
        if let Some(outcome) = self.refusal_so_far(&decided) {
            return self.conclude(decided, Some(outcome), started);
        }
        let mut replayed = false;
        while let Some(joined) = self.tasks.join_next_with_id().await {
            let (id, result) = match joined {
                Ok((id, r)) => (id, r),
                Err(e) => {
                    let detail = if e.is_panic() { "scanner task panicked" } else { "scanner task cancelled" };
                    (e.id(), Err(ScanError::Internal(detail.into())))
                }
            };
            let Some(slot) = self.slot_of(id) else {
                continue;
            };
            if decided[slot.index()].is_some() {
                // Decided early (aborted as too big or stalled).
                continue;
            }
            if slot == Slot::Clamav && !replayed && stream_broke(&result) {
                replayed = true;
                if self.replay_clamav(spool, &result).await {
                    continue;
                }
            }
            if let Some(d) = self.decide(slot, result) {
                decided[slot.index()] = Some((d, started.elapsed()));
            }
            if let Some(outcome) = self.refusal_so_far(&decided) {
                return self.conclude(decided, Some(outcome), started);
            }
        }
        self.conclude(decided, None, started)
    }

    /// Cancels every scanner of this message (the client went away or the
    /// message was refused for another reason). Nothing keeps running.
    pub fn abort(mut self) {
        self.tasks.abort_all();
    }

    /// clamd's stream broke before its verdict (reset, closed, garbage:
    /// e.g. clamd's own ReadTimeout during a long pause of the client, or a
    /// clamd restart): stream the spooled message once more, from the start,
    /// on the next endpoint, one chunk at a time (never the whole message in
    /// memory). Returns whether a new scan was started.
    pub(super) async fn replay_clamav(&mut self, spool: &mut Spool, failed: &Result<Verdict, ScanError>) -> bool {
        let Some(c) = self.engine.clamav.clone().filter(|c| spool.len() <= c.max_size) else {
            return false;
        };
        let Ok(mut snapshot) = spool.snapshot().await else {
            return false;
        };
        if let Err(e) = failed {
            warn!(scanner = clamav::NAME, error = %e, "clamd stream broke; scanning the spooled message again");
        }
        let abort = self.tasks.spawn(async move {
            let (tx, rx) = mpsc::channel(STREAM_QUEUE);
            // A spool read error must not end the stream as if the message
            // were complete: a verdict on part of a message is no verdict.
            let feed = async move {
                loop {
                    match snapshot.next_chunk().await {
                        Ok(Some(chunk)) => {
                            if tx.send(chunk).await.is_err() {
                                // The stream ended by itself; its result says why.
                                return Ok(());
                            }
                        }
                        Ok(None) => return Ok(()),
                        Err(e) => return Err(ScanError::Internal(format!("reading the spool: {e}"))),
                    }
                }
            };
            let (fed, verdict) = tokio::join!(feed, c.client.stream(rx));
            fed.and(verdict)
        });
        self.task_slots.push((abort.id(), Slot::Clamav));
        true
    }

    pub(super) fn slot_of(&self, id: Id) -> Option<Slot> {
        self.task_slots.iter().find_map(|(i, s)| (*i == id).then_some(*s))
    }

    /// Spawns spamd/rspamd with the complete message, or records why not.
    pub(super) async fn start_whole_message_scanners(
        &mut self,
        spool: &mut Spool,
        decided: &mut [Option<(Decision, Duration)>; 3],
    ) {
        let sa = self.engine.spamassassin.clone().filter(|_| !self.skipped.contains(&Slot::SpamAssassin));
        let rs = self.engine.rspamd.clone().filter(|_| !self.skipped.contains(&Slot::Rspamd));
        let limits: Vec<(Slot, u64)> =
            [sa.as_ref().map(|s| (Slot::SpamAssassin, s.max_size)), rs.as_ref().map(|s| (Slot::Rspamd, s.max_size))]
                .into_iter()
                .flatten()
                .collect();
        let Some(limit) = limits.iter().map(|(_, l)| *l).max() else {
            return;
        };
        let message = match spool.to_bytes(limit).await {
            Ok(m) => m,
            Err(e) => {
                for (slot, _) in &limits {
                    let err = ScanError::Internal(format!("reading the spool: {e}"));
                    if let Some(d) = self.decide(*slot, Err(err)) {
                        decided[slot.index()] = Some((d, Duration::ZERO));
                    }
                }
                return;
            }
        };
        for (slot, max) in limits {
            let msg = message.clone().filter(|m| m.len() as u64 <= max);
            let Some(msg) = msg else {
                let err = ScanError::TooBig {
                    detail: format!("{} bytes over {}.max_size of {max} bytes", spool.len(), slot.name()),
                };
                if let Some(d) = self.decide(slot, Err(err)) {
                    decided[slot.index()] = Some((d, Duration::ZERO));
                }
                continue;
            };
            let ctx = self.ctx.clone();
            let abort = match slot {
                Slot::SpamAssassin => {
                    let Some(s) = sa.clone() else { continue };
                    self.tasks.spawn(async move { s.client.scan(msg, &ctx).await })
                }
                Slot::Rspamd => {
                    let Some(s) = rs.clone() else { continue };
                    self.tasks.spawn(async move { s.client.scan(msg, &ctx).await })
                }
                Slot::Clamav => continue,
            };
            self.task_slots.push((abort.id(), slot));
        }
    }

    /// Applies the scanner's policy to its result, and logs it once.
    pub(super) fn decide(&self, slot: Slot, result: Result<Verdict, ScanError>) -> Option<Decision> {
        let sid = &self.ctx.session_id;
        let render = &self.engine.render;
        let name = slot.name();
        let decision = match slot {
            Slot::Clamav => {
                let policy = &self.engine.clamav.as_ref()?.policy;
                verdict::decide(name, policy, &result, render, sid)
            }
            Slot::SpamAssassin => {
                let policy = &self.engine.spamassassin.as_ref()?.policy;
                verdict::decide(name, policy, &result, render, sid)
            }
            Slot::Rspamd => {
                let policy = &self.engine.rspamd.as_ref()?.policy;
                verdict::decide(name, policy, &result, render, sid)
            }
        };
        let outcome = decision.outcome.as_str();
        match &result {
            Err(ScanError::TooBig { detail }) => {
                info!(scanner = name, outcome, policy = decision.policy_word(), detail = %detail, "message too big to scan; applying on_too_big");
            }
            Err(e) => {
                warn!(scanner = name, outcome, policy = decision.policy_word(), error = %e, "scan failed; applying on_error");
            }
            Ok(Verdict::Infected { signature }) => {
                info!(scanner = name, signature = %signature, "virus found");
            }
            Ok(_) => debug!(scanner = name, outcome, detail = ?decision.detail, "scan verdict"),
        }
        Some(decision)
    }

    /// The first refusal among the decisions so far, if any.
    pub(super) fn refusal_so_far(&self, decided: &[Option<(Decision, Duration)>; 3]) -> Option<ScanAction> {
        decided.iter().flatten().find_map(|(d, _)| match &d.act {
            Act::Reject(r) => Some(ScanAction::Reject(r.clone())),
            _ => None,
        })
    }

    /// Builds the outcome; scanners without a decision were cancelled.
    pub(super) fn conclude(
        mut self,
        decided: [Option<(Decision, Duration)>; 3],
        refusal: Option<ScanAction>,
        started: Instant,
    ) -> ScanOutcome {
        self.tasks.abort_all();
        let cancelled_after = started.elapsed();
        let configured = |slot: Slot| match slot {
            Slot::Clamav => self.engine.clamav.is_some(),
            Slot::SpamAssassin => self.engine.spamassassin.is_some(),
            Slot::Rspamd => self.engine.rspamd.is_some(),
        };
        let mut results = Vec::new();
        let mut decisions = Vec::new();
        for (slot, entry) in Slot::ALL.into_iter().zip(decided) {
            if !configured(slot) {
                continue;
            }
            let (outcome, duration, detail) = match entry {
                Some((d, took)) => {
                    let r = (d.outcome, took, d.detail.clone());
                    decisions.push((slot, d));
                    r
                }
                None if self.skipped.contains(&slot) => {
                    (Outcome::Skipped, Duration::ZERO, Some("authenticated".into()))
                }
                None => (Outcome::Cancelled, cancelled_after, None),
            };
            results.push(ScannerResult { name: slot.name(), outcome: outcome.as_str(), duration, detail });
        }
        let action = refusal.unwrap_or_else(|| {
            decisions
                .iter()
                .find_map(|(_, d)| match &d.act {
                    Act::TempFail(r) => Some(ScanAction::TempFail(r.clone())),
                    _ => None,
                })
                .unwrap_or(ScanAction::Deliver)
        });
        let headers = if action == ScanAction::Deliver {
            let skipped: Vec<&'static str> = self.skipped.iter().map(|s| s.name()).collect();
            headers::compose(decisions.iter().map(|(s, d)| (s.name(), d)), &skipped)
        } else {
            String::new()
        };
        ScanOutcome { action, headers, results }
    }
}

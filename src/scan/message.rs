//! One message's scan: clamd streamed while the message arrives, the
//! whole-message scanners after the final dot, and the combined verdict.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::task::{AbortHandle, Id, JoinSet};
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::engine::stream_broke;
use super::verdict::{self, Decision};
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
    /// Which scanner (its index in the engine's list) each task belongs to.
    pub(super) task_index: Vec<(Id, usize)>,
    /// Results known before the final dot (too big, a stalled stream).
    pub(super) early: Vec<(usize, ScanError)>,
    /// Per scanner: not run for this session (authenticated).
    pub(super) skipped: Vec<bool>,
    /// The streaming scanner whose stream was given back (a slow client):
    /// it scans the spooled message after the final dot.
    pub(super) released: Option<usize>,
}

#[derive(Debug)]
pub(super) struct Stream {
    /// The streaming scanner's index in the engine's list.
    pub(super) index: usize,
    /// `None` once the stream ended (message complete, too big, or the task
    /// finished early); dropping the sender tells the task the message ended.
    pub(super) tx: Option<mpsc::Sender<Bytes>>,
    pub(super) abort: AbortHandle,
    pub(super) fed: u64,
    pub(super) max_size: u64,
    pub(super) feed_timeout: Duration,
}

/// Each scanner's decision and how long it took, by the scanner's index.
type Decided = Vec<Option<(Decision, Duration)>>;

impl MessageScan {
    /// Feeds the next chunk of decoded message content to the streaming
    /// scanner. Waits only while the scanner's queue is full (backpressure),
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
            // Never rely on the scanner's own limit (clamd's StreamMaxLength): stop here.
            s.tx = None;
            s.abort.abort();
            let detail =
                format!("over {}.max_size of {} bytes", self.engine.scanners[s.index].client.name(), s.max_size);
            self.early.push((s.index, ScanError::TooBig { detail }));
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
                let stage = "streaming the message";
                let error = ScanError::Timeout { endpoint: "clamd".into(), stage, after: s.feed_timeout };
                self.early.push((s.index, error));
            }
        }
    }

    /// A stream is open to the streaming scanner (clamd), taking content.
    pub fn holds_stream(&self) -> bool {
        self.stream.as_ref().is_some_and(|s| s.tx.is_some())
    }

    /// The client is slow: the streaming scanner's connection is given
    /// back, so slow clients cannot hold all of clamd's threads while honest
    /// mail waits; the spooled message is streamed from its start after
    /// the final dot instead ([`MessageScan::finish`]).
    pub fn release_stream(&mut self) {
        let Some(s) = &mut self.stream else {
            return;
        };
        if s.tx.take().is_none() {
            return;
        }
        s.abort.abort();
        let id = s.abort.id();
        self.task_index.retain(|(t, _)| *t != id);
        self.released = Some(s.index);
        let scanner = self.engine.scanners[s.index].client.name();
        info!(scanner, "slow client: scanner stream given back; the spooled message is scanned after the final dot");
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
        let mut decided: Decided = (0..self.engine.scanners.len()).map(|_| None).collect();
        for (i, err) in std::mem::take(&mut self.early) {
            decided[i] = Some((self.decide(i, Err(err)), Duration::ZERO));
        }
        if let Some(refusal) = refusal_so_far(&decided) {
            return self.conclude(decided, Some(refusal), started);
        }
        self.start_whole_message_scanners(spool, &mut decided).await;
        if let Some(refusal) = refusal_so_far(&decided) {
            return self.conclude(decided, Some(refusal), started);
        }
        let mut replayed = false;
        if let Some(i) = self.released.take() {
            replayed = true;
            if !self.replay(i, spool, None).await {
                decided[i] = Some((self.decide(i, Err(self.unreplayable(i, spool))), Duration::ZERO));
                if let Some(refusal) = refusal_so_far(&decided) {
                    return self.conclude(decided, Some(refusal), started);
                }
            }
        }
        while let Some(joined) = self.tasks.join_next_with_id().await {
            let (id, result) = match joined {
                Ok((id, r)) => (id, r),
                Err(e) => {
                    let detail = if e.is_panic() { "scanner task panicked" } else { "scanner task cancelled" };
                    (e.id(), Err(ScanError::Internal(detail.into())))
                }
            };
            let Some(i) = self.index_of(id) else {
                continue;
            };
            if decided[i].is_some() {
                // Decided early (aborted as too big or stalled).
                continue;
            }
            if !replayed && self.is_streaming(i) && stream_broke(&result) {
                replayed = true;
                if self.replay(i, spool, Some(&result)).await {
                    continue;
                }
            }
            decided[i] = Some((self.decide(i, result), started.elapsed()));
            if let Some(refusal) = refusal_so_far(&decided) {
                return self.conclude(decided, Some(refusal), started);
            }
        }
        self.conclude(decided, None, started)
    }

    /// Cancels every scanner of this message (the client went away or the
    /// message was refused for another reason). Nothing keeps running.
    pub fn abort(mut self) {
        self.tasks.abort_all();
    }

    fn is_streaming(&self, i: usize) -> bool {
        self.stream.as_ref().is_some_and(|s| s.index == i)
    }

    fn index_of(&self, id: Id) -> Option<usize> {
        self.task_index.iter().find_map(|(t, i)| (*t == id).then_some(*i))
    }

    /// The streaming scanner's stream broke before its verdict (reset,
    /// closed, garbage: e.g. clamd's own ReadTimeout during a long pause of
    /// the client, or a clamd restart): stream the spooled message once more,
    /// from the start, on the next endpoint, one chunk at a time (never the
    /// whole message in memory). Returns whether a new scan was started.
    async fn replay(&mut self, i: usize, spool: &mut Spool, failed: Option<&Result<Verdict, ScanError>>) -> bool {
        if spool.len() > self.engine.scanners[i].max_size {
            return false;
        }
        let Ok(mut snapshot) = spool.snapshot().await else {
            return false;
        };
        let name = self.engine.scanners[i].client.name();
        if let Some(Err(e)) = failed {
            warn!(scanner = name, error = %e, "stream broke; scanning the spooled message again");
        }
        let engine = self.engine.clone();
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
            let (fed, verdict) = tokio::join!(feed, engine.scanners[i].client.stream(rx));
            fed.and(verdict)
        });
        self.task_index.push((abort.id(), i));
        true
    }

    /// Why the spooled message could not be streamed to scanner `i` again.
    fn unreplayable(&self, i: usize, spool: &Spool) -> ScanError {
        let (name, max) = (self.engine.scanners[i].client.name(), self.engine.scanners[i].max_size);
        if spool.len() > max {
            ScanError::TooBig { detail: format!("{} bytes over {name}.max_size of {max} bytes", spool.len()) }
        } else {
            ScanError::Internal("reading the spool".into())
        }
    }

    /// Spawns the scanners that need the complete message (spamd, rspamd),
    /// or records why one cannot run.
    async fn start_whole_message_scanners(&mut self, spool: &mut Spool, decided: &mut Decided) {
        let wanted: Vec<usize> = (0..self.engine.scanners.len())
            .filter(|&i| !self.engine.scanners[i].client.streams() && !self.skipped[i])
            .collect();
        let Some(limit) = wanted.iter().map(|&i| self.engine.scanners[i].max_size).max() else {
            return;
        };
        let message = match spool.to_bytes(limit).await {
            Ok(m) => m,
            Err(e) => {
                for &i in &wanted {
                    let err = ScanError::Internal(format!("reading the spool: {e}"));
                    decided[i] = Some((self.decide(i, Err(err)), Duration::ZERO));
                }
                return;
            }
        };
        for i in wanted {
            let max = self.engine.scanners[i].max_size;
            let Some(msg) = message.clone().filter(|m| m.len() as u64 <= max) else {
                let name = self.engine.scanners[i].client.name();
                let detail = format!("{} bytes over {name}.max_size of {max} bytes", spool.len());
                decided[i] = Some((self.decide(i, Err(ScanError::TooBig { detail })), Duration::ZERO));
                continue;
            };
            let (engine, ctx) = (self.engine.clone(), self.ctx.clone());
            let abort = self.tasks.spawn(async move { engine.scanners[i].client.scan(msg, &ctx).await });
            self.task_index.push((abort.id(), i));
        }
    }

    /// Applies scanner `i`'s policy to its result, and logs it once.
    fn decide(&self, i: usize, result: Result<Verdict, ScanError>) -> Decision {
        let s = &self.engine.scanners[i];
        let name = s.client.name();
        let decision = verdict::decide(name, &s.policy, &result, &self.engine.render, &self.ctx.session_id);
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
        decision
    }

    /// Builds the outcome; scanners without a decision were cancelled.
    fn conclude(mut self, decided: Decided, refusal: Option<ScanAction>, started: Instant) -> ScanOutcome {
        self.tasks.abort_all();
        let cancelled_after = started.elapsed();
        let mut results = Vec::new();
        let mut decisions = Vec::new();
        let mut skipped = Vec::new();
        for (i, entry) in decided.into_iter().enumerate() {
            let name = self.engine.scanners[i].client.name();
            let (outcome, duration, detail) = match entry {
                Some((d, took)) => {
                    let r = (d.outcome, took, d.detail.clone());
                    decisions.push((name, d));
                    r
                }
                None if self.skipped[i] => {
                    skipped.push(name);
                    (Outcome::Skipped, Duration::ZERO, Some("authenticated".into()))
                }
                None => (Outcome::Cancelled, cancelled_after, None),
            };
            results.push(ScannerResult { name, outcome: outcome.as_str(), duration, detail });
        }
        let action = refusal.unwrap_or_else(|| {
            decisions
                .iter()
                .find_map(|(_, d)| matches!(d.action, ScanAction::TempFail(_)).then(|| d.action.clone()))
                .unwrap_or(ScanAction::Deliver)
        });
        let headers = if action == ScanAction::Deliver {
            headers::compose(decisions.iter().map(|(name, d)| (*name, d)), &skipped)
        } else {
            String::new()
        };
        ScanOutcome { action, headers, results }
    }
}

/// The first refusal among the decisions so far, if any.
fn refusal_so_far(decided: &Decided) -> Option<ScanAction> {
    decided.iter().flatten().find_map(|(d, _)| matches!(d.action, ScanAction::Reject(_)).then(|| d.action.clone()))
}

//! DATA: doorman answers 354 itself, decodes and spools the message, and only
//! after the client's final dot opens DATA at the upstream and relays the
//! canonical, dot-stuffed content. The client's final reply is the upstream's
//! reply to the final dot, so doorman never says 250 for a message the MTA has
//! not accepted; a message doorman refuses never reaches the upstream.
//!
//! Three steps: [`Session::receive`] the message, judge it (doorman's own
//! limits, then the scanners), [`Session::relay_message`] it. BDAT chunks
//! (`chunking.rs`) are received the same way and share the other two.
//! The upstream gets DATA, or one `BDAT ... LAST` when the client sent BDAT
//! and the upstream offers CHUNKING.

use std::time::Instant;

use tracing::{info, warn};

use super::connection::{DataEnd, DataRead};
use super::envelope::sequence_reply;
use super::intake::Intake;
use super::link::MIN_DATA_RATE;
use super::transaction::Envelope;
use super::{Flow, Session, SessionError, Step};
use crate::metrics::{MessageOutcome, Reason, ScanResultLabels, ScannerLabels, metrics};
use crate::replies;
use crate::scan::{MessageScan, ScanAction, ScanContext, ScanOutcome};
use crate::spool::{Spool, SpoolBudget};
use crate::tls::Io;
use crate::upstream::Delivery;
use crate::upstream::Dialer;
use crate::wire::{DataDecoder, DataSummary, LineEndingPolicy, Reply};

/// One message on its way, for its transaction log line.
pub(super) struct Transfer {
    pub(super) envelope: Envelope,
    pub(super) started: Instant,
    pub(super) summary: DataSummary,
    /// It came in BDAT chunks.
    pub(super) chunked: bool,
}

impl<S: Io, D: Dialer> Session<S, D> {
    pub(super) async fn on_data(&mut self) -> Step {
        if let Err(e) = self.txn.check_data() {
            return Ok(self.protocol_error(Reason::Sequence, sequence_reply(e)));
        }
        let envelope = self.txn.envelope().cloned().unwrap_or_default();
        let started = Instant::now();
        self.conn.queue(&replies::start_data());
        let mut decoder =
            DataDecoder::new(self.config.data.bare_line_endings, self.config.limits.max_message_size.as_u64());
        let mut intake = self.intake(&envelope);
        self.conn.flush().await?;
        let deadline = tokio::time::Instant::now() + self.config.limits.data_timeout;
        let end = self.receive(&mut decoder, &mut intake, deadline).await?;
        let transfer = Transfer { envelope, started, summary: decoder.summary().clone(), chunked: false };
        self.complete(end, transfer, intake).await
    }

    /// The end of a message's intake: an aborted one is dropped, a complete
    /// one judged and relayed, and the client's reply queued.
    pub(super) async fn complete(&mut self, end: DataEnd, transfer: Transfer, mut intake: Intake) -> Step {
        if end != DataEnd::Complete {
            // Nothing was relayed: dropping the intake drops the spool and
            // the scans, and the upstream never sees a final dot.
            self.log_transaction(&transfer, None, MessageOutcome::Aborted);
            if end == DataEnd::Timeout {
                metrics().reject(Reason::DataTimeout);
                let reply = replies::idle_timeout(self.host());
                self.conn.queue(&reply);
            }
            return Ok(Flow::Close);
        }
        intake.finish().await;
        let Intake { mut spool, scan, error, .. } = intake;
        if let Some((outcome, reply)) = self.local_refusal(error, &transfer.summary) {
            if let Some(scan) = scan {
                scan.abort();
            }
            return self.refuse(&transfer, outcome, reply).await;
        }
        // From the final dot: one budget for the verdicts and the upstream's
        // reply. Past it the client is told to retry, and the upstream
        // connection is dropped as it is: no final dot goes out after that.
        let budget = self.config.limits.final_reply_timeout;
        match tokio::time::timeout(budget, self.judge_and_relay(scan, &mut spool, &transfer)).await {
            Ok(step) => step,
            Err(_) => {
                warn!(?budget, "no final reply within limits.final_reply_timeout; the client is told to retry");
                metrics().reject(Reason::FinalReplyTimeout);
                self.reset_transaction();
                self.log_transaction(&transfer, None, MessageOutcome::TempfailTimeout);
                Err(SessionError::Abandoned(replies::final_reply_timeout()))
            }
        }
    }

    /// Where a new message of `envelope` goes: a spool, and the scanners.
    pub(super) fn intake(&self, envelope: &Envelope) -> Intake {
        let scan = self.shared.scan.is_enabled().then(|| self.shared.scan.start(self.scan_context(envelope)));
        Intake::new(self.spool(), scan)
    }

    /// A new spool for one message, counted in the budget all sessions share.
    pub(super) fn spool(&self) -> Spool {
        let data = &self.config.data;
        let memory = usize::try_from(data.spool_memory_limit.as_u64()).unwrap_or(usize::MAX);
        let budget = SpoolBudget {
            in_use: self.spooled.clone(),
            max_total: data.spool_max_total.as_u64(),
            min_free: data.spool_min_free.as_u64(),
        };
        Spool::new(memory, data.spool_dir.clone()).with_budget(budget)
    }

    /// Reads the message until the final dot (or the client's end, or
    /// `deadline`: `limits.data_timeout` after the message began), into
    /// `intake`. A message slower than [`MIN_DATA_RATE`] on average once it
    /// has taken `upstream.release_after` gives the upstream session back
    /// meanwhile (the transaction is built again for the delivery), and its
    /// clamd stream (the spooled message is scanned after the final dot); a
    /// large message that arrives at a normal rate keeps both.
    pub(super) async fn receive(
        &mut self,
        decoder: &mut DataDecoder,
        intake: &mut Intake,
        deadline: tokio::time::Instant,
    ) -> Result<DataEnd, SessionError> {
        let started = tokio::time::Instant::now();
        if started >= deadline {
            return Ok(DataEnd::Timeout);
        }
        // A slow client gives back what it holds meanwhile: its upstream
        // session, and its stream to the streaming scanner (clamd).
        let after = self.config.upstream.release_after;
        let holds = self.release_at().is_some() || intake.holds_stream();
        let mut check = (holds && !after.is_zero()).then(|| started + after);
        let mut received = 0u64;
        let mut content = Vec::with_capacity(super::connection::READ_CHUNK);
        loop {
            content.clear();
            let until = deadline.min(tokio::time::Instant::now() + self.idle_timeout());
            let wait = check.map_or(until, |c| c.min(until));
            let read = self.conn.read_data(decoder, &mut content, &mut self.timer, wait).await?;
            received += content.len() as u64;
            intake.push(&content).await;
            let now = tokio::time::Instant::now();
            if check.is_some_and(|c| now >= c) {
                let slow = (received as f64) < MIN_DATA_RATE * (now - started).as_secs_f64();
                check = if slow { None } else { Some(now + std::time::Duration::from_secs(1)) };
                if slow {
                    self.release_upstream().await?;
                    intake.release_stream();
                }
                if read == DataRead::Done(DataEnd::Timeout) && now < until {
                    continue;
                }
            }
            match read {
                DataRead::More => {}
                DataRead::Done(end) => return Ok(end),
            }
        }
    }

    /// What doorman refuses by itself once the message is complete: no room
    /// or a failed spool, then its own limits and line-ending policy.
    fn local_refusal(
        &self,
        spool_error: Option<std::io::Error>,
        summary: &DataSummary,
    ) -> Option<(MessageOutcome, Reply)> {
        match spool_error {
            Some(e) if e.kind() == std::io::ErrorKind::StorageFull => {
                warn!(error = %e, "no room to spool the message; refused with a temporary error");
                Some((MessageOutcome::RefusedStorage, replies::insufficient_storage()))
            }
            Some(e) => {
                warn!(error = %e, "spool write failed; message refused with a temporary error");
                Some((MessageOutcome::RefusedSpool, replies::spool_failed()))
            }
            None => refusal(summary, self.config.data.bare_line_endings),
        }
    }

    /// Refuses the message: the upstream's transaction ends with RSET
    /// (nothing reached its queue), and the session goes on.
    async fn refuse(&mut self, transfer: &Transfer, outcome: MessageOutcome, reply: Reply) -> Step {
        self.reset_upstream().await?;
        self.log_transaction(transfer, Some(reply.code()), outcome);
        Ok(self.reply(reply))
    }

    /// After the final dot: the scanners' verdict, then the message to the
    /// upstream.
    async fn judge_and_relay(&mut self, scan: Option<MessageScan>, spool: &mut Spool, transfer: &Transfer) -> Step {
        let mut headers = String::new();
        if let Some(scan) = scan {
            let verdict = scan.finish(spool).await;
            record_scan_metrics(&verdict);
            self.verdicts = verdict.results.iter().map(|r| format!("{}={}", r.name, r.outcome)).collect();
            match &verdict.action {
                ScanAction::Deliver => headers = verdict.headers,
                ScanAction::Reject(reply) => {
                    return self.refuse(transfer, scan_outcome(&verdict, false), reply.clone()).await;
                }
                ScanAction::TempFail(reply) => {
                    return self.refuse(transfer, scan_outcome(&verdict, true), reply.clone()).await;
                }
            }
        }
        headers.insert_str(0, &self.added_headers());
        self.relay_message(&headers, spool, transfer).await
    }

    /// DATA, the message with `headers` in front, the final dot: the client's
    /// reply is the upstream's reply to it.
    async fn relay_message(&mut self, headers: &str, spool: &mut Spool, transfer: &Transfer) -> Step {
        self.upstream().await?;
        let by_bdat = transfer.chunked && self.upstream_caps.has("CHUNKING");
        if self.txn.is_binary() && !by_bdat {
            return self.refuse(transfer, MessageOutcome::UpstreamTempfail, replies::binary_not_relayable()).await;
        }
        let upstream = self.upstream().await?;
        let delivery = match by_bdat {
            true => upstream.deliver_chunked(headers.as_bytes(), spool).await?,
            false => upstream.deliver(headers.as_bytes(), spool).await?,
        };
        self.reset_transaction();
        let reply = match delivery {
            Delivery::DataRefused(reply) => {
                self.reset_upstream().await?;
                reply
            }
            // After a refused BDAT the sender must RSET (RFC 3030 2).
            Delivery::Final(reply) if by_bdat && !reply.is_positive() => {
                self.reset_upstream().await?;
                reply
            }
            Delivery::Final(reply) => reply,
        };
        let outcome = match reply.code() {
            200..=299 => MessageOutcome::Relayed,
            400..=499 => MessageOutcome::UpstreamTempfail,
            _ => MessageOutcome::UpstreamRejected,
        };
        if reply.is_positive() {
            self.delivered += 1;
            self.junk = 0;
            // Each delivered recipient takes one refusal off the harvest
            // count: a list with a few stale addresses stays at zero, one
            // real recipient per batch of probes does not wash them out.
            let delivered = u32::try_from(transfer.envelope.rcpts.len()).unwrap_or(u32::MAX);
            self.refused_rcpts = self.refused_rcpts.saturating_sub(delivered);
        }
        self.log_transaction(transfer, Some(reply.code()), outcome);
        Ok(self.relay(reply))
    }

    /// One summary line per transaction, and its outcome counted.
    fn log_transaction(&mut self, transfer: &Transfer, code: Option<u16>, outcome: MessageOutcome) {
        metrics().message(outcome);
        let verdicts = std::mem::take(&mut self.verdicts).join(" ");
        let duration_ms = u64::try_from(transfer.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let (from, rcpts) = if self.config.log.addresses {
            (Some(transfer.envelope.from.as_str()), Some(transfer.envelope.rcpts.join(",")))
        } else {
            (None, None)
        };
        info!(
            size = transfer.summary.size,
            recipients = transfer.envelope.rcpts.len(),
            upstream_code = code,
            bare_line_endings = transfer.summary.bare_line_endings,
            duration_ms,
            outcome = outcome.as_str(),
            verdicts,
            from,
            rcpts,
            "transaction"
        );
    }

    /// What the scanners may know about this transaction (rspamd uses it).
    fn scan_context(&self, envelope: &Envelope) -> ScanContext {
        ScanContext {
            session_id: self.id.clone(),
            authenticated: self.authenticated,
            client_ip: Some(self.client.peer.ip()),
            helo: self.helo.clone(),
            mail_from: Some(envelope.from.clone()),
            rcpt_to: envelope.rcpts.clone(),
        }
    }
}

/// Counts each scanner's outcome and latency.
fn record_scan_metrics(verdict: &ScanOutcome) {
    for r in &verdict.results {
        metrics().scan_results.get_or_create(&ScanResultLabels { scanner: r.name, outcome: r.outcome }).inc();
        metrics().scan_duration.get_or_create(&ScannerLabels { scanner: r.name }).observe(r.duration.as_secs_f64());
    }
}

/// The message outcome label for a scanner refusal.
fn scan_outcome(verdict: &ScanOutcome, temporary: bool) -> MessageOutcome {
    let said = |o: &str| verdict.results.iter().any(|r| r.outcome == o);
    match (temporary, said("infected"), said("spam")) {
        (true, _, _) => MessageOutcome::TempfailScanner,
        (false, true, _) => MessageOutcome::RejectedVirus,
        (false, false, true) => MessageOutcome::RejectedSpam,
        (false, false, false) => MessageOutcome::RejectedScanner,
    }
}

/// The outcome and reply for a message doorman refuses itself, if any. Under
/// `normalize` bare line endings were rewritten and the message is relayed.
fn refusal(summary: &DataSummary, policy: LineEndingPolicy) -> Option<(MessageOutcome, Reply)> {
    if summary.too_big {
        Some((MessageOutcome::RefusedSize, replies::message_too_big()))
    } else if summary.line_too_long {
        Some((MessageOutcome::RefusedLineLength, replies::line_too_long()))
    } else if summary.bare_line_endings && policy == LineEndingPolicy::Reject {
        Some((MessageOutcome::RefusedBareLineEndings, replies::bare_line_endings()))
    } else {
        None
    }
}

//! DATA: doorman answers 354 itself, decodes and spools the message, and only
//! after the client's final dot opens DATA at the upstream and relays the
//! canonical, dot-stuffed content. The client's final reply is the upstream's
//! reply to the final dot, so doorman never says 250 for a message the MTA has
//! not accepted; a message doorman refuses never reaches the upstream.

use crate::tls::Io;
use crate::upstream::Dialer;
use std::time::Instant;

use tracing::{info, warn};

use super::connection::{DataEnd, DataRead};
use super::envelope::sequence_reply;
use super::intake::Intake;
use super::{Flow, Session, SessionError, Step};
use crate::metrics::{MessageOutcome, Reason, ScanResultLabels, ScannerLabels, metrics};
use crate::replies;
use crate::scan::{ScanAction, ScanContext, ScanOutcome};
use crate::spool::{Spool, SpoolBudget};
use crate::upstream::Delivery;
use crate::wire::{DataDecoder, DataSummary, LineEndingPolicy, Reply};

impl<S: Io, D: Dialer> Session<S, D> {
    pub(super) async fn on_data(&mut self) -> Step {
        let recipients = match self.txn.check_data() {
            Ok(n) => n,
            Err(e) => return Ok(self.protocol_error(Reason::Sequence, sequence_reply(e))),
        };
        let started = Instant::now();
        self.conn.queue(&replies::start_data());
        let data = &self.config.data;
        let memory = usize::try_from(data.spool_memory_limit.as_u64()).unwrap_or(usize::MAX);
        let budget = SpoolBudget {
            in_use: self.spooled.clone(),
            max_total: data.spool_max_total.as_u64(),
            min_free: data.spool_min_free.as_u64(),
        };
        let spool = Spool::new(memory, data.spool_dir.clone()).with_budget(budget);
        let mut decoder = DataDecoder::new(data.bare_line_endings, self.config.limits.max_message_size.as_u64());
        let scan = self.shared.scan.is_enabled().then(|| self.shared.scan.start(self.scan_context()));
        let mut intake = Intake::new(spool, scan);
        self.conn.flush().await?;
        let end = self.receive(&mut decoder, &mut intake).await?;
        let summary = decoder.summary().clone();
        match end {
            DataEnd::Complete => {}
            // Nothing was relayed: dropping the intake drops the spool and
            // the scans, and the upstream never sees a final dot.
            DataEnd::ClientGone => {
                self.log_transaction(&summary, recipients, None, started, MessageOutcome::Aborted);
                return Ok(Flow::Close);
            }
            DataEnd::Timeout => {
                self.log_transaction(&summary, recipients, None, started, MessageOutcome::Aborted);
                metrics().reject(Reason::DataTimeout);
                let reply = replies::idle_timeout(self.host());
                self.conn.queue(&reply);
                return Ok(Flow::Close);
            }
        }
        let Intake { mut spool, scan, error: spool_error, .. } = intake;
        let refusal = match spool_error {
            Some(e) if e.kind() == std::io::ErrorKind::StorageFull => {
                warn!(error = %e, "no room to spool the message; refused with a temporary error");
                Some((MessageOutcome::RefusedStorage, replies::insufficient_storage()))
            }
            Some(e) => {
                warn!(error = %e, "spool write failed; message refused with a temporary error");
                Some((MessageOutcome::RefusedSpool, replies::spool_failed()))
            }
            None => refusal(&summary, self.config.data.bare_line_endings),
        };
        if let Some((outcome, reply)) = refusal {
            if let Some(scan) = scan {
                scan.abort();
            }
            self.reset_upstream().await?;
            self.log_transaction(&summary, recipients, Some(reply.code()), started, outcome);
            return Ok(self.reply(reply));
        }
        // From the final dot: one budget for the verdicts and the upstream's
        // reply. Past it the client is told to retry, and the upstream
        // connection is dropped as it is: no final dot goes out after that.
        let budget = self.config.limits.final_reply_timeout;
        let judged = self.judge_and_relay(scan, &mut spool, &summary, recipients, started);
        match tokio::time::timeout(budget, judged).await {
            Ok(step) => step,
            Err(_) => {
                warn!(?budget, "no final reply within limits.final_reply_timeout; the client is told to retry");
                metrics().reject(Reason::FinalReplyTimeout);
                self.txn.reset();
                self.log_transaction(&summary, recipients, None, started, MessageOutcome::TempfailTimeout);
                Err(SessionError::Abandoned(replies::final_reply_timeout()))
            }
        }
    }

    /// Reads the message until the final dot (or the client's end), into
    /// `intake`.
    async fn receive(&mut self, decoder: &mut DataDecoder, intake: &mut Intake) -> Result<DataEnd, SessionError> {
        let deadline = tokio::time::Instant::now() + self.config.limits.data_timeout;
        let mut content = Vec::with_capacity(64 * 1024);
        loop {
            content.clear();
            let read = self.conn.read_data(decoder, &mut content, self.idle_timeout(), deadline).await?;
            intake.push(&content).await;
            match read {
                DataRead::More => {}
                DataRead::Done(DataEnd::Complete) => {
                    intake.finish().await;
                    return Ok(DataEnd::Complete);
                }
                DataRead::Done(end) => return Ok(end),
            }
        }
    }

    /// After the final dot: the scanners' verdict, then the message to the
    /// upstream; the client's reply is the upstream's reply to the final dot.
    async fn judge_and_relay(
        &mut self,
        scan: Option<crate::scan::MessageScan>,
        spool: &mut Spool,
        summary: &DataSummary,
        recipients: usize,
        started: Instant,
    ) -> Step {
        let mut headers = String::new();
        if let Some(scan) = scan {
            let verdict = scan.finish(spool).await;
            record_scan_metrics(&verdict);
            self.verdicts = verdict.results.iter().map(|r| format!("{}={}", r.name, r.outcome)).collect();
            let refused = match &verdict.action {
                ScanAction::Deliver => None,
                ScanAction::Reject(reply) => Some((scan_outcome(&verdict, false), reply.clone())),
                ScanAction::TempFail(reply) => Some((scan_outcome(&verdict, true), reply.clone())),
            };
            if let Some((outcome, reply)) = refused {
                // Nothing of a refused message reaches the upstream's queue.
                self.reset_upstream().await?;
                self.log_transaction(summary, recipients, Some(reply.code()), started, outcome);
                return Ok(self.reply(reply));
            }
            headers = verdict.headers;
        }
        headers.insert_str(0, &self.added_headers());
        let delivery = self.upstream.deliver(headers.as_bytes(), spool).await?;
        self.txn.reset();
        let reply = match delivery {
            Delivery::DataRefused(reply) => {
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
        }
        self.log_transaction(summary, recipients, Some(reply.code()), started, outcome);
        Ok(self.relay(reply))
    }

    /// One summary line per transaction, and its outcome counted.
    fn log_transaction(
        &mut self,
        summary: &DataSummary,
        recipients: usize,
        code: Option<u16>,
        started: Instant,
        outcome: MessageOutcome,
    ) {
        metrics().message(outcome);
        let verdicts = std::mem::take(&mut self.verdicts).join(" ");
        let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let (from, rcpts) = if self.config.log.addresses {
            (Some(self.envelope.from.as_str()), Some(self.envelope.rcpts.join(",")))
        } else {
            (None, None)
        };
        info!(
            size = summary.size,
            recipients,
            upstream_code = code,
            bare_line_endings = summary.bare_line_endings,
            duration_ms,
            outcome = outcome.as_str(),
            verdicts,
            from,
            rcpts,
            "transaction"
        );
    }
}

impl<S: Io, D: Dialer> Session<S, D> {
    /// What the scanners may know about this transaction (rspamd uses it).
    fn scan_context(&self) -> ScanContext {
        ScanContext {
            session_id: self.id.clone(),
            authenticated: self.authenticated,
            client_ip: Some(self.client.peer.ip()),
            helo: self.helo.clone(),
            mail_from: Some(self.envelope.from.clone()),
            rcpt_to: self.envelope.rcpts.clone(),
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

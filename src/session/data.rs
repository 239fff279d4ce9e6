//! DATA: doorman answers 354 itself, decodes and spools the message, and only
//! after the client's final dot opens DATA at the upstream and relays the
//! canonical, dot-stuffed content. The client's final reply is the upstream's
//! reply to the final dot, so doorman never says 250 for a message the MTA has
//! not accepted; a message doorman refuses never reaches the upstream.

use std::time::Instant;

use tokio::io::{AsyncRead, AsyncWrite};
use tracing::{info, warn};

use super::connection::DataEnd;
use super::envelope::sequence_reply;
use super::{Flow, Session, Step};
use crate::replies;
use crate::spool::Spool;
use crate::upstream::Delivery;
use crate::wire::{DataDecoder, DataSummary, LineEndingPolicy, Reply};

impl<S: AsyncRead + AsyncWrite + Unpin> Session<S> {
    pub(super) async fn on_data(&mut self) -> Step {
        let recipients = match self.txn.check_data() {
            Ok(n) => n,
            Err(e) => return Ok(self.protocol_error(sequence_reply(e))),
        };
        let started = Instant::now();
        self.conn.queue(&replies::start_data());
        let data = &self.config.data;
        let memory = usize::try_from(data.spool_memory_limit.as_u64()).unwrap_or(usize::MAX);
        let mut spool = Spool::new(memory, data.spool_dir.clone());
        let mut decoder = DataDecoder::new(
            data.bare_line_endings,
            self.config.limits.max_message_size.as_u64(),
        );
        let spool_error = match self
            .conn
            .read_data(&mut decoder, &mut spool, self.idle_timeout())
            .await?
        {
            DataEnd::Complete { spool_error } => spool_error,
            // Nothing was relayed: dropping the session drops the spool and
            // the upstream never sees a final dot.
            DataEnd::ClientGone => return Ok(Flow::Close),
            DataEnd::Timeout => {
                let reply = replies::idle_timeout(self.host());
                self.conn.queue(&reply);
                return Ok(Flow::Close);
            }
        };
        let summary = decoder.summary().clone();
        let refusal = match spool_error {
            Some(e) => {
                warn!(error = %e, "spool write failed; message refused with a temporary error");
                Some(replies::spool_failed())
            }
            None => refusal(&summary, self.config.data.bare_line_endings),
        };
        if let Some(reply) = refusal {
            self.reset_upstream().await?;
            log_transaction(&summary, recipients, reply.code(), started, "refused");
            return Ok(self.reply(reply));
        }
        let delivery = self.upstream.deliver(&mut spool).await?;
        self.txn.reset();
        let reply = match delivery {
            Delivery::DataRefused(reply) => {
                self.reset_upstream().await?;
                reply
            }
            Delivery::Final(reply) => reply,
        };
        if reply.is_positive() {
            self.delivered += 1;
        }
        let outcome = if reply.is_positive() {
            "relayed"
        } else {
            "upstream_refused"
        };
        log_transaction(&summary, recipients, reply.code(), started, outcome);
        Ok(self.relay(reply))
    }
}

/// The reply for a message doorman refuses itself, if any. Under `normalize`
/// bare line endings were rewritten and the message is relayed.
fn refusal(summary: &DataSummary, policy: LineEndingPolicy) -> Option<Reply> {
    if summary.too_big {
        Some(replies::message_too_big())
    } else if summary.line_too_long {
        Some(replies::line_too_long())
    } else if summary.bare_line_endings && policy == LineEndingPolicy::Reject {
        Some(replies::bare_line_endings())
    } else {
        None
    }
}

fn log_transaction(
    summary: &DataSummary,
    recipients: usize,
    code: u16,
    started: Instant,
    outcome: &str,
) {
    info!(
        size = summary.size,
        recipients,
        upstream_code = code,
        bare_line_endings = summary.bare_line_endings,
        duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        outcome,
        "transaction"
    );
}

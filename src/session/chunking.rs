//! BDAT (RFC 3030 CHUNKING). doorman reads each chunk's octets itself, by
//! their announced size: they are content, never commands, whatever they
//! hold (`\r\n.\r\n` included). They go into the same intake as DATA
//! (spool and scanners) through a decoder without dot-stuffing, each chunk
//! but the last is answered by doorman, and after `BDAT ... LAST` the
//! message is judged and relayed like a DATA one (`data.rs`): with one
//! BDAT when the upstream offers CHUNKING, else with DATA, stuffed.
//!
//! A chunk out of sequence (no MAIL or RCPT yet) is still read to its end
//! and dropped, so its octets never run as commands, then refused with 503.
//! BDAT where CHUNKING was not offered (after HELO, or `ehlo.chunking:
//! false`) and a chunk that would take the message over
//! `limits.max_message_size` end the session instead: the client is not
//! speaking CHUNKING as offered, and such a payload is not worth reading.

use std::time::Instant;

use super::connection::DataEnd;
use super::data::Transfer;
use super::envelope::sequence_reply;
use super::intake::Intake;
use super::{Flow, Session, Step};
use crate::metrics::{MessageOutcome, Reason, metrics};
use crate::replies;
use crate::tls::Io;
use crate::upstream::Dialer;
use crate::wire::DataDecoder;

/// A message arriving in chunks, between its first BDAT and its last.
pub(super) struct Chunks {
    decoder: DataDecoder,
    intake: Intake,
    started: Instant,
    /// The whole message, every chunk, within `limits.data_timeout`.
    deadline: tokio::time::Instant,
    /// Octets announced so far (what the size limit counts, whatever the
    /// decoder keeps of them).
    announced: u64,
}

impl<S: Io, D: Dialer> Session<S, D> {
    pub(super) async fn on_bdat(&mut self, size: u64, last: bool) -> Step {
        let announced = self.chunks.as_ref().map_or(0, |c| c.announced).saturating_add(size);
        let over = announced > self.config.limits.max_message_size.as_u64();
        if over || !self.advertised.has("CHUNKING") {
            metrics().reject(Reason::Bdat);
            self.reset_transaction();
            let reply = if over { replies::message_too_big() } else { replies::chunking_not_offered() };
            self.conn.queue(&reply);
            return Ok(Flow::Close);
        }
        let refusal = match self.txn.check_bdat() {
            Err(e) => Some(sequence_reply(e)),
            Ok(_) if size == 0 && !last => Some(replies::empty_chunk()),
            Ok(_) => None,
        };
        if let Some(reply) = refusal {
            return match self.skip(size).await? {
                DataEnd::Complete => Ok(self.protocol_error(Reason::Sequence, reply)),
                end => self.chunk_lost(end),
            };
        }
        let mut chunks = match self.chunks.take() {
            Some(chunks) => chunks,
            None => Box::new(self.first_chunk()),
        };
        chunks.decoder.expect_chunk(size);
        chunks.announced = announced;
        let end = match size {
            0 if tokio::time::Instant::now() < chunks.deadline => DataEnd::Complete,
            0 => DataEnd::Timeout,
            _ => self.receive(&mut chunks.decoder, &mut chunks.intake, chunks.deadline).await?,
        };
        self.txn.chunk_taken();
        if end == DataEnd::Complete && !last {
            self.chunks = Some(chunks);
            return Ok(self.reply(replies::chunk_taken(size)));
        }
        let envelope = self.txn.envelope().cloned().unwrap_or_default();
        let Chunks { mut decoder, mut intake, started, .. } = *chunks;
        // A CR that ended the last chunk ended no line: refused or a space.
        let mut tail = Vec::new();
        decoder.finish_chunks(&mut tail);
        intake.push(&tail).await;
        let transfer = Transfer { envelope, started, summary: decoder.summary().clone(), chunked: true };
        self.complete(end, transfer, intake).await
    }

    /// The decoder and intake of a new chunked message.
    fn first_chunk(&self) -> Chunks {
        let envelope = self.txn.envelope().cloned().unwrap_or_default();
        let (policy, max) = (self.config.data.bare_line_endings, self.config.limits.max_message_size.as_u64());
        let decoder = if self.txn.is_binary() { DataDecoder::binary(max) } else { DataDecoder::chunks(policy, max) };
        let deadline = tokio::time::Instant::now() + self.config.limits.data_timeout;
        Chunks { decoder, intake: self.intake(&envelope), started: Instant::now(), deadline, announced: 0 }
    }

    /// Reads a chunk that cannot be taken to its end, and drops it.
    async fn skip(&mut self, size: u64) -> Result<DataEnd, super::SessionError> {
        if size == 0 {
            return Ok(DataEnd::Complete);
        }
        let mut decoder = DataDecoder::binary(0);
        decoder.expect_chunk(size);
        let mut dropped = Intake::dropping();
        let deadline = tokio::time::Instant::now() + self.config.limits.data_timeout;
        self.receive(&mut decoder, &mut dropped, deadline).await
    }

    /// A chunk that was not read to its end: the client went away or stopped.
    fn chunk_lost(&mut self, end: DataEnd) -> Step {
        self.reset_transaction();
        if end == DataEnd::Timeout {
            metrics().reject(Reason::DataTimeout);
            self.conn.queue(&replies::idle_timeout(self.host()));
        }
        metrics().message(MessageOutcome::Aborted);
        Ok(Flow::Close)
    }

    /// Ends the transaction here and at the upstream's side of doorman: a
    /// message half-received in chunks is dropped with it.
    pub(super) fn reset_transaction(&mut self) {
        self.txn.reset();
        self.chunks = None;
    }
}

//! The client side of a session: the socket, the read buffer that keeps
//! pipelined commands, and the write buffer that collects replies. Bytes
//! become lines here and nowhere else; replies become bytes via `Reply::encode`.

use std::time::Duration;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::TlsAcceptor;

use crate::timer::Timer;
use crate::tls::{ClientStream, Io, MaybeTls};
use crate::wire::limits::AUTH_LINE_MAX;
use crate::wire::{DataDecoder, Line, LineDecoder, LineError, Reply};

/// Read size; also the most the read buffer grows beyond a partial line.
/// 32 KiB is jemalloc's largest thread-cached size, so the buffers a message
/// needs are reused, not mapped, from one message to the next.
pub(super) const READ_CHUNK: usize = 32 * 1024;

/// Replies are flushed before this much output piles up, even mid-pipeline.
const WRITE_HIGH_WATER: usize = 64 * 1024;

/// One unit of client input in command mode.
#[derive(Debug)]
pub(super) enum Input {
    /// A complete line.
    Line(Line),
    /// A line over the limit was discarded.
    TooLong,
    /// The client closed its side.
    Eof,
}

/// What one read of message text gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DataRead {
    /// Content, and more to come.
    More,
    /// The message text ended.
    Done(DataEnd),
}

/// How message text ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DataEnd {
    /// The final dot arrived.
    Complete,
    /// The client closed the connection before the final dot.
    ClientGone,
    /// The client went silent for the idle timeout, or the whole transfer
    /// took longer than the DATA time limit.
    Timeout,
}

/// How long closing may take once the session is over (a TLS close_notify
/// to a client that does not read must not hold the slot).
const CLOSE_MAX: Duration = Duration::from_secs(5);

/// The client connection; see the module docs.
#[derive(Debug)]
pub(super) struct Connection<S: Io> {
    io: ClientStream<S>,
    read_buf: BytesMut,
    write_buf: BytesMut,
    lines: LineDecoder,
    /// Bound for one flush: a client that does not read for this long is gone.
    write_timeout: Duration,
    /// A write timed out or was interrupted: nothing more is sent.
    stalled: bool,
}

impl<S: Io> Connection<S> {
    /// Wraps a client stream; every flush must finish within `write_timeout`.
    pub(super) fn new(io: ClientStream<S>, write_timeout: Duration) -> Self {
        Self {
            io,
            read_buf: BytesMut::with_capacity(4096),
            write_buf: BytesMut::with_capacity(4096),
            lines: LineDecoder::new(AUTH_LINE_MAX),
            write_timeout,
            stalled: false,
        }
    }

    /// TLS is active on this connection.
    pub(super) fn is_tls(&self) -> bool {
        self.io.is_tls()
    }

    /// What the client's TLS session negotiated; `None` in plaintext.
    pub(super) fn tls_summary(&self) -> Option<crate::tls::TlsSummary> {
        self.io.tls_summary()
    }

    /// Starts TLS: everything the client sent before the handshake and that
    /// is still buffered (pipelined after STARTTLS, CVE-2011-0411) is thrown
    /// away, never executed. Returns how many bytes were discarded.
    ///
    /// # Errors
    /// The handshake failed; the connection is unusable.
    pub(super) async fn start_tls(&mut self, acceptor: &TlsAcceptor) -> std::io::Result<usize> {
        let discarded = self.read_buf.len();
        self.read_buf.clear();
        self.lines = LineDecoder::new(AUTH_LINE_MAX);
        let tcp = self.io.take_plain()?;
        let tls = acceptor.accept(tcp).await?;
        self.io = MaybeTls::Tls(Box::new(tls));
        Ok(discarded)
    }

    /// Waits until `until` (the greeting time) for the client to stay quiet.
    /// Returns true if it sent anything first (an early talker, typically a
    /// bot that does not wait for the greeting). A deadline in the past still
    /// catches bytes that already arrived.
    ///
    /// # Errors
    /// The client connection failed or closed.
    pub(super) async fn talks_before(&mut self, until: tokio::time::Instant) -> std::io::Result<bool> {
        use futures_util::FutureExt;
        let read = if until <= tokio::time::Instant::now() {
            // No delay left: one non-blocking look. A timer here would cost up
            // to a millisecond per connection (tokio's timer resolution).
            self.io.read_buf(&mut self.read_buf).now_or_never()
        } else {
            tokio::time::timeout_at(until, self.io.read_buf(&mut self.read_buf)).await.ok()
        };
        match read {
            None => Ok(false),
            Some(Ok(0)) => Err(std::io::ErrorKind::UnexpectedEof.into()),
            Some(Ok(_)) => Ok(true),
            Some(Err(e)) => Err(e),
        }
    }

    /// Client input is waiting that no reply was sent for yet: bytes
    /// buffered, or on the socket now (looked at without waiting).
    pub(super) fn input_pending(&mut self) -> bool {
        use futures_util::FutureExt;
        if !self.read_buf.is_empty() {
            return true;
        }
        self.read_buf.reserve(512);
        matches!(self.io.read_buf(&mut self.read_buf).now_or_never(), Some(Ok(n)) if n > 0)
    }

    /// Adds a reply to the output; [`Connection::flush`] sends it.
    pub(super) fn queue(&mut self, reply: &Reply) {
        reply.encode(&mut self.write_buf);
    }

    /// Sends all queued replies in one write, within the write timeout. The
    /// queue is bounded: the session stops taking pipelined commands once
    /// [`WRITE_HIGH_WATER`] bytes of replies wait, so a client that does not
    /// read holds at most that much, for at most the write timeout.
    ///
    /// # Errors
    /// The client connection failed, or did not take the replies in time.
    pub(super) async fn flush(&mut self) -> std::io::Result<()> {
        if self.write_buf.is_empty() {
            return Ok(());
        }
        if self.stalled {
            return Err(std::io::ErrorKind::TimedOut.into());
        }
        match tokio::time::timeout(self.write_timeout, self.io.write_all(&self.write_buf)).await {
            Ok(Ok(())) => {
                self.write_buf.clear();
                Ok(())
            }
            Ok(Err(e)) => {
                self.stalled = true;
                Err(e)
            }
            Err(_) => {
                self.stalled = true;
                Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "the client did not read its replies"))
            }
        }
    }

    /// A write was interrupted from outside (session time limit, shutdown):
    /// what is queued can no longer be sent in order, so nothing more is.
    pub(super) fn abandon_output(&mut self) {
        self.stalled = true;
    }

    /// A line already in the read buffer, without touching the socket. Lets the
    /// session answer a pipelined group with one write at its end.
    pub(super) fn buffered_line(&mut self) -> Option<Input> {
        if self.write_buf.len() >= WRITE_HIGH_WATER {
            return None;
        }
        match self.lines.decode(&mut self.read_buf) {
            Ok(Some(line)) => Some(Input::Line(line)),
            Ok(None) => None,
            Err(LineError::TooLong { .. }) => Some(Input::TooLong),
        }
    }

    /// Waits for the next line. Cancel-safe: partial input stays buffered.
    /// Queued replies must be flushed first (they are not sent from here,
    /// because a cancelled write would lose track of what was sent).
    ///
    /// # Errors
    /// The client connection failed.
    pub(super) async fn next_line(&mut self) -> std::io::Result<Input> {
        loop {
            match self.lines.decode(&mut self.read_buf) {
                Ok(Some(line)) => return Ok(Input::Line(line)),
                Err(LineError::TooLong { .. }) => return Ok(Input::TooLong),
                Ok(None) => {}
            }
            self.read_buf.reserve(4096);
            if self.io.read_buf(&mut self.read_buf).await? == 0 {
                return Ok(Input::Eof);
            }
        }
    }

    /// Reads message text after 354: decodes what is buffered, or reads
    /// once and decodes that, appending the content to `out`. Bytes after
    /// the final dot stay buffered as commands.
    ///
    /// # Errors
    /// The client connection failed.
    pub(super) async fn read_data(
        &mut self,
        decoder: &mut DataDecoder,
        out: &mut Vec<u8>,
        timer: &mut Timer,
        until: tokio::time::Instant,
    ) -> std::io::Result<DataRead> {
        if self.read_buf.is_empty() {
            self.read_buf.reserve(READ_CHUNK);
            match timer.within(until, self.io.read_buf(&mut self.read_buf)).await {
                None => return Ok(DataRead::Done(DataEnd::Timeout)),
                Some(Ok(0)) => return Ok(DataRead::Done(DataEnd::ClientGone)),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e),
            }
        }
        let (consumed, done) = decoder.decode(&self.read_buf, out);
        self.read_buf.advance(consumed);
        Ok(if done { DataRead::Done(DataEnd::Complete) } else { DataRead::More })
    }

    /// Flushes (unless the client stopped reading) and closes the write
    /// side, within the write timeout and [`CLOSE_MAX`].
    pub(super) async fn close(&mut self) {
        let _ = self.flush().await;
        let _ = tokio::time::timeout(CLOSE_MAX.min(self.write_timeout), self.io.shutdown()).await;
    }
}

//! The clamd client: `zINSTREAM` over TCP or a unix socket, fed while the
//! message arrives, and a strict reply parser.
//!
//! Protocol (clamd(8), checked against clamd 1.4 in `tests/scanners`):
//! `zINSTREAM\0`, then chunks as `<u32 big-endian length><bytes>`, then a
//! zero length. The reply ends in NUL: `stream: OK\0`, `stream: <name>
//! FOUND\0`, or `<text> ERROR\0`. Over `StreamMaxLength` clamd answers
//! `INSTREAM size limit exceeded. ERROR\0` and closes the socket while the
//! client may still be writing: a write that fails with EPIPE/ECONNRESET is
//! followed by an attempt to read that reply. doorman also enforces its own
//! `max_size`, so it does not depend on that path.
//!
//! Connections are reused with `zIDSESSION`: a message takes an idle session
//! (or opens one), and gives it back after a verdict. clamd numbers its
//! replies in a session (`1: stream: OK`) and ends the session on any error,
//! so a session goes back to the pool only after `OK` or `FOUND`. A pooled
//! session that clamd closed meanwhile shows as a broken stream, which the
//! engine answers by scanning the spooled message once more; the other idle
//! sessions of that endpoint are dropped then, as likely stale too.

use std::io;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use super::endpoint::{Conn, connect_any, escape};
use super::pool::Pool;
use super::{ScanContext, ScanError, Scanner, Verdict};
use crate::config as settings;

/// The scanner's name in logs, metrics and headers.
pub const NAME: &str = "clamav";

/// Largest INSTREAM chunk doorman writes.
const FRAME_MAX: usize = 64 * 1024;
/// Longest reply doorman reads; clamd's are under 300 bytes.
const REPLY_MAX: usize = 1024;
/// An idle session older than this is closed, not reused: clamd's own
/// IdleTimeout (30 s by default) would have ended it.
const SESSION_IDLE_MAX: Duration = Duration::from_secs(10);
/// Idle sessions kept at most.
const SESSIONS_MAX: usize = 32;

/// The clamd client with its endpoint pool.
#[derive(Debug)]
pub struct ClamdClient {
    pool: Pool,
    connect_timeout: Duration,
    /// Limit for one write while streaming, and for the reply.
    timeout: Duration,
    max_size: u64,
    /// Idle IDSESSION connections: (endpoint index, connection, idle since).
    sessions: Mutex<Vec<(usize, Conn, Instant)>>,
    /// Connections opened (for tests and logs).
    opened: std::sync::atomic::AtomicU64,
}

/// A write that did not complete.
enum WriteFail {
    Timeout,
    Io(io::Error),
}

impl ClamdClient {
    /// A client for `scanners.clamav`.
    pub fn new(cfg: &settings::Clamav) -> Self {
        Self {
            pool: Pool::new(&cfg.addresses, cfg.backoff, cfg.max_backoff),
            connect_timeout: cfg.connect_timeout,
            timeout: cfg.timeout,
            max_size: cfg.max_size.as_u64(),
            sessions: Mutex::new(Vec::new()),
            opened: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// An idle session on an endpoint that is not resting, if any.
    fn take_session(&self) -> Option<(usize, Conn)> {
        let mut sessions = self.sessions.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        sessions.retain(|(_, _, since)| since.elapsed() < SESSION_IDLE_MAX);
        let pos = sessions.iter().rposition(|(i, _, _)| !self.pool.is_resting(*i))?;
        let (i, conn, _) = sessions.swap_remove(pos);
        Some((i, conn))
    }

    fn put_session(&self, i: usize, conn: Conn) {
        let mut sessions = self.sessions.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if sessions.len() < SESSIONS_MAX {
            sessions.push((i, conn, Instant::now()));
        }
    }

    /// Idle sessions ready for the next message.
    pub fn idle_sessions(&self) -> usize {
        self.sessions.lock().unwrap_or_else(std::sync::PoisonError::into_inner).len()
    }

    /// Connections opened so far (sessions started).
    pub fn connections_opened(&self) -> u64 {
        self.opened.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn drop_sessions(&self, endpoint: usize) {
        let mut sessions = self.sessions.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        sessions.retain(|(i, _, _)| *i != endpoint);
    }

    /// A pooled session, or a new connection that starts one.
    async fn session(&self) -> Result<(usize, Conn, bool), ScanError> {
        if let Some((i, conn)) = self.take_session() {
            return Ok((i, conn, true));
        }
        let (i, mut conn) = connect_any(&self.pool, self.connect_timeout).await?;
        self.opened.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if let Err(f) = self.write(&mut conn, b"zIDSESSION\0").await {
            let e = self.write_error(&self.pool.address(i).to_string(), "starting a session", f);
            self.pool.failure(i);
            return Err(e);
        }
        Ok((i, conn, false))
    }

    /// The endpoint pool.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// `zPING` on the next endpoint: `Ok` if it answers `PONG`.
    ///
    /// # Errors
    /// No endpoint reachable, timeout, or another reply.
    pub async fn ping(&self) -> Result<(), ScanError> {
        let (i, mut conn) = connect_any(&self.pool, self.connect_timeout).await?;
        let endpoint = self.pool.address(i).to_string();
        let result = async {
            self.write(&mut conn, b"zPING\0").await.map_err(|f| self.write_error(&endpoint, "sending PING", f))?;
            let reply = self.read_reply(&mut conn, &endpoint).await?;
            if reply == b"PONG\0" {
                Ok(())
            } else {
                Err(ScanError::Protocol {
                    endpoint: endpoint.clone(),
                    detail: format!("PING answered \"{}\"", escape(&reply, 100)),
                })
            }
        }
        .await;
        self.account(i, &result);
        result
    }

    /// Scans a message streamed over `chunks`: connects at once, writes each
    /// chunk as it arrives, and when the sender side is dropped (the message
    /// is complete) sends the end marker and reads the verdict.
    ///
    /// # Errors
    /// See [`ScanError`]; clamd's size limit is [`ScanError::TooBig`].
    pub async fn stream(&self, chunks: mpsc::Receiver<Bytes>) -> Result<Verdict, ScanError> {
        let (i, mut conn, pooled) = self.session().await?;
        let endpoint = self.pool.address(i).to_string();
        let result = self.instream(&mut conn, &endpoint, chunks).await;
        match &result {
            // clamd keeps the session after OK and FOUND, and ends it after any error.
            Ok(_) => self.put_session(i, conn),
            // A stale pooled session is not the endpoint's fault; its idle
            // siblings are likely stale too.
            Err(_) if pooled => {
                self.drop_sessions(i);
                return result;
            }
            Err(_) => {}
        }
        self.account(i, &result);
        result
    }

    fn account(&self, i: usize, result: &Result<impl Sized, ScanError>) {
        match result {
            Err(e) if e.blames_endpoint() => self.pool.failure(i),
            _ => self.pool.success(i),
        }
    }

    async fn instream(
        &self,
        conn: &mut Conn,
        endpoint: &str,
        mut chunks: mpsc::Receiver<Bytes>,
    ) -> Result<Verdict, ScanError> {
        if let Err(f) = self.write(conn, b"zINSTREAM\0").await {
            return self.after_write_failure(conn, endpoint, f).await;
        }
        let mut sent = 0u64;
        let mut out = BytesMut::new();
        // No limit on waiting for the next chunk: that is the client's pace,
        // bounded by the session's own timeouts.
        while let Some(first) = chunks.recv().await {
            frame(&mut out, &first);
            sent += first.len() as u64;
            // Whatever else is queued goes out in the same write.
            while out.len() < FRAME_MAX {
                let Ok(more) = chunks.try_recv() else { break };
                frame(&mut out, &more);
                sent += more.len() as u64;
            }
            if sent > self.max_size {
                return Err(ScanError::TooBig { detail: format!("over clamav.max_size of {} bytes", self.max_size) });
            }
            let batch = out.split();
            if let Err(f) = self.write(conn, &batch).await {
                return self.after_write_failure(conn, endpoint, f).await;
            }
        }
        if let Err(f) = self.write(conn, &[0, 0, 0, 0]).await {
            return self.after_write_failure(conn, endpoint, f).await;
        }
        let reply = self.read_reply(conn, endpoint).await?;
        to_verdict(parse_reply(&reply), endpoint)
    }

    async fn write(&self, conn: &mut Conn, bytes: &[u8]) -> Result<(), WriteFail> {
        match tokio::time::timeout(self.timeout, conn.write_all(bytes)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(WriteFail::Io(e)),
            Err(_) => Err(WriteFail::Timeout),
        }
    }

    fn write_error(&self, endpoint: &str, stage: &'static str, f: WriteFail) -> ScanError {
        match f {
            WriteFail::Timeout => ScanError::Timeout { endpoint: endpoint.to_owned(), stage, after: self.timeout },
            WriteFail::Io(source) => ScanError::Io { endpoint: endpoint.to_owned(), stage, source },
        }
    }

    /// A write failed: clamd may have closed the stream with a reply (its
    /// size limit), so read it before calling it an I/O error.
    async fn after_write_failure(&self, conn: &mut Conn, endpoint: &str, f: WriteFail) -> Result<Verdict, ScanError> {
        let WriteFail::Io(source) = f else {
            return Err(self.write_error(endpoint, "streaming the message", f));
        };
        match self.read_reply(conn, endpoint).await.map(|r| parse_reply(&r)) {
            Ok(Ok(ClamdReply::SizeLimitExceeded)) => Err(too_big_for_clamd()),
            Ok(Ok(ClamdReply::Found(signature))) => Ok(Verdict::Infected { signature }),
            Ok(Ok(ClamdReply::Error(text))) => {
                Err(ScanError::Scanner { endpoint: endpoint.to_owned(), detail: escape(text.as_bytes(), 200) })
            }
            // "clean" for a message clamd did not get whole is no verdict.
            _ => Err(ScanError::Io { endpoint: endpoint.to_owned(), stage: "streaming the message", source }),
        }
    }

    /// Reads one reply: up to a NUL or LF (clamd's own timeouts end in LF),
    /// EOF, or [`REPLY_MAX`] bytes.
    async fn read_reply(&self, conn: &mut Conn, endpoint: &str) -> Result<Vec<u8>, ScanError> {
        let mut reply = Vec::with_capacity(64);
        let read = async {
            let mut buf = [0u8; 256];
            loop {
                let room = (REPLY_MAX - reply.len()).min(buf.len());
                let n = match conn.read(&mut buf[..room]).await {
                    Ok(n) => n,
                    // A reset after part of a reply: parse what arrived.
                    Err(_) if !reply.is_empty() => return Ok(()),
                    Err(e) => return Err(e),
                };
                reply.extend_from_slice(&buf[..n]);
                if n == 0 || reply.len() >= REPLY_MAX || matches!(reply.last(), Some(0 | b'\n')) {
                    return Ok(());
                }
            }
        };
        match tokio::time::timeout(self.timeout, read).await {
            Ok(Ok(())) => Ok(reply),
            Ok(Err(source)) => {
                Err(ScanError::Io { endpoint: endpoint.to_owned(), stage: "reading the verdict", source })
            }
            Err(_) => Err(ScanError::Timeout {
                endpoint: endpoint.to_owned(),
                stage: "waiting for the verdict",
                after: self.timeout,
            }),
        }
    }
}

fn too_big_for_clamd() -> ScanError {
    ScanError::TooBig { detail: "over clamd's StreamMaxLength".into() }
}

/// Appends `data` as INSTREAM chunks of at most [`FRAME_MAX`] bytes.
fn frame(out: &mut BytesMut, data: &[u8]) {
    for piece in data.chunks(FRAME_MAX) {
        // FRAME_MAX fits in a u32.
        out.put_u32(u32::try_from(piece.len()).unwrap_or(u32::MAX));
        out.put_slice(piece);
    }
}

impl Scanner for ClamdClient {
    fn name(&self) -> &'static str {
        NAME
    }

    /// Scans a complete message (the streaming path is
    /// [`ClamdClient::stream`]).
    async fn scan(&self, message: Bytes, _ctx: &ScanContext) -> Result<Verdict, ScanError> {
        if message.len() as u64 > self.max_size {
            return Err(ScanError::TooBig { detail: format!("over clamav.max_size of {} bytes", self.max_size) });
        }
        let (tx, rx) = mpsc::channel(super::STREAM_QUEUE);
        let feed = async move {
            let mut at = 0;
            while at < message.len() {
                let end = (at + FRAME_MAX).min(message.len());
                if tx.send(message.slice(at..end)).await.is_err() {
                    return;
                }
                at = end;
            }
        };
        let ((), verdict) = tokio::join!(feed, self.stream(rx));
        verdict
    }
}

mod reply;

use reply::to_verdict;
pub use reply::{ClamdReply, parse_reply};

#[cfg(test)]
mod tests;

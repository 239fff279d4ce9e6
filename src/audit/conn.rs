//! One connection to the audited server, as a client: every read and write
//! bounded in time (the step limit, never past the audit's deadline) and
//! in size ([`MAX_REPLY`]), replies recorded as received ([`RawReply`]),
//! STARTTLS with a verifier that accepts any certificate so it can be
//! inspected. Nothing here judges.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use rustls_pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::ClientConfig;

use super::raw_reply::{End, RawReply, complete_reply, partial_reply};
use super::transcript::Exchange;
use crate::tls::{MaybeTls, UpstreamStream};

/// The most the audit reads for one reply: far above any sane reply (a
/// 100-line EHLO is 5 KiB), far below what hurts (a 10 MB banner).
pub const MAX_REPLY: usize = 64 * 1024;

/// How long each step may take, and when the whole audit must end.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Each connect, reply and handshake.
    pub step: Duration,
    /// The whole audit.
    pub deadline: Instant,
}

impl Limits {
    /// When the step starting now must end.
    fn until(&self) -> Instant {
        (Instant::now() + self.step).min(self.deadline)
    }
}

/// A client connection with its read buffer.
pub struct Conn {
    stream: UpstreamStream,
    buf: BytesMut,
    limits: Limits,
}

impl Conn {
    /// Connects to `target` (`host:port`; a name is resolved).
    ///
    /// # Errors
    /// Resolution, refusal or the time limit; the message says which.
    pub async fn connect(target: &str, limits: Limits) -> Result<Self, String> {
        let stream = match tokio::time::timeout_at(limits.until(), TcpStream::connect(target)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(format!("cannot connect to {target}: {e}")),
            Err(_) => return Err(format!("cannot connect to {target}: no answer within {:?}", limits.step)),
        };
        let _ = stream.set_nodelay(true);
        Ok(Self { stream: MaybeTls::Plain(stream), buf: BytesMut::new(), limits })
    }

    /// Connects and writes `early` before the server can greet: an early
    /// talker. A blocking connect returns the moment the handshake is done
    /// and the write follows in the same thread, while the server still has
    /// to accept and prepare its greeting; through the async runtime the
    /// write would wait for a wake-up and lose that race about half the time.
    ///
    /// # Errors
    /// Resolution, refusal, the time limit, or the write failed.
    pub async fn connect_talking(target: &str, limits: Limits, early: &[u8]) -> Result<Self, String> {
        let until = limits.until();
        let resolved = tokio::time::timeout_at(until, tokio::net::lookup_host(target)).await;
        let addr = match resolved {
            Ok(Ok(mut addrs)) => addrs.next().ok_or_else(|| format!("{target}: no address"))?,
            Ok(Err(e)) => return Err(format!("cannot resolve {target}: {e}")),
            Err(_) => return Err(format!("cannot resolve {target} within {:?}", limits.step)),
        };
        let (early, step) = (early.to_vec(), limits.step);
        let connect = tokio::task::spawn_blocking(move || -> std::io::Result<std::net::TcpStream> {
            use std::io::Write;
            let s = std::net::TcpStream::connect_timeout(&addr, step)?;
            s.set_write_timeout(Some(step))?;
            (&s).write_all(&early)?;
            s.set_nonblocking(true)?;
            Ok(s)
        });
        let stream = match tokio::time::timeout_at(until, connect).await {
            Ok(Ok(Ok(s))) => TcpStream::from_std(s).map_err(|e| format!("{target}: {e}"))?,
            Ok(Ok(Err(e))) => return Err(format!("cannot connect to {target} and talk: {e}")),
            Ok(Err(e)) => return Err(format!("cannot connect to {target}: {e}")),
            Err(_) => return Err(format!("cannot connect to {target}: no answer within {:?}", limits.step)),
        };
        let _ = stream.set_nodelay(true);
        Ok(Self { stream: MaybeTls::Plain(stream), buf: BytesMut::new(), limits })
    }

    /// Writes `bytes` in one write.
    ///
    /// # Errors
    /// The write failed or timed out.
    pub async fn send(&mut self, bytes: &[u8]) -> Result<(), End> {
        match tokio::time::timeout_at(self.limits.until(), self.stream.write_all(bytes)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(End::Failed(format!("write failed: {e}"))),
            Err(_) => Err(End::Timeout),
        }
    }

    /// Sends one command line and reads its reply.
    pub async fn command(&mut self, line: &str) -> Exchange {
        let reply = match self.send(format!("{line}\r\n").as_bytes()).await {
            Ok(()) => self.read_reply().await,
            Err(end) => RawReply::missing(end),
        };
        Exchange { command: line.to_owned(), reply }
    }

    /// Reads one reply, whatever shape it has, within the step limit and
    /// [`MAX_REPLY`] bytes.
    pub async fn read_reply(&mut self) -> RawReply {
        let until = self.limits.until();
        let mut reads = 0;
        let mut chunk = [0u8; 8192];
        loop {
            if let Some((lines, used)) = complete_reply(&self.buf) {
                self.buf.advance(used);
                return RawReply { lines, end: End::Complete, reads };
            }
            if self.buf.len() >= MAX_REPLY {
                return self.give_up(End::TooBig, reads);
            }
            let room = chunk.len().min(MAX_REPLY - self.buf.len());
            match tokio::time::timeout_at(until, self.stream.read(&mut chunk[..room])).await {
                Ok(Ok(0)) => return self.give_up(End::Closed, reads),
                Ok(Ok(n)) => {
                    reads += 1;
                    self.buf.extend_from_slice(&chunk[..n]);
                }
                Ok(Err(e)) => return self.give_up(End::Failed(format!("read failed: {e}")), reads),
                Err(_) => return self.give_up(End::Timeout, reads),
            }
        }
    }

    /// What arrived of an incomplete reply; the buffer is emptied.
    fn give_up(&mut self, end: End, reads: usize) -> RawReply {
        let lines = partial_reply(&self.buf);
        self.buf.clear();
        RawReply { lines, end, reads }
    }

    /// The TLS handshake after a 220 to STARTTLS. Plaintext the server sent
    /// after its 220 is dropped (it must not be read as protected).
    ///
    /// # Errors
    /// The handshake failed or timed out.
    pub async fn start_tls(&mut self, config: Arc<ClientConfig>, name: ServerName<'static>) -> Result<(), String> {
        self.buf.clear();
        let tcp = self.stream.take_plain().map_err(|e| e.to_string())?;
        let handshake = TlsConnector::from(config).connect(name, tcp);
        match tokio::time::timeout_at(self.limits.until(), handshake).await {
            Ok(Ok(tls)) => {
                self.stream = MaybeTls::Tls(Box::new(tls));
                Ok(())
            }
            Ok(Err(e)) => Err(format!("handshake failed: {e}")),
            Err(_) => Err(format!("no handshake within {:?}", self.limits.step)),
        }
    }

    /// The TLS session, once the handshake is done.
    pub fn tls(&self) -> Option<&tokio_rustls::rustls::ClientConnection> {
        match &self.stream {
            MaybeTls::Tls(s) => Some(s.get_ref().1),
            _ => None,
        }
    }

    /// Says QUIT and waits briefly for the reply; the connection closes either way.
    pub async fn quit(mut self) {
        self.limits.step = self.limits.step.min(Duration::from_secs(2));
        if self.send(b"QUIT\r\n").await.is_ok() {
            let _ = self.read_reply().await;
        }
    }
}

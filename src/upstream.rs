//! The SMTP client toward the upstream MTA: connect (with an optional PROXY
//! header) and read the greeting, STARTTLS, relay commands and read their
//! replies, and deliver a spooled message with dot-stuffing. Each stage has
//! its own timeout and error variant, so logs can say where the upstream
//! failed. The read buffer lives in the client, so replies that arrive
//! together are never lost.

mod error;
pub(crate) mod identity;
pub(crate) mod known;

use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub(crate) use error::{Stage, UpstreamError};

use crate::config;
use crate::spool::Spool;
use crate::timer::Timer;
use crate::tls::{Io, MaybeTls, UpstreamStream, UpstreamTls};
use crate::wire::{Capabilities, Command, DotStuffer, Reply, ReplyParser};

/// Message content is written to the upstream in batches of at least this size.
const WRITE_BATCH: usize = 64 * 1024;

/// How a message delivery ended.
#[derive(Debug)]
pub(crate) enum Delivery {
    /// The upstream refused DATA itself; its transaction may still be open.
    DataRefused(Reply),
    /// The upstream's reply to the final dot.
    Final(Reply),
}

/// How doorman reaches the upstream: a TCP connection in production
/// ([`TcpDialer`]), an in-memory pipe to a scripted upstream in the session
/// tests.
pub(crate) trait Dialer: Clone + Send + Sync + 'static {
    /// The stream a dial gives.
    type Stream: Io;
    /// Connects to `address` (`host:port`).
    fn dial(&self, address: &str) -> impl Future<Output = std::io::Result<Self::Stream>> + Send;
}

/// TCP, with `TCP_NODELAY` (replies are small and latency matters).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TcpDialer;

impl Dialer for TcpDialer {
    type Stream = TcpStream;

    async fn dial(&self, address: &str) -> std::io::Result<TcpStream> {
        let tcp = TcpStream::connect(address).await?;
        tcp.set_nodelay(true)?;
        Ok(tcp)
    }
}

/// A connection to the upstream MTA; see the module docs.
#[derive(Debug)]
pub(crate) struct UpstreamClient<U: Io = TcpStream> {
    stream: UpstreamStream<U>,
    read_buf: BytesMut,
    write_buf: BytesMut,
    reply_timeout: Duration,
    data_timeout: Duration,
    /// Bounds the waits for replies.
    timer: Timer,
}

impl<U: Io> UpstreamClient<U> {
    /// Connects, sends `preamble` (a PROXY header) if any, and reads the
    /// greeting, all within `connect_timeout`.
    ///
    /// # Errors
    /// Connection refused, timeout, or a malformed greeting.
    pub(crate) async fn connect<D: Dialer<Stream = U>>(
        dialer: &D,
        cfg: &config::Upstream,
        preamble: Option<&[u8]>,
    ) -> Result<(Self, Reply), UpstreamError> {
        let after = cfg.connect_timeout;
        let attempt = async {
            let plain = dialer
                .dial(cfg.address.as_str())
                .await
                .map_err(|source| UpstreamError::Connect { addr: cfg.address.clone(), source })?;
            let mut client = Self {
                stream: MaybeTls::Plain(plain),
                read_buf: BytesMut::with_capacity(4096),
                write_buf: BytesMut::with_capacity(4096),
                reply_timeout: cfg.reply_timeout,
                data_timeout: cfg.data_timeout,
                timer: Timer::new(),
            };
            if let Some(bytes) = preamble {
                client.write_buf.extend_from_slice(bytes);
                client.write_out(Stage::Connect).await?;
            }
            let greeting = client.read_reply_untimed(Stage::Greeting).await?;
            Ok((client, greeting))
        };
        tokio::time::timeout(after, attempt)
            .await
            .map_err(|_| UpstreamError::ConnectTimeout { addr: cfg.address.clone(), after })?
    }

    /// Opens a session as every connection to the upstream must: `preamble`
    /// (a PROXY header, when that is the identity mode), a 220 greeting, and
    /// STARTTLS under `tls` (`upstream.tls`). Sessions and the readiness
    /// probe both come through here, so the probe tests what sessions need.
    ///
    /// # Errors
    /// Any [`UpstreamError`]; a greeting other than 220 is
    /// [`UpstreamError::Unexpected`] (the connection is closed first).
    pub(crate) async fn open<D: Dialer<Stream = U>>(
        dialer: &D,
        cfg: &config::Upstream,
        preamble: Option<&[u8]>,
        hostname: &str,
        tls: Option<&UpstreamTls>,
    ) -> Result<(Self, Reply), UpstreamError> {
        use crate::metrics::{TlsLabels, metrics};
        let (mut upstream, greeting) = Self::connect(dialer, cfg, preamble).await?;
        if greeting.code() != 220 {
            upstream.quit().await;
            return Err(UpstreamError::Unexpected { stage: Stage::Greeting, reply: greeting });
        }
        let Some(tls) = tls else {
            return Ok((upstream, greeting));
        };
        let result = upstream.starttls(hostname, tls).await;
        if !matches!(result, Ok(false)) {
            let label = if matches!(result, Ok(true)) { "ok" } else { "failed" };
            metrics().tls_handshakes.get_or_create(&TlsLabels { side: "upstream", result: label }).inc();
        }
        match result? {
            false if cfg.tls == config::UpstreamTlsMode::Required => Err(UpstreamError::TlsUnavailable),
            false => {
                tracing::warn!(
                    "upstream does not offer STARTTLS; continuing in plaintext (upstream.tls: opportunistic)"
                );
                Ok((upstream, greeting))
            }
            true => Ok((upstream, greeting)),
        }
    }

    /// Says EHLO with doorman's own name and returns the upstream's extensions.
    ///
    /// # Errors
    /// Transport failures, or a refused EHLO.
    pub(crate) async fn ehlo(&mut self, hostname: &str) -> Result<Capabilities, UpstreamError> {
        let reply = self.command(&Command::Ehlo { domain: hostname.to_owned() }, Stage::Helo).await?;
        if !reply.is_positive() {
            return Err(UpstreamError::Unexpected { stage: Stage::Helo, reply });
        }
        Ok(Capabilities::from_ehlo(&reply))
    }

    /// STARTTLS toward the upstream when it offers it. Returns whether TLS is
    /// now active. Bytes the upstream sends after its 220 and before the
    /// handshake are an attack (response injection, Exim CVE-2021-38371):
    /// the connection is dropped.
    ///
    /// # Errors
    /// Transport failures, a refused STARTTLS, injected bytes, or a failed
    /// handshake (including certificate verification).
    pub(crate) async fn starttls(&mut self, hostname: &str, tls: &UpstreamTls) -> Result<bool, UpstreamError> {
        if !self.ehlo(hostname).await?.has("STARTTLS") {
            return Ok(false);
        }
        let reply = self.command(&Command::StartTls, Stage::StartTls).await?;
        if reply.code() != 220 {
            return Err(UpstreamError::Unexpected { stage: Stage::StartTls, reply });
        }
        if !self.read_buf.is_empty() {
            return Err(UpstreamError::Injection);
        }
        let tcp = self.stream.take_plain().map_err(|e| UpstreamError::io(Stage::StartTls, e))?;
        let handshake = tls.connector.connect(tls.name.clone(), tcp);
        let tls_stream = tokio::time::timeout(self.reply_timeout, handshake)
            .await
            .map_err(|_| UpstreamError::Timeout { stage: Stage::StartTls, after: self.reply_timeout })?
            .map_err(|source| UpstreamError::Io { stage: Stage::StartTls, source })?;
        self.stream = MaybeTls::Tls(Box::new(tls_stream));
        Ok(true)
    }

    /// Sends a command in canonical form and reads its reply.
    ///
    /// # Errors
    /// Any transport failure, timeout or malformed reply.
    pub(crate) async fn command(&mut self, cmd: &Command, stage: Stage) -> Result<Reply, UpstreamError> {
        self.expect_silence(stage)?;
        self.write_buf.clear();
        cmd.encode(&mut self.write_buf);
        self.write_out(stage).await?;
        self.read_reply(stage, self.reply_timeout).await
    }

    /// Sends one raw line built or validated by doorman (a SASL response, an
    /// XCLIENT command) and reads the reply.
    ///
    /// # Errors
    /// Any transport failure, timeout or malformed reply.
    pub(crate) async fn line(&mut self, line: &[u8], stage: Stage) -> Result<Reply, UpstreamError> {
        self.expect_silence(stage)?;
        self.write_buf.clear();
        self.write_buf.extend_from_slice(line);
        self.write_buf.extend_from_slice(b"\r\n");
        self.write_out(stage).await?;
        self.read_reply(stage, self.reply_timeout).await
    }

    /// Delivers a spooled message: DATA, `prefix` (header lines doorman adds,
    /// CRLF-terminated), the dot-stuffed content, the final dot, and the reply
    /// to it (within `data_timeout`).
    ///
    /// # Errors
    /// Any transport failure, timeout or malformed reply; also a positive
    /// reply to DATA other than 354, which would make the content commands.
    pub(crate) async fn deliver(&mut self, prefix: &[u8], spool: &mut Spool) -> Result<Delivery, UpstreamError> {
        let reply = self.command(&Command::Data, Stage::Data).await?;
        if reply.code() != 354 {
            return if reply.is_transient() || reply.code() >= 500 {
                Ok(Delivery::DataRefused(reply))
            } else {
                Err(UpstreamError::Unexpected { stage: Stage::Data, reply })
            };
        }
        // A reply after the 354 would be taken for the reply to the final dot.
        self.expect_silence(Stage::Message)?;
        let mut stuffer = DotStuffer::default();
        self.write_buf.clear();
        stuffer.stuff(prefix, &mut self.write_buf);
        self.write_spool(spool, Some(&mut stuffer)).await?;
        stuffer.finish(&mut self.write_buf);
        self.write_out(Stage::DataEnd).await?;
        self.read_reply(Stage::DataEnd, self.data_timeout).await.map(Delivery::Final)
    }

    /// Delivers a spooled message as one chunk, `BDAT <size> LAST`, with
    /// `prefix` in front, as it stands (no stuffing: the size frames it),
    /// and reads the reply (within `data_timeout`). For an upstream that
    /// offers CHUNKING, and the only way for BINARYMIME content.
    ///
    /// # Errors
    /// Any transport failure, timeout or malformed reply.
    pub(crate) async fn deliver_chunked(
        &mut self,
        prefix: &[u8],
        spool: &mut Spool,
    ) -> Result<Delivery, UpstreamError> {
        self.expect_silence(Stage::Message)?;
        let size = prefix.len() as u64 + spool.len();
        self.write_buf.clear();
        Command::Bdat { size, last: true }.encode(&mut self.write_buf);
        self.write_buf.extend_from_slice(prefix);
        self.write_spool(spool, None).await?;
        self.write_out(Stage::DataEnd).await?;
        self.read_reply(Stage::DataEnd, self.data_timeout).await.map(Delivery::Final)
    }

    /// Appends the spooled message to the write buffer (dot-stuffed by
    /// `stuffer` for DATA, as it is for BDAT), writing out in batches: a
    /// small message and its end go out together.
    async fn write_spool(
        &mut self,
        spool: &mut Spool,
        mut stuffer: Option<&mut DotStuffer>,
    ) -> Result<(), UpstreamError> {
        let mut reader = spool.reader().await.map_err(UpstreamError::Spool)?;
        while let Some(chunk) = reader.next_chunk().await.map_err(UpstreamError::Spool)? {
            match stuffer.as_deref_mut() {
                Some(s) => s.stuff(chunk, &mut self.write_buf),
                None => self.write_buf.extend_from_slice(chunk),
            }
            if self.write_buf.len() >= WRITE_BATCH {
                self.write_out(Stage::Message).await?;
                self.write_buf.clear();
            }
        }
        Ok(())
    }

    /// Says QUIT and waits briefly for the reply; errors are irrelevant now.
    pub(crate) async fn quit(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(2), self.command(&Command::Quit, Stage::Quit)).await;
    }

    /// Says QUIT and closes without waiting for the reply (health probes).
    pub(crate) async fn close_quietly(mut self) {
        self.write_buf.clear();
        Command::Quit.encode(&mut self.write_buf);
        let _ = self.write_out(Stage::Quit).await;
        let _ = tokio::time::timeout(self.reply_timeout, self.stream.shutdown()).await;
    }

    /// Waits until the upstream speaks or closes while no command is pending:
    /// a 421 before an idle timeout, or a crash. Cancel-safe.
    pub(crate) async fn unsolicited(&mut self) -> Result<Reply, UpstreamError> {
        self.read_reply_untimed(Stage::Idle).await
    }

    /// Before a command: nothing may have arrived that no command asked for.
    /// A stray reply would otherwise be handed to the next command (a `250`
    /// for a refused recipient, or for a refused message). Looks at what is
    /// buffered and at what the socket has ready, without waiting.
    fn expect_silence(&mut self, stage: Stage) -> Result<(), UpstreamError> {
        use futures_util::FutureExt;
        if self.read_buf.is_empty() {
            match self.stream.read_buf(&mut self.read_buf).now_or_never() {
                None => return Ok(()),
                Some(Ok(0)) => return Err(UpstreamError::Closed { stage }),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(UpstreamError::io(stage, e)),
            }
        }
        Err(UpstreamError::OutOfSync { stage, unsolicited: self.read_buf.len() })
    }

    /// Writes the write buffer, within the stage's timeout: the message
    /// stream and the final dot within `data_timeout`, anything else within
    /// `reply_timeout`. An upstream that stops reading cannot hold a session.
    async fn write_out(&mut self, stage: Stage) -> Result<(), UpstreamError> {
        let after = match stage {
            Stage::Message | Stage::DataEnd => self.data_timeout,
            _ => self.reply_timeout,
        };
        let deadline = tokio::time::Instant::now() + after;
        let Self { stream, write_buf, timer, .. } = self;
        timer
            .within(deadline, stream.write_all(write_buf))
            .await
            .ok_or(UpstreamError::Timeout { stage, after })?
            .map_err(|source| UpstreamError::io(stage, source))
    }

    async fn read_reply(&mut self, stage: Stage, after: Duration) -> Result<Reply, UpstreamError> {
        let deadline = tokio::time::Instant::now() + after;
        let Self { stream, read_buf, timer, .. } = self;
        timer
            .within(deadline, read_reply(stream, read_buf, stage))
            .await
            .ok_or(UpstreamError::Timeout { stage, after })?
    }

    async fn read_reply_untimed(&mut self, stage: Stage) -> Result<Reply, UpstreamError> {
        read_reply(&mut self.stream, &mut self.read_buf, stage).await
    }
}

/// Reads until `buf` holds one whole reply, and takes it. Cancel-safe.
async fn read_reply<U: Io>(
    stream: &mut UpstreamStream<U>,
    buf: &mut BytesMut,
    stage: Stage,
) -> Result<Reply, UpstreamError> {
    let parse = if stage == Stage::Greeting { ReplyParser::parse_greeting } else { ReplyParser::parse };
    loop {
        if let Some(reply) = parse(buf).map_err(|source| UpstreamError::Protocol { stage, source })? {
            return Ok(reply);
        }
        let n = stream.read_buf(buf).await.map_err(|source| UpstreamError::io(stage, source))?;
        if n == 0 {
            return Err(UpstreamError::Closed { stage });
        }
    }
}

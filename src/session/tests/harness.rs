//! The in-memory session harness: a whole session (`session::serve`, the
//! code the server runs) over an in-memory pipe to a test client, with the
//! upstream played by [`super::upstream`]. Run under `start_paused` time:
//! timeouts elapse as soon as nothing else can happen, so a test of a
//! five-minute idle timeout takes microseconds and never depends on the
//! machine's load.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::upstream::{Mta, PipeDialer, Recorded, Upstream};
use crate::config::{Config, ListenerTls};
use crate::session::{ClientInfo, SessionEnv, serve};
use crate::shield::Shield;
use crate::state::Shared;
use crate::wire::{Capabilities, Reply, ReplyParser};

/// How long the test client waits for a reply: longer than any timer a
/// session has, so a reply that never comes is the session's doing.
const CLIENT_PATIENCE: Duration = Duration::from_secs(24 * 3600);

/// A session to start: configuration, client, upstreams.
pub(crate) struct Harness {
    extra: String,
    upstream_keys: String,
    listener_keys: String,
    peer: SocketAddr,
    tls: ListenerTls,
    upstreams: Vec<Upstream>,
    pipe: usize,
    /// The upstream's extensions doorman learned before this session.
    known: Option<&'static str>,
    /// The shield's memory, when a test shares it between sessions.
    shield: Option<Arc<Shield>>,
}

impl Harness {
    /// A session from 127.0.0.1 to an [`Mta`], with the defaults.
    pub(crate) fn new() -> Self {
        Self {
            extra: String::new(),
            upstream_keys: String::new(),
            listener_keys: String::new(),
            peer: "127.0.0.1:40000".parse().expect("address"),
            tls: ListenerTls::None,
            upstreams: vec![Upstream::Mta(Mta::default())],
            pipe: 64 * 1024,
            known: Some(Mta::default().ehlo),
            shield: None,
        }
    }

    /// Adds top-level YAML to the configuration.
    pub(crate) fn yaml(mut self, extra: &str) -> Self {
        self.extra.push_str(extra);
        self.extra.push('\n');
        self
    }

    /// Adds keys to the `upstream:` section (`client_identity: xclient`).
    pub(crate) fn upstream_keys(mut self, keys: &str) -> Self {
        for line in keys.lines() {
            self.upstream_keys.push_str(&format!("  {line}\n"));
        }
        self
    }

    /// Adds keys to the listener (`forbid_unauth_pipelining: off`).
    pub(crate) fn listener_keys(mut self, keys: &str) -> Self {
        for line in keys.lines() {
            self.listener_keys.push_str(&format!("    {line}\n"));
        }
        self
    }

    /// The client's address.
    pub(crate) fn peer(mut self, peer: &str) -> Self {
        self.peer = peer.parse().expect("address");
        self
    }

    /// The upstream's connections, in order (none left: refused).
    pub(crate) fn upstreams(mut self, upstreams: Vec<Upstream>) -> Self {
        self.upstreams = upstreams;
        self
    }

    /// One upstream connection playing `mta`.
    pub(crate) fn mta(self, mta: Mta) -> Self {
        self.upstreams(vec![Upstream::Mta(mta)])
    }

    /// The listener offers STARTTLS (the config needs `tls:`).
    pub(crate) fn starttls(mut self) -> Self {
        self.tls = ListenerTls::Starttls;
        self
    }

    /// doorman has not learned the upstream's extensions (it was down
    /// since start-up), or learned these (an EHLO reply).
    pub(crate) fn known(mut self, ehlo: Option<&'static str>) -> Self {
        self.known = ehlo;
        self
    }

    /// The shield's memory, shared with the sessions of other harnesses.
    pub(crate) fn shield(mut self, shield: &Arc<Shield>) -> Self {
        self.shield = Some(shield.clone());
        self
    }

    /// The bytes the pipe to the client holds before a write blocks (a
    /// client that does not read fills it).
    pub(crate) fn pipe(mut self, bytes: usize) -> Self {
        self.pipe = bytes;
        self
    }

    /// The configuration this harness builds.
    pub(crate) fn config(&self) -> Config {
        let yaml = format!(
            "hostname: mx.example.test\nlisten:\n  - address: 127.0.0.1:2525\n{}upstream:\n  address: upstream.test:25\n{}{}{}",
            self.listener_keys,
            self.upstream_keys,
            if self.extra.lines().any(|l| l.starts_with("dns:")) {
                ""
            } else {
                "dns:\n  nameservers: [\"127.0.0.1:9\"]\n"
            },
            self.extra
        );
        Config::from_yaml(&yaml, Path::new("session-test.yaml")).unwrap_or_else(|e| panic!("{e}\n{yaml}"))
    }

    /// Starts the session; the client has not read anything yet.
    pub(crate) fn start(self) -> Running {
        let config = self.config();
        let shared = Arc::new(Shared::new(config.clone()).expect("shared state"));
        let (client, server) = tokio::io::duplex(self.pipe);
        let dialer = PipeDialer::new(self.upstreams);
        let shutdown = CancellationToken::new();
        let sync = config.listen[0].forbid_unauth_pipelining.unwrap_or(config.limits.forbid_unauth_pipelining);
        let info = ClientInfo { peer: self.peer, local: "127.0.0.1:25".parse().expect("address"), tls: self.tls, sync };
        let spooled: Arc<std::sync::atomic::AtomicU64> = Arc::default();
        let shield = self.shield.clone().unwrap_or_default();
        if let Some(ehlo) = self.known {
            let mut buf = BytesMut::from(ehlo.as_bytes());
            let reply = ReplyParser::parse(&mut buf).ok().flatten().expect("an EHLO reply");
            shield.upstream_caps.learn(&Capabilities::from_ehlo(&reply));
        }
        let env =
            SessionEnv { shared, spooled: spooled.clone(), dialer: dialer.clone(), shutdown: shutdown.clone(), shield };
        let task = tokio::spawn(serve(server, info, "t0000001".into(), env));
        Running { client: Client { io: client, buf: BytesMut::new() }, dialer, shutdown, task, spooled }
    }

    /// Starts the session and reads the greeting.
    pub(crate) async fn greeted(self) -> Running {
        let mut s = self.start();
        let greeting = s.client.reply().await;
        assert_eq!(greeting.code(), 220, "{greeting}");
        s
    }

    /// Starts the session, reads the greeting, and says EHLO.
    pub(crate) async fn ready(self) -> Running {
        let mut s = self.greeted().await;
        let ehlo = s.client.cmd("EHLO client.example.net").await;
        assert_eq!(ehlo.code(), 250, "{ehlo}");
        s
    }
}

/// A session in progress.
pub(crate) struct Running {
    pub(crate) client: Client,
    dialer: PipeDialer,
    pub(crate) shutdown: CancellationToken,
    task: JoinHandle<()>,
    /// Bytes all spools of this session hold now (`data.spool_max_total`).
    pub(crate) spooled: Arc<std::sync::atomic::AtomicU64>,
}

impl Running {
    /// What the upstream received.
    pub(crate) fn upstream(&self) -> &Recorded {
        &self.dialer.recorded
    }

    /// Waits for the session to end, then checks the upstream scripts.
    pub(crate) async fn finished(self) -> Recorded {
        let Self { client, dialer, task, .. } = self;
        let ended = tokio::time::timeout(CLIENT_PATIENCE, task).await;
        assert!(matches!(ended, Ok(Ok(()))), "the session did not end: {ended:?}");
        drop(client);
        dialer.check();
        dialer.recorded
    }

    /// The client hangs up; waits for the session to end.
    pub(crate) async fn hang_up(self) -> Recorded {
        let Self { client, dialer, shutdown, task, spooled } = self;
        drop(client);
        Self { client: Client::closed_pipe(), dialer, shutdown, task, spooled }.finished().await
    }
}

impl PipeDialer {
    /// Fails the test if an upstream script saw something it did not expect.
    fn check(&self) {
        if let Some(m) = self.mismatch.lock().ok().and_then(|m| m.clone()) {
            panic!("{m}");
        }
    }
}

/// The test's SMTP client on the other end of the pipe (plain, or TLS over it).
pub(crate) struct Client<S = DuplexStream> {
    io: S,
    buf: BytesMut,
}

impl Client {
    /// A client whose pipe is already gone (its other end is dropped).
    fn closed_pipe() -> Self {
        let (io, _) = tokio::io::duplex(1);
        Self { io, buf: BytesMut::new() }
    }

    /// A TLS handshake with `config`, verifying `name` (after a 220 to
    /// STARTTLS); nothing may be buffered.
    pub(crate) async fn start_tls(
        self,
        config: tokio_rustls::rustls::ClientConfig,
        name: &'static str,
    ) -> Client<tokio_rustls::client::TlsStream<DuplexStream>> {
        assert!(self.buf.is_empty(), "bytes buffered before the handshake");
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let name = rustls_pki_types::ServerName::try_from(name).expect("name");
        let io = connector.connect(name, self.io).await.expect("TLS handshake");
        Client { io, buf: BytesMut::new() }
    }
}

impl<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin> Client<S> {
    /// Writes bytes as they are.
    pub(crate) async fn send(&mut self, bytes: &[u8]) {
        self.io.write_all(bytes).await.expect("write to the session");
    }

    /// Writes bytes; false if the session closed first (it may close on a
    /// client that does not read, or that trickles).
    pub(crate) async fn try_send(&mut self, bytes: &[u8]) -> bool {
        self.io.write_all(bytes).await.is_ok()
    }

    /// The next reply; fails the test if the session closed first.
    pub(crate) async fn reply(&mut self) -> Reply {
        self.try_reply().await.expect("the session closed instead of replying")
    }

    /// The next reply, or `None` if the session closed.
    pub(crate) async fn try_reply(&mut self) -> Option<Reply> {
        let read = async {
            loop {
                if let Some(r) = ReplyParser::parse(&mut self.buf).expect("a well-formed reply") {
                    return Some(r);
                }
                if self.io.read_buf(&mut self.buf).await.ok()? == 0 {
                    return None;
                }
            }
        };
        tokio::time::timeout(CLIENT_PATIENCE, read).await.expect("no reply and no close")
    }

    /// One command line and its reply.
    pub(crate) async fn cmd(&mut self, line: &str) -> Reply {
        self.send(format!("{line}\r\n").as_bytes()).await;
        self.reply().await
    }

    /// Everything the session still writes, raw (a TLS alert is not a
    /// reply), until it closes.
    pub(crate) async fn read_to_close(&mut self) -> Vec<u8> {
        let mut all = std::mem::take(&mut self.buf).to_vec();
        let read = self.io.read_to_end(&mut all);
        let _ = tokio::time::timeout(CLIENT_PATIENCE, read).await.expect("the session never closed");
        all
    }

    /// Asserts the session closes with nothing more to say.
    pub(crate) async fn closed(&mut self) {
        assert_eq!(self.try_reply().await, None, "expected the session to close");
    }

    /// MAIL, RCPT, DATA, the message and its final dot; the final reply.
    pub(crate) async fn transaction(&mut self, message: &str) -> Reply {
        assert_code(&self.cmd("MAIL FROM:<alice@sender.example>").await, 250);
        assert_code(&self.cmd("RCPT TO:<bob@example.test>").await, 250);
        assert_code(&self.cmd("DATA").await, 354);
        self.send(message.as_bytes()).await;
        self.send(b".\r\n").await;
        self.reply().await
    }
}

/// Asserts a reply's code, showing the reply on failure.
#[track_caller]
pub(crate) fn assert_code(reply: &Reply, code: u16) {
    assert_eq!(reply.code(), code, "{reply}");
}

/// Asserts a reply's code and enhanced code.
#[track_caller]
pub(crate) fn assert_reply(reply: &Reply, code: u16, enhanced: &str) {
    assert_eq!((reply.code(), reply.enhanced_code()), (code, Some(enhanced)), "{reply}");
}

/// A small message with the usual headers.
pub(crate) const MESSAGE: &str =
    "From: <alice@sender.example>\r\nTo: <bob@example.test>\r\nSubject: test\r\n\r\nHello Bob.\r\n";

//! FAULT INJECTION AND TRANSCRIPTS ONLY: the upstream of the in-memory
//! session tests. A [`PipeDialer`] hands the session one end of an in-memory
//! pipe per dial and plays an [`Upstream`] on the other end: an MTA that
//! answers every command as Postfix would (with replies a test can change
//! per verb), or a script of exact steps for faults. Everything the session
//! sent is recorded. What only a real MTA can show is tested against the
//! real Postfix in `tests/`.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

use crate::upstream::Dialer;

/// One step of a scripted upstream.
#[derive(Debug, Clone)]
pub(crate) enum Step {
    /// Write these bytes.
    Send(&'static str),
    /// Read one line; the test fails unless it starts with this.
    Expect(&'static str),
    /// Read message content through `\r\n.\r\n`.
    ExpectData,
    /// Stop reading and answering, but keep the connection open.
    Hang,
    /// Wait this long (paused time: at once), then go on.
    Wait(Duration),
    /// Close the connection.
    Close,
}

/// What answers at the upstream end of one connection.
#[derive(Debug, Clone)]
pub(crate) enum Upstream {
    /// An MTA: a greeting, then a reply per command ([`Mta`]).
    Mta(Mta),
    /// Exactly these steps, then reading (and recording) until doorman closes.
    Script(Vec<Step>),
    /// A dial that never completes (a black-holed SYN).
    Blackhole,
    /// A dial that completes after this long, then these steps.
    SlowDial(Duration, Vec<Step>),
}

/// A well-behaved MTA with replies a test may override per verb.
#[derive(Debug, Clone)]
pub(crate) struct Mta {
    pub(crate) greeting: &'static str,
    pub(crate) ehlo: &'static str,
    /// (verb, reply) pairs that win over the defaults.
    pub(crate) overrides: Vec<(&'static str, &'static str)>,
    /// A PROXY header (v1 or v2) comes first, before the greeting.
    pub(crate) proxy: bool,
}

impl Default for Mta {
    fn default() -> Self {
        Self {
            greeting: "220 backend.test ESMTP Postfix\r\n",
            ehlo: "250-backend.test\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-ENHANCEDSTATUSCODES\r\n\
                   250-8BITMIME\r\n250-SMTPUTF8\r\n250-XCLIENT NAME ADDR PROTO HELO PORT LOGIN\r\n\
                   250-XFORWARD NAME ADDR PROTO HELO SOURCE PORT IDENT\r\n250-AUTH PLAIN LOGIN\r\n250 CHUNKING\r\n",
            overrides: Vec::new(),
            proxy: false,
        }
    }
}

impl Mta {
    /// This MTA, answering `verb` (or `.` for the final dot), or the command
    /// lines that start with `verb` when it holds a space or colon
    /// (`"RCPT TO:<gone"`), with `reply`. The first override that fits wins.
    pub(crate) fn on(mut self, verb: &'static str, reply: &'static str) -> Self {
        self.overrides.push((verb, reply));
        self
    }

    fn reply_to(&self, line: &str) -> &'static str {
        let upper = line.to_ascii_uppercase();
        let verb = upper.split([' ', '\r']).next().unwrap_or("");
        let prefix = |v: &str| v.contains([' ', ':']) && upper.starts_with(&v.to_ascii_uppercase());
        match self.overrides.iter().find(|(v, _)| prefix(v)) {
            Some((_, r)) => r,
            None => self.reply(verb),
        }
    }

    fn reply(&self, verb: &str) -> &'static str {
        if let Some((_, r)) = self.overrides.iter().find(|(v, _)| v.eq_ignore_ascii_case(verb)) {
            return r;
        }
        match verb {
            "EHLO" => self.ehlo,
            "HELO" => "250 backend.test\r\n",
            "XCLIENT" => self.greeting,
            "DATA" => "354 End data with <CR><LF>.<CR><LF>\r\n",
            "." => "250 2.0.0 Ok: queued as 4ABC\r\n",
            "QUIT" => "221 2.0.0 Bye\r\n",
            "VRFY" => "252 2.0.0 alice\r\n",
            "EXPN" | "HELP" => "502 5.5.2 Error: command not recognized\r\n",
            "AUTH" => "235 2.7.0 Authentication successful\r\n",
            _ => "250 2.0.0 Ok\r\n",
        }
    }
}

/// What the upstream ends saw: the bytes of every connection, in order.
#[derive(Debug, Clone, Default)]
pub(crate) struct Recorded(Arc<Mutex<Vec<Vec<u8>>>>);

impl Recorded {
    /// How many connections were opened.
    pub(crate) fn connections(&self) -> usize {
        self.0.lock().map(|r| r.len()).unwrap_or(0)
    }

    /// Everything sent on connection `i`, as text.
    pub(crate) fn text(&self, i: usize) -> String {
        let all = self.0.lock().map(|r| r.get(i).cloned().unwrap_or_default()).unwrap_or_default();
        String::from_utf8_lossy(&all).into_owned()
    }

    /// Everything sent on every connection, as it was.
    pub(crate) fn bytes(&self) -> Vec<u8> {
        self.0.lock().map(|r| r.concat()).unwrap_or_default()
    }

    /// Everything sent on every connection, as text.
    pub(crate) fn all(&self) -> String {
        (0..self.connections()).map(|i| self.text(i)).collect()
    }

    fn push(&self, conn: usize, bytes: &[u8]) {
        if let Ok(mut r) = self.0.lock()
            && let Some(c) = r.get_mut(conn)
        {
            c.extend_from_slice(bytes);
        }
    }

    fn open(&self) -> usize {
        self.0
            .lock()
            .map(|mut r| {
                r.push(Vec::new());
                r.len() - 1
            })
            .unwrap_or(0)
    }
}

/// Dials in memory: each dial plays the next [`Upstream`]; with none left,
/// the connection is refused.
#[derive(Debug, Clone, Default)]
pub(crate) struct PipeDialer {
    upstreams: Arc<Mutex<VecDeque<Upstream>>>,
    pub(crate) recorded: Recorded,
    /// A script step that did not match: the harness fails the test.
    pub(crate) mismatch: Arc<Mutex<Option<String>>>,
}

impl PipeDialer {
    pub(crate) fn new(upstreams: Vec<Upstream>) -> Self {
        Self { upstreams: Arc::new(Mutex::new(upstreams.into())), ..Self::default() }
    }
}

impl Dialer for PipeDialer {
    type Stream = DuplexStream;

    async fn dial(&self, _address: &str) -> std::io::Result<DuplexStream> {
        let next = self.upstreams.lock().ok().and_then(|mut u| u.pop_front());
        let upstream = match next {
            None => return Err(std::io::ErrorKind::ConnectionRefused.into()),
            Some(Upstream::Blackhole) => std::future::pending().await,
            Some(Upstream::SlowDial(delay, steps)) => {
                tokio::time::sleep(delay).await;
                Upstream::Script(steps)
            }
            Some(upstream) => upstream,
        };
        let (ours, theirs) = tokio::io::duplex(256 * 1024);
        let conn = self.recorded.open();
        let (recorded, mismatch) = (self.recorded.clone(), self.mismatch.clone());
        tokio::spawn(async move {
            let mut end = End { io: theirs, buf: Vec::new(), recorded, conn };
            let failed = match upstream {
                Upstream::Mta(mta) => end.answer(&mta).await,
                Upstream::Script(steps) => end.play(steps).await,
                Upstream::Blackhole | Upstream::SlowDial(..) => None,
            };
            if let (Some(m), Ok(mut slot)) = (failed, mismatch.lock()) {
                *slot = Some(m);
            }
        });
        Ok(ours)
    }
}

/// The upstream end of one pipe.
struct End {
    io: DuplexStream,
    buf: Vec<u8>,
    recorded: Recorded,
    conn: usize,
}

impl End {
    /// Reads through `delim`; `None` when the session closed first.
    async fn read_until(&mut self, delim: &[u8]) -> Option<Vec<u8>> {
        loop {
            if let Some(at) = self.buf.windows(delim.len()).position(|w| w == delim) {
                return Some(self.buf.drain(..at + delim.len()).collect());
            }
            if !self.fill().await {
                return None;
            }
        }
    }

    /// Reads what the peer sent next into the buffer, recorded; false at
    /// the end of the stream.
    async fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 8192];
        match self.io.read(&mut chunk).await {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.recorded.push(self.conn, &chunk[..n]);
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
        }
    }

    async fn send(&mut self, bytes: &str) -> bool {
        self.io.write_all(bytes.as_bytes()).await.is_ok()
    }

    async fn drain(&mut self) {
        let mut chunk = [0u8; 8192];
        while let Ok(n @ 1..) = self.io.read(&mut chunk).await {
            self.recorded.push(self.conn, &chunk[..n]);
        }
    }

    /// Reads a PROXY header, v1 or v2, and nothing more.
    async fn proxy_header(&mut self) -> Option<()> {
        let start = self.read_exactly(5).await?;
        if start == b"PROXY" {
            self.read_until(b"\r\n").await?;
        } else {
            let fixed = self.read_exactly(11).await?;
            let len = usize::from(u16::from_be_bytes([fixed[9], fixed[10]]));
            self.read_exactly(len).await?;
        }
        Some(())
    }

    async fn read_exactly(&mut self, n: usize) -> Option<Vec<u8>> {
        while self.buf.len() < n {
            if !self.fill().await {
                return None;
            }
        }
        Some(self.buf.drain(..n).collect())
    }

    /// An MTA's dialogue until the session closes.
    async fn answer(&mut self, mta: &Mta) -> Option<String> {
        if mta.proxy {
            self.proxy_header().await?;
        }
        if !self.send(mta.greeting).await {
            return None;
        }
        while let Some(line) = self.read_until(b"\r\n").await {
            let text = String::from_utf8_lossy(&line).into_owned();
            let verb = text.split([' ', '\r']).next().unwrap_or("").to_ascii_uppercase();
            if verb == "BDAT" {
                // The chunk, then the reply its last one gets (as to a final dot).
                let size = text.split(' ').nth(1).and_then(|n| n.trim().parse().ok()).unwrap_or(0);
                if self.read_exactly(size).await.is_none() || !self.send(mta.reply(".")).await {
                    return None;
                }
                continue;
            }
            let reply = mta.reply_to(&text);
            if !self.send(reply).await {
                return None;
            }
            if verb == "DATA"
                && reply.starts_with("354")
                && (self.read_until(b"\r\n.\r\n").await.is_none() || !self.send(mta.reply(".")).await)
            {
                return None;
            }
            if verb == "QUIT" {
                return None;
            }
        }
        None
    }

    /// The script's steps; a mismatch is returned.
    async fn play(&mut self, steps: Vec<Step>) -> Option<String> {
        for step in steps {
            match step {
                Step::Send(s) => {
                    if !self.send(s).await {
                        return None;
                    }
                }
                Step::Expect(prefix) => {
                    let line = self.read_until(b"\r\n").await?;
                    let line = String::from_utf8_lossy(&line).into_owned();
                    if !line.starts_with(prefix) {
                        return Some(format!("the upstream expected {prefix:?}, got {line:?}"));
                    }
                }
                Step::ExpectData => {
                    self.read_until(b"\r\n.\r\n").await?;
                }
                Step::Hang => {
                    std::future::pending::<()>().await;
                }
                Step::Wait(delay) => tokio::time::sleep(delay).await,
                Step::Close => return None,
            }
        }
        self.drain().await;
        None
    }
}

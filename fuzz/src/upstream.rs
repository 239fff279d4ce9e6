//! The scripted upstream of the session target: an MTA whose replies are
//! drawn from a seeded generator (mostly Postfix's, sometimes a refusal, a
//! 421 or a dropped connection), which checks every byte doorman writes to
//! it with the [`crate::oracle`]. Problems are collected, not panicked on,
//! so the target reports them with the session's transcript.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

use crate::oracle::{check_command, check_data_line};

/// A small deterministic generator (xorshift).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed (any value).
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// True with probability `n`/256.
    pub fn chance(&mut self, n: u64) -> bool {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % 256 < n
    }
}

const EHLO: &str = "250-backend.test\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-ENHANCEDSTATUSCODES\r\n\
                    250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n250-XCLIENT NAME ADDR PROTO HELO PORT LOGIN\r\n\
                    250-XFORWARD NAME ADDR PROTO HELO SOURCE PORT IDENT\r\n250-AUTH PLAIN LOGIN\r\n250 CHUNKING\r\n";

/// How the upstream expects doorman to say who the client is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preamble {
    /// Nothing before the greeting.
    None,
    /// A PROXY header naming this client.
    Proxy(SocketAddr),
}

/// One upstream connection: what doorman sent, and what was wrong with it.
#[derive(Debug, Default)]
pub struct Seen {
    /// Every byte doorman wrote.
    pub bytes: Vec<u8>,
    /// Oracle violations.
    pub problems: Vec<String>,
}

struct End {
    io: DuplexStream,
    buf: Vec<u8>,
    seen: Seen,
    rng: Rng,
}

/// Plays one upstream connection until doorman or the script closes it.
pub async fn play(io: DuplexStream, seed: u64, preamble: Preamble) -> Seen {
    let mut end = End { io, buf: Vec::new(), seen: Seen::default(), rng: Rng::new(seed) };
    end.run(preamble).await;
    end.seen
}

impl End {
    /// Reads more bytes; false at the end of the stream.
    async fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 4096];
        match self.io.read(&mut chunk).await {
            Ok(n @ 1..) => {
                self.seen.bytes.extend_from_slice(&chunk[..n]);
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
            _ => false,
        }
    }

    /// The next line through its LF; `None` at the end of the stream (a
    /// partial line left then is a problem).
    async fn line(&mut self) -> Option<Vec<u8>> {
        loop {
            if let Some(lf) = self.buf.iter().position(|&b| b == b'\n') {
                return Some(self.buf.drain(..=lf).collect());
            }
            if self.buf.len() > 64 * 1024 {
                self.problem(format!("a line longer than 64 KiB: {:?}", &self.buf[..80]));
                return None;
            }
            if !self.fill().await {
                if !self.buf.is_empty() {
                    let partial = String::from_utf8_lossy(&self.buf).into_owned();
                    self.problem(format!("a partial line at the close: {partial:?}"));
                }
                return None;
            }
        }
    }

    fn problem(&mut self, p: String) {
        self.seen.problems.push(p);
    }

    async fn send(&mut self, reply: &str) -> bool {
        self.io.write_all(reply.as_bytes()).await.is_ok()
    }

    /// After DATA and after the final dot doorman must wait for the reply:
    /// once doorman has done all it can, nothing more may have arrived.
    async fn expect_quiet(&mut self, after: &str) {
        tokio::time::sleep(Duration::from_millis(1)).await;
        let mut chunk = [0u8; 4096];
        let early = match futures_poll(self.io.read(&mut chunk)) {
            Some(Ok(n)) if n > 0 => Some(chunk[..n].to_vec()),
            _ => None,
        };
        if let Some(bytes) = early {
            self.seen.bytes.extend_from_slice(&bytes);
            self.buf.extend_from_slice(&bytes);
        }
        if !self.buf.is_empty() {
            let sent = String::from_utf8_lossy(&self.buf).into_owned();
            self.problem(format!("sent before the reply to {after}: {sent:?}"));
        }
    }

    async fn run(&mut self, preamble: Preamble) {
        if let Preamble::Proxy(client) = preamble
            && !self.proxy_header(client).await
        {
            return;
        }
        let greeting = if self.rng.chance(4) { "554 5.3.2 busy\r\n" } else { "220 backend.test ESMTP\r\n" };
        if !self.send(greeting).await {
            return;
        }
        let mut sasl = false;
        while let Some(line) = self.line().await {
            if let Err(p) = check_command(&line, sasl) {
                self.problem(p);
                return;
            }
            let verb = verb(&line, sasl);
            let reply = self.reply(&verb);
            sasl = reply.starts_with("334");
            if verb == "BDAT" {
                // doorman relays a chunked message as one `BDAT <n> LAST`:
                // its octets are read by count, never as lines.
                if !self.chunk(&line).await {
                    return;
                }
                let reply = self.reply(".");
                if reply.is_empty() || !self.send(reply).await || reply.starts_with("421") {
                    return;
                }
                continue;
            }
            if verb == "DATA" {
                self.expect_quiet("DATA").await;
            }
            if reply.is_empty() || !self.send(reply).await || reply.starts_with("421") || verb == "QUIT" {
                return;
            }
            if verb == "DATA" && reply.starts_with("354") && !self.message().await {
                return;
            }
        }
    }

    /// Reads the octets of `BDAT <n> LAST`; false when the connection ended
    /// first or the command was not a single last chunk.
    async fn chunk(&mut self, line: &[u8]) -> bool {
        let text = String::from_utf8_lossy(line);
        let mut words = text.split_whitespace().skip(1);
        let (Some(size), Some(last), None) = (words.next(), words.next(), words.next()) else {
            self.problem(format!("not a single last chunk: {text:?}"));
            return false;
        };
        let Ok(size) = size.parse::<usize>() else {
            self.problem(format!("a BDAT size that does not parse: {text:?}"));
            return false;
        };
        if !last.eq_ignore_ascii_case("LAST") {
            self.problem(format!("not a single last chunk: {text:?}"));
            return false;
        }
        while self.buf.len() < size {
            if !self.fill().await {
                return false;
            }
        }
        self.buf.drain(..size);
        self.expect_quiet("BDAT LAST").await;
        true
    }

    /// Reads a message through its final dot, checking each line; then
    /// replies. False when the connection ended.
    async fn message(&mut self) -> bool {
        loop {
            let Some(line) = self.line().await else {
                return false;
            };
            match check_data_line(&line) {
                Ok(false) => {}
                Ok(true) => break,
                Err(p) => {
                    self.problem(p);
                    return false;
                }
            }
        }
        self.expect_quiet("the final dot").await;
        let reply = self.reply(".");
        !reply.is_empty() && self.send(reply).await && !reply.starts_with("421")
    }

    /// The reply to `verb`; empty: close without one.
    fn reply(&mut self, verb: &str) -> &'static str {
        if self.rng.chance(3) {
            return "";
        }
        if verb != "QUIT" && self.rng.chance(4) {
            return "421 4.3.2 shutting down\r\n";
        }
        let refuse = self.rng.chance(40);
        match (verb, refuse) {
            ("EHLO", false) => EHLO,
            ("HELO", false) => "250 backend.test\r\n",
            ("XCLIENT", false) => "220 backend.test ESMTP\r\n",
            ("DATA", false) => "354 End data with <CR><LF>.<CR><LF>\r\n",
            ("DATA", true) => "554 5.5.1 Error: no valid recipients\r\n",
            (".", false) => "250 2.0.0 Ok: queued as 4ABC\r\n",
            (".", true) => "451 4.3.0 Error: queue file write error\r\n",
            ("RCPT", true) => "550 5.1.1 <x>: Recipient address rejected\r\n",
            ("AUTH" | "SASL", false) if self.rng.chance(96) => "334 \r\n",
            ("AUTH" | "SASL", false) => "235 2.7.0 Authentication successful\r\n",
            ("AUTH" | "SASL", true) => "535 5.7.8 Error: authentication failed\r\n",
            ("VRFY", false) => "252 2.0.0 alice\r\n",
            ("QUIT", _) => "221 2.0.0 Bye\r\n",
            (_, true) => "450 4.7.1 try later\r\n",
            _ => "250 2.0.0 Ok\r\n",
        }
    }

    /// Reads the PROXY header, which must name `client`.
    async fn proxy_header(&mut self, client: SocketAddr) -> bool {
        loop {
            match doorman::fuzzing::parse_proxy_header(&self.buf) {
                Ok(Some((named, len))) => {
                    if named.map(canonical) != Some(canonical(client)) {
                        self.problem(format!("the PROXY header names {named:?}, not {client}"));
                        return false;
                    }
                    self.buf.drain(..len);
                    return true;
                }
                Ok(None) if self.fill().await => {}
                Ok(None) => return false,
                Err(e) => {
                    self.problem(format!("a bad PROXY header ({e}): {:?}", self.buf));
                    return false;
                }
            }
        }
    }
}

/// The upper-case verb of a command line (`SASL` for a SASL response).
fn verb(line: &[u8], sasl: bool) -> String {
    if sasl {
        return "SASL".to_owned();
    }
    let text = String::from_utf8_lossy(line);
    text.split([' ', '\r']).next().unwrap_or_default().to_ascii_uppercase()
}

fn canonical(a: SocketAddr) -> SocketAddr {
    match a {
        SocketAddr::V6(v6) => v6.ip().to_ipv4_mapped().map_or(a, |ip| SocketAddr::new(ip.into(), v6.port())),
        SocketAddr::V4(_) => a,
    }
}

/// Polls a future once.
fn futures_poll<F: std::future::Future>(f: F) -> Option<F::Output> {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match f.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(v) => Some(v),
        std::task::Poll::Pending => None,
    }
}

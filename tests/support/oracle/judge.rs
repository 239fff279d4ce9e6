//! The oracle's judgement of one upstream connection: what doorman wrote
//! (`sent`) read against what the upstream answered (`received`). Pure: no
//! sockets, so `tests/relay/oracle.rs` can feed it known-bad streams.
//!
//! doorman waits for the reply to each command before the next one, so the
//! n-th reply answers the n-th item: the greeting, then one reply per command
//! line, per SASL response after a 334, per BDAT chunk, and one for the
//! content of a DATA that got 354 (after its final dot). A PROXY header gets
//! none. After a 220 to STARTTLS the rest is TLS and is not read.

use std::collections::VecDeque;

use bytes::BytesMut;
use doorman::config::ClientIdentity;
use doorman::wire::limits::TEXT_LINE_MAX;
use doorman::wire::{Capabilities, Command, Reply, ReplyParser};

use super::identity;

/// What one connection showed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Each broken promise, with where it broke.
    pub violations: Vec<String>,
    /// Command lines read (identity commands and SASL responses included).
    pub commands: usize,
    /// DATA contents sent (after a 354) and BDAT LAST chunks.
    pub messages: usize,
    /// Of those, how many the upstream accepted (2xx to the final dot).
    pub accepted: usize,
    /// The connection ended inside a line or inside a DATA: the upstream
    /// discards an unfinished command or message, so this is noted, not failed.
    pub cut: bool,
    /// The rest went under TLS after STARTTLS.
    pub opaque: bool,
}

/// Judges one connection; `identity` is doorman's `upstream.client_identity`.
pub fn judge(sent: &[u8], received: &[u8], identity: ClientIdentity) -> Verdict {
    let mut w = Walk::new(sent, received, identity);
    w.run();
    w.v
}

/// A position in `sent`, the replies not yet paired, and what the session
/// has established.
struct Walk<'a> {
    sent: &'a [u8],
    pos: usize,
    replies: VecDeque<Reply>,
    identity: ClientIdentity,
    /// The PROXY header named a real client (not UNKNOWN or LOCAL).
    proxied: bool,
    /// XCLIENT was accepted on this connection.
    xclient: bool,
    /// The previous command was an XFORWARD.
    xforward: bool,
    /// The upstream's extensions from its last EHLO reply.
    caps: Option<Capabilities>,
    v: Verdict,
}

impl<'a> Walk<'a> {
    fn new(sent: &'a [u8], received: &[u8], identity: ClientIdentity) -> Self {
        Self {
            sent,
            pos: 0,
            replies: replies(received),
            identity,
            proxied: false,
            xclient: false,
            xforward: false,
            caps: None,
            v: Verdict::default(),
        }
    }

    fn fail(&mut self, what: String) {
        let at = self.pos;
        self.v.violations.push(format!("at byte {at}: {what}"));
    }

    fn run(&mut self) {
        self.preamble();
        self.replies.pop_front(); // the greeting
        while let Some(line) = self.line() {
            self.v.commands += 1;
            if !self.command(line) {
                return;
            }
        }
    }

    /// The next CRLF-terminated line without its CRLF, checking its bytes;
    /// `None` at the end (a partial last line marks the connection cut).
    fn line(&mut self) -> Option<&'a [u8]> {
        let sent: &'a [u8] = self.sent;
        let rest = &sent[self.pos..];
        if rest.is_empty() {
            return None;
        }
        let Some(lf) = rest.iter().position(|&b| b == b'\n') else {
            self.v.cut = true;
            self.pos = self.sent.len();
            return None;
        };
        let (line, crlf) = match lf.checked_sub(1).filter(|&i| rest[i] == b'\r') {
            Some(cr) => (&rest[..cr], true),
            None => (&rest[..lf], false),
        };
        if !crlf {
            self.fail(format!("bare LF ending {}", show(line)));
        }
        if line.contains(&b'\r') {
            self.fail(format!("bare CR in {}", show(line)));
        }
        if line.contains(&0) {
            self.fail(format!("NUL in {}", show(line)));
        }
        self.pos += lf + 1;
        Some(line)
    }

    /// A PROXY header, if the connection starts with one.
    fn preamble(&mut self) {
        let rest = self.sent;
        let found = identity::proxy_header(rest);
        let wanted = matches!(self.identity, ClientIdentity::ProxyV1 | ClientIdentity::ProxyV2);
        match found {
            None if wanted && !rest.is_empty() => self.fail("no PROXY header at connect".into()),
            None => {}
            Some(Err(e)) => self.fail(e),
            Some(Ok(h)) => {
                if !wanted || h.v2 != (self.identity == ClientIdentity::ProxyV2) {
                    self.fail(format!("a PROXY {} header under client_identity {:?}", h.version(), self.identity));
                }
                self.proxied = h.client;
                self.pos = h.len;
            }
        }
    }

    /// One command line and what its reply opens; false: stop reading.
    fn command(&mut self, line: &'a [u8]) -> bool {
        let reply = self.replies.pop_front();
        let verb = line.split(|&b| b == b' ').next().unwrap_or_default().to_ascii_uppercase();
        let was_xforward = std::mem::take(&mut self.xforward);
        match verb.as_slice() {
            b"XCLIENT" | b"XFORWARD" => return self.identity_command(line, reply),
            b"BDAT" => return self.bdat(line, reply),
            b"." => {
                self.fail("a lone dot outside DATA (a second end of data?)".into());
                return true;
            }
            _ => {}
        }
        let cmd = match Command::parse(line) {
            Ok(cmd) => cmd,
            Err(e) => {
                self.fail(format!("malformed command ({e}): {}", show(line)));
                return true;
            }
        };
        let mut canonical = BytesMut::new();
        cmd.encode(&mut canonical);
        if canonical.strip_suffix(b"\r\n") != Some(line) {
            self.fail(format!("malformed command (not in canonical form): {}", show(line)));
        }
        match cmd {
            Command::Ehlo { .. } => {
                self.caps = reply.as_ref().filter(|r| r.is_positive()).map(Capabilities::from_ehlo);
            }
            Command::Mail { .. } => self.mail_identity(was_xforward),
            Command::Auth { .. } => return self.sasl(reply),
            Command::Data => return self.data(reply),
            Command::StartTls if reply.as_ref().is_some_and(|r| r.code() == 220) => {
                self.v.opaque = true;
                return false;
            }
            _ => {}
        }
        true
    }

    /// XCLIENT or XFORWARD: allowed only in its mode, and whole.
    fn identity_command(&mut self, line: &[u8], reply: Option<Reply>) -> bool {
        let text = String::from_utf8_lossy(line);
        let verb = text.split(' ').next().unwrap_or_default().to_ascii_uppercase();
        let mode = if verb == "XCLIENT" { ClientIdentity::Xclient } else { ClientIdentity::Xforward };
        if self.identity != mode {
            self.fail(format!("{verb} under client_identity {:?}", self.identity));
        }
        let advertised = self.caps.as_ref().and_then(|c| c.params(&verb)).unwrap_or_default().to_owned();
        for problem in identity::attribute_command(&text, &advertised) {
            self.fail(problem);
        }
        let ok = reply.is_some_and(|r| r.is_positive() || r.code() == 220);
        match mode {
            ClientIdentity::Xclient => self.xclient |= ok,
            _ => self.xforward = ok,
        }
        true
    }

    /// Before MAIL, the upstream must know the client (modes other than none).
    fn mail_identity(&mut self, after_xforward: bool) {
        let known = match self.identity {
            ClientIdentity::Xclient => self.xclient,
            ClientIdentity::Xforward => after_xforward,
            ClientIdentity::ProxyV1 | ClientIdentity::ProxyV2 => self.proxied,
            ClientIdentity::None => true,
        };
        if !known {
            self.fail(format!("MAIL before the client's identity ({:?}) was given", self.identity));
        }
    }

    /// SASL responses while the upstream says 334.
    fn sasl(&mut self, mut reply: Option<Reply>) -> bool {
        while reply.as_ref().is_some_and(|r| r.code() == 334) {
            let Some(line) = self.line() else {
                return false;
            };
            self.v.commands += 1;
            let base64 = |b: &u8| b.is_ascii_alphanumeric() || b"+/=".contains(b);
            if line != b"*" && !line.iter().all(base64) {
                self.fail(format!("a SASL response that is not base64: {}", show(line)));
            }
            reply = self.replies.pop_front();
        }
        true
    }

    /// DATA: after a 354 the content, one lone dot, then the final reply.
    fn data(&mut self, reply: Option<Reply>) -> bool {
        match reply.map(|r| r.code()) {
            Some(354) => {}
            Some(_) => return true,
            None if self.pos < self.sent.len() => {
                self.fail("bytes after DATA before any reply to it".into());
                return false;
            }
            None => return true,
        }
        self.v.messages += 1;
        if !self.content() {
            self.v.cut = true;
            return false;
        }
        if self.replies.pop_front().is_some_and(|r| r.is_positive()) {
            self.v.accepted += 1;
        }
        true
    }

    /// The content lines up to the lone dot; false if the connection ended first.
    fn content(&mut self) -> bool {
        let start = self.pos;
        let mut first = true;
        while let Some(line) = self.line() {
            if line == b"." {
                return true;
            }
            if first && self.identity == ClientIdentity::None {
                self.received_header(start);
            }
            first = false;
            if line.first() == Some(&b'.') && line.get(1) != Some(&b'.') {
                self.fail(format!("a content line starting with a dot, not dot-stuffed: {}", show(line)));
            }
            if line.len() + 2 > TEXT_LINE_MAX {
                self.fail(format!("a content line of {} octets", line.len() + 2));
            }
        }
        false
    }

    /// `client_identity: none`: the content starts with doorman's Received.
    fn received_header(&mut self, start: usize) {
        if let Err(problem) = identity::received_header(&self.sent[start..]) {
            self.fail(problem);
        }
    }

    /// `BDAT size [LAST]`: the chunk is skipped by its size, not read as lines.
    fn bdat(&mut self, line: &[u8], reply: Option<Reply>) -> bool {
        let text = String::from_utf8_lossy(line);
        let words: Vec<&str> = text.split(' ').collect();
        let size = words.get(1).and_then(|s| s.parse::<usize>().ok());
        let last = match words.get(2) {
            None => false,
            Some(w) if w.eq_ignore_ascii_case("LAST") && words.len() == 3 => true,
            Some(_) => {
                self.fail(format!("malformed BDAT: {text}"));
                false
            }
        };
        let Some(size) = size else {
            self.fail(format!("malformed BDAT: {text}"));
            return false;
        };
        if self.sent.len() - self.pos < size {
            self.v.cut = true;
            return false;
        }
        self.pos += size;
        if last {
            self.v.messages += 1;
            self.v.accepted += usize::from(reply.is_some_and(|r| r.is_positive()));
        }
        true
    }
}

/// The upstream's replies in order; the first is its greeting.
fn replies(received: &[u8]) -> VecDeque<Reply> {
    let mut buf = BytesMut::from(received);
    let mut out = VecDeque::new();
    if let Ok(Some(greeting)) = ReplyParser::parse_greeting(&mut buf) {
        out.push_back(greeting);
        while let Ok(Some(reply)) = ReplyParser::parse(&mut buf) {
            out.push_back(reply);
        }
    }
    out
}

/// A line for a message: lossy text, at most 120 characters.
pub(super) fn show(line: &[u8]) -> String {
    let text = String::from_utf8_lossy(line);
    let short: String = text.chars().take(120).collect();
    format!("{short:?}")
}

//! Replies as a hostile server may send them. doorman's own parser
//! ([`crate::wire::ReplyParser`]) refuses anything outside RFC 5321; the
//! audit must instead *record* what it got (a 600-octet line, a bare LF,
//! mixed codes, 8-bit text) so the judging can name it. Pure: no I/O.
//!
//! A line continues the reply only if it is `DDD-...`; any other line, even
//! garbage, ends it, so a broken server cannot keep a reply open forever
//! (the byte and time limits of `conn` bound the rest).

/// One received line, without its line ending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawLine {
    /// The bytes before CRLF (or before a bare LF, or all of an unterminated tail).
    pub bytes: Vec<u8>,
    /// Ended in CRLF. False: a bare LF, or no line end at all.
    pub crlf: bool,
}

impl RawLine {
    /// The three-digit code, if the line starts with one (`200`..=`599`).
    pub fn code(&self) -> Option<u16> {
        let [a, b, c, ..] = self.bytes[..] else {
            return None;
        };
        let digits = [a, b, c].iter().all(u8::is_ascii_digit) && (b'2'..=b'5').contains(&a);
        digits.then(|| u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0'))
    }

    /// `DDD-`: more lines follow.
    pub fn is_continuation(&self) -> bool {
        self.code().is_some() && self.bytes.get(3) == Some(&b'-')
    }

    /// `DDD`, `DDD text` or `DDD-text`: a well-formed line start.
    pub fn well_formed(&self) -> bool {
        self.code().is_some() && matches!(self.bytes.get(3), None | Some(b' ' | b'-')) && self.crlf
    }

    /// Octets on the wire, CRLF included (what RFC 5321's 512 counts).
    pub fn wire_len(&self) -> usize {
        self.bytes.len() + 2
    }

    /// The text after the code and separator, escaped for display.
    pub fn text(&self) -> String {
        let rest = if self.code().is_some() { self.bytes.get(4..).unwrap_or_default() } else { &self.bytes[..] };
        escape(rest)
    }

    /// The whole line, escaped for display.
    pub fn display(&self) -> String {
        escape(&self.bytes)
    }
}

/// Printable ASCII as is, everything else (control bytes such as ESC, 8-bit
/// bytes) as `\xNN`, so a hostile server cannot drive the terminal.
pub fn escape(bytes: &[u8]) -> String {
    bytes.escape_ascii().to_string()
}

/// Why reading a reply stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// A final line arrived.
    Complete,
    /// The time limit ran out first.
    Timeout,
    /// The server closed the connection first.
    Closed,
    /// The reply grew past the byte limit; reading stopped.
    TooBig,
    /// A read or write failed.
    Failed(String),
}

/// A reply, complete or not, as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawReply {
    /// Its lines (an unterminated tail last, with `crlf` false).
    pub lines: Vec<RawLine>,
    /// Why reading stopped.
    pub end: End,
    /// How many reads it took (a greeting sent in several writes takes several).
    pub reads: usize,
}

impl RawReply {
    /// A reply that never came (`end` says why).
    pub fn missing(end: End) -> Self {
        Self { lines: Vec::new(), end, reads: 0 }
    }

    /// The code of the last line, if it has one.
    pub fn code(&self) -> Option<u16> {
        self.lines.last().and_then(RawLine::code)
    }

    /// Complete and 2xx.
    pub fn is_positive(&self) -> bool {
        self.is_complete() && self.code().is_some_and(|c| (200..300).contains(&c))
    }

    /// Complete and 5xx.
    pub fn is_permanent_failure(&self) -> bool {
        self.is_complete() && self.code().is_some_and(|c| (500..600).contains(&c))
    }

    /// A final line arrived.
    pub fn is_complete(&self) -> bool {
        self.end == End::Complete
    }

    /// The texts of the lines (after code and separator), escaped.
    pub fn texts(&self) -> Vec<String> {
        self.lines.iter().map(RawLine::text).collect()
    }

    /// The lines as sent, escaped; a note when the reply is incomplete.
    pub fn display_lines(&self) -> Vec<String> {
        let mut out: Vec<String> = self.lines.iter().map(RawLine::display).collect();
        match &self.end {
            End::Complete => {}
            End::Timeout => out.push("(no complete reply: timed out)".into()),
            End::Closed => out.push("(connection closed)".into()),
            End::TooBig => out.push("(reply too big: reading stopped)".into()),
            End::Failed(e) => out.push(format!("({e})")),
        }
        out
    }

    /// One line of evidence: the first line, and how many follow.
    pub fn summary(&self) -> String {
        let lines = self.display_lines();
        match lines.len() {
            0 => String::new(),
            1 => lines[0].clone(),
            n => format!("{} (+{} lines)", lines[0], n - 1),
        }
    }
}

/// Splits `buf` into lines at LF; the last element is the unterminated tail
/// (possibly empty).
fn split_lines(buf: &[u8]) -> (Vec<RawLine>, &[u8]) {
    let mut lines = Vec::new();
    let mut rest = buf;
    while let Some(lf) = memchr::memchr(b'\n', rest) {
        let line = &rest[..lf];
        let (bytes, crlf) = match line.strip_suffix(b"\r") {
            Some(b) => (b, true),
            None => (line, false),
        };
        lines.push(RawLine { bytes: bytes.to_vec(), crlf });
        rest = &rest[lf + 1..];
    }
    (lines, rest)
}

/// The first complete reply at the front of `buf` and the number of bytes
/// it used, or `None` if no final line has arrived yet.
pub fn complete_reply(buf: &[u8]) -> Option<(Vec<RawLine>, usize)> {
    let (lines, _) = split_lines(buf);
    let last = lines.iter().position(|l| !l.is_continuation())?;
    let used: usize = lines[..=last].iter().map(|l| l.bytes.len() + if l.crlf { 2 } else { 1 }).sum();
    let mut lines = lines;
    lines.truncate(last + 1);
    Some((lines, used))
}

/// Everything in `buf` as lines, an unterminated tail included: what an
/// incomplete reply shows.
pub fn partial_reply(buf: &[u8]) -> Vec<RawLine> {
    let (mut lines, tail) = split_lines(buf);
    if !tail.is_empty() {
        lines.push(RawLine { bytes: tail.to_vec(), crlf: false });
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_line_reply_ends_at_its_final_line() {
        let buf = b"220-a.test hi\r\n220 more\r\n250 next\r\n";
        let (lines, used) = complete_reply(buf).unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(&buf[used..], b"250 next\r\n");
        assert_eq!(lines[0].code(), Some(220));
        assert!(lines[0].is_continuation() && !lines[1].is_continuation());
        assert_eq!(lines[1].text(), "more");
    }

    #[test]
    fn incomplete_waits_and_garbage_ends_a_reply() {
        assert_eq!(complete_reply(b"220-a\r\n220 b"), None);
        assert_eq!(complete_reply(b"220-a\r\n"), None);
        let (lines, _) = complete_reply(b"220-a\r\nhello\n").unwrap();
        assert_eq!(lines[1], RawLine { bytes: b"hello".to_vec(), crlf: false });
        assert!(!lines[1].well_formed());
        assert_eq!(partial_reply(b"220-a\r\n220 b").len(), 2);
    }

    #[test]
    fn display_escapes_control_and_8bit_bytes() {
        let line = RawLine { bytes: b"220 caf\xc3\xa9 \x1b[31mred".to_vec(), crlf: true };
        assert_eq!(line.display(), "220 caf\\xc3\\xa9 \\x1b[31mred");
        assert_eq!(RawLine { bytes: b"220".to_vec(), crlf: true }.text(), "");
        assert!(RawLine { bytes: b"220".to_vec(), crlf: true }.well_formed());
        assert_eq!(RawLine { bytes: b"650 x".to_vec(), crlf: true }.code(), None);
        assert_eq!(RawLine { bytes: b"22".to_vec(), crlf: true }.code(), None);
    }
}

//! SMTP replies: the [`Reply`] type, its encoding, and a strict incremental
//! parser for replies read from the upstream MTA.

use bytes::{Buf, BufMut, BytesMut};

use super::limits::{GREETING_LINE_MAX, REPLY_LINE_MAX, REPLY_LINES_MAX};

/// A complete (possibly multi-line) SMTP reply. The text lines hold everything
/// after the code and separator, including any enhanced status code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    code: u16,
    lines: Vec<String>,
}

impl Reply {
    /// A single-line reply.
    pub fn new(code: u16, text: impl Into<String>) -> Self {
        Self { code, lines: vec![text.into()] }
    }

    /// A multi-line reply; an empty `lines` encodes as a bare code.
    pub fn multi(code: u16, lines: Vec<String>) -> Self {
        Self { code, lines }
    }

    /// The three-digit reply code.
    pub fn code(&self) -> u16 {
        self.code
    }

    /// The text of each line.
    pub fn lines(&self) -> &[String] {
        &self.lines
    }

    /// 2xx.
    pub fn is_positive(&self) -> bool {
        (200..300).contains(&self.code)
    }

    /// 3xx.
    pub fn is_intermediate(&self) -> bool {
        (300..400).contains(&self.code)
    }

    /// 4xx.
    pub fn is_transient(&self) -> bool {
        (400..500).contains(&self.code)
    }

    /// The enhanced status code (RFC 3463) at the start of the first line, if any.
    pub fn enhanced_code(&self) -> Option<&str> {
        let first = self.lines.first()?;
        let token = first.split(' ').next()?;
        let mut parts = token.split('.');
        let class = parts.next()?;
        let valid = matches!(class, "2" | "4" | "5")
            && parts.clone().count() == 2
            && parts.all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()));
        valid.then_some(token)
    }

    /// Appends the wire form (`250-a\r\n250 b\r\n`) to `dst`.
    pub fn encode(&self, dst: &mut BytesMut) {
        let digits = [100, 10, 1].map(|d| b'0' + u8::try_from(self.code / d % 10).unwrap_or(0));
        let other;
        let code: &[u8] = if (100..1000).contains(&self.code) {
            &digits
        } else {
            other = self.code.to_string();
            other.as_bytes()
        };
        if self.lines.is_empty() {
            dst.put_slice(code);
            dst.put_slice(b"\r\n");
            return;
        }
        let last = self.lines.len() - 1;
        for (i, text) in self.lines.iter().enumerate() {
            dst.put_slice(code);
            match (i == last, text.is_empty()) {
                (true, true) => {}
                (true, false) => dst.put_u8(b' '),
                (false, _) => dst.put_u8(b'-'),
            }
            dst.put_slice(text.as_bytes());
            dst.put_slice(b"\r\n");
        }
    }

    /// The wire form as a new buffer.
    pub fn to_bytes(&self) -> BytesMut {
        let mut b = BytesMut::new();
        self.encode(&mut b);
        b
    }
}

impl std::fmt::Display for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.code, self.lines.join(" / "))
    }
}

/// Why bytes from the upstream are not a valid reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    /// A line exceeded [`REPLY_LINE_MAX`] ([`GREETING_LINE_MAX`] in a greeting).
    #[error("reply line too long")]
    LineTooLong,
    /// A reply had more than [`REPLY_LINES_MAX`] lines.
    #[error("reply with more than {REPLY_LINES_MAX} lines")]
    TooManyLines,
    /// A line did not start with a valid three-digit code and separator.
    #[error("malformed reply line")]
    Malformed,
    /// The lines of one reply carried different codes.
    #[error("reply code changed inside a multi-line reply")]
    CodeChanged,
    /// A line ended in bare LF or held a bare CR, NUL or invalid UTF-8.
    #[error("reply contains forbidden bytes")]
    BadBytes,
}

/// Parses replies off the front of a buffer; the buffer is only consumed when a
/// whole reply is there, so a partial reply waits for more bytes.
#[derive(Debug, Default, Clone, Copy)]
pub struct ReplyParser;

impl ReplyParser {
    /// Takes one complete reply from the front of `buf`.
    ///
    /// Returns `Ok(None)` if the reply is not complete yet.
    ///
    /// # Errors
    /// Any [`ReplyError`]: the upstream's stream can no longer be trusted.
    pub fn parse(buf: &mut BytesMut) -> Result<Option<Reply>, ReplyError> {
        Self::parse_limited(buf, REPLY_LINE_MAX)
    }

    /// [`ReplyParser::parse`] for the upstream's greeting, whose lines may be
    /// up to [`GREETING_LINE_MAX`] octets.
    ///
    /// # Errors
    /// Any [`ReplyError`].
    pub fn parse_greeting(buf: &mut BytesMut) -> Result<Option<Reply>, ReplyError> {
        Self::parse_limited(buf, GREETING_LINE_MAX)
    }

    fn parse_limited(buf: &mut BytesMut, line_max: usize) -> Result<Option<Reply>, ReplyError> {
        let mut offset = 0;
        let mut code = None;
        let mut lines = Vec::new();
        loop {
            let rest = &buf[offset..];
            let Some(lf) = memchr::memchr(b'\n', rest) else {
                return if rest.len() >= line_max { Err(ReplyError::LineTooLong) } else { Ok(None) };
            };
            if lf + 1 > line_max {
                return Err(ReplyError::LineTooLong);
            }
            if lf == 0 || rest[lf - 1] != b'\r' {
                return Err(ReplyError::BadBytes);
            }
            let (line_code, last, text) = parse_line(&rest[..lf - 1])?;
            if *code.get_or_insert(line_code) != line_code {
                return Err(ReplyError::CodeChanged);
            }
            lines.push(text);
            offset += lf + 1;
            if last {
                buf.advance(offset);
                return Ok(Some(Reply { code: line_code, lines }));
            }
            if lines.len() >= REPLY_LINES_MAX {
                return Err(ReplyError::TooManyLines);
            }
        }
    }
}

/// One reply line without CRLF: (code, is last line, text).
fn parse_line(line: &[u8]) -> Result<(u16, bool, String), ReplyError> {
    let [a, b, c, rest @ ..] = line else {
        return Err(ReplyError::Malformed);
    };
    let valid_code = (b'2'..=b'5').contains(a) && (b'0'..=b'5').contains(b) && c.is_ascii_digit();
    if !valid_code {
        return Err(ReplyError::Malformed);
    }
    let code = u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0');
    let (last, text) = match rest {
        [] => (true, &[][..]),
        [b' ', text @ ..] => (true, text),
        [b'-', text @ ..] => (false, text),
        _ => return Err(ReplyError::Malformed),
    };
    if text.iter().any(|&b| b == b'\r' || b == 0 || b == b'\n') {
        return Err(ReplyError::BadBytes);
    }
    let text = std::str::from_utf8(text).map_err(|_| ReplyError::BadBytes)?;
    Ok((code, last, text.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::strategy::Strategy as _;

    fn parse(input: &[u8]) -> Result<Option<Reply>, ReplyError> {
        ReplyParser::parse(&mut BytesMut::from(input))
    }

    #[test]
    fn parses_multiline_and_leaves_the_next_reply() {
        let mut buf = BytesMut::from(&b"250-backend.test\r\n250-PIPELINING\r\n250 SIZE 10\r\n354 go\r\n"[..]);
        let r = ReplyParser::parse(&mut buf).unwrap().unwrap();
        assert_eq!(r.code(), 250);
        assert_eq!(r.lines(), ["backend.test", "PIPELINING", "SIZE 10"]);
        assert_eq!(&buf[..], b"354 go\r\n");
    }

    #[test]
    fn partial_reply_waits_at_every_split_point() {
        let input = b"250-a\r\n250 b\r\n";
        for split in 0..input.len() {
            assert_eq!(parse(&input[..split]), Ok(None), "split {split}");
        }
        assert!(parse(input).unwrap().is_some());
    }

    #[test]
    fn bare_code_and_empty_last_line_are_valid() {
        assert_eq!(parse(b"250\r\n").unwrap().unwrap().lines(), [""]);
        // smtp-sink ends its EHLO reply with "250 " (an empty keyword).
        assert_eq!(parse(b"250-x\r\n250 \r\n").unwrap().unwrap().lines(), ["x", ""]);
    }

    #[test]
    fn garbage_is_an_error() {
        for bad in [
            &b"25O ok\r\n"[..],
            b"2500 ok\r\n",
            b"250x\r\n",
            b"650 no\r\n",
            b"250 ok\n",
            b"250 a\rb\r\n",
            b"250 a\0b\r\n",
            b"250 \xff\r\n",
            b"ok\r\n",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(parse(b"250-a\r\n550 b\r\n"), Err(ReplyError::CodeChanged));
        assert_eq!(parse(&[b'2'; 600]), Err(ReplyError::LineTooLong));
        let many: Vec<u8> = b"250-x\r\n".repeat(200);
        assert_eq!(parse(&many), Err(ReplyError::TooManyLines));
    }

    #[test]
    fn encode_round_trips() {
        for r in [
            Reply::new(220, "mx.example.test ESMTP"),
            Reply::multi(250, vec!["mx".into(), "PIPELINING".into(), "SIZE 100".into()]),
            Reply::new(250, ""),
        ] {
            let mut b = r.to_bytes();
            assert_eq!(ReplyParser::parse(&mut b).unwrap().unwrap(), r);
            assert!(b.is_empty());
        }
        assert_eq!(&Reply::new(354, "").to_bytes()[..], b"354\r\n");
    }

    proptest::proptest! {
        /// Any valid reply encodes to bytes that parse back to it, and
        /// nothing more.
        #[test]
        fn encoding_and_parsing_round_trip(
            code in (2u16..=5, 0u16..=5, 0u16..=9).prop_map(|(a, b, c)| a * 100 + b * 10 + c),
            lines in proptest::collection::vec("[^\r\n\x00]{0,60}", 1..REPLY_LINES_MAX),
        ) {
            let reply = Reply::multi(code, lines);
            let mut wire = reply.to_bytes();
            proptest::prop_assert_eq!(ReplyParser::parse(&mut wire), Ok(Some(reply)));
            proptest::prop_assert!(wire.is_empty());
        }
    }

    #[test]
    fn enhanced_code() {
        assert_eq!(Reply::new(250, "2.1.0 Ok").enhanced_code(), Some("2.1.0"));
        assert_eq!(Reply::new(550, "5.7.1 <x>: denied").enhanced_code(), Some("5.7.1"));
        assert_eq!(Reply::new(250, "backend.test").enhanced_code(), None);
        assert_eq!(Reply::new(250, "2.0").enhanced_code(), None);
    }
}

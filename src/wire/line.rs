//! Line framing for the command channel.
//!
//! [`LineDecoder`] takes one LF-terminated line off the front of a buffer that
//! the connection owns, so pipelined commands stay queued in that buffer. Lines
//! longer than the decoder's maximum are discarded up to their LF and reported
//! once, so the dialogue stays in sync and memory stays bounded.

use bytes::{Bytes, BytesMut};

/// One command line, without its line terminator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The line's bytes, CR and LF removed.
    pub bytes: Bytes,
    /// The line ended in a bare LF instead of CRLF.
    pub bare_lf: bool,
}

/// A line that could not be framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    /// The line exceeded the decoder's maximum; its bytes were discarded.
    #[error("line exceeds {max} octets")]
    TooLong {
        /// The maximum, including the line terminator.
        max: usize,
    },
}

/// Splits a byte stream into lines; see the module docs.
#[derive(Debug, Clone)]
pub struct LineDecoder {
    /// Maximum line length including the terminator.
    max: usize,
    /// Inside an over-long line: drop bytes until its LF.
    discarding: bool,
    /// Bytes at the front of the buffer already searched for LF.
    scanned: usize,
}

impl LineDecoder {
    /// A decoder for lines of at most `max` octets including CRLF.
    pub fn new(max: usize) -> Self {
        Self { max, discarding: false, scanned: 0 }
    }

    /// Removes one line from the front of `buf`.
    ///
    /// Returns `Ok(None)` when no complete line is buffered yet.
    ///
    /// # Errors
    /// [`LineError::TooLong`] once per over-long line, when its LF arrives.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Line>, LineError> {
        let Some(pos) = memchr::memchr(b'\n', &buf[self.scanned..]) else {
            if self.discarding || buf.len() >= self.max {
                self.discarding = true;
                buf.clear();
                self.scanned = 0;
            } else {
                self.scanned = buf.len();
            }
            return Ok(None);
        };
        let end = self.scanned + pos;
        self.scanned = 0;
        let mut line = buf.split_to(end + 1);
        if std::mem::take(&mut self.discarding) || end + 1 > self.max {
            return Err(LineError::TooLong { max: self.max });
        }
        line.truncate(end);
        let bare_lf = line.last() != Some(&b'\r');
        if !bare_lf {
            line.truncate(end - 1);
        }
        Ok(Some(Line { bytes: line.freeze(), bare_lf }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(dec: &mut LineDecoder, buf: &mut BytesMut) -> Vec<Result<Line, LineError>> {
        let mut out = Vec::new();
        loop {
            match dec.decode(buf) {
                Ok(Some(l)) => out.push(Ok(l)),
                Ok(None) => return out,
                Err(e) => out.push(Err(e)),
            }
        }
    }

    fn line(s: &str, bare_lf: bool) -> Result<Line, LineError> {
        Ok(Line { bytes: Bytes::copy_from_slice(s.as_bytes()), bare_lf })
    }

    #[test]
    fn splits_pipelined_lines_and_keeps_the_rest() {
        let mut dec = LineDecoder::new(512);
        let mut buf = BytesMut::from(&b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\nDA"[..]);
        let got = decode_all(&mut dec, &mut buf);
        assert_eq!(got, vec![line("MAIL FROM:<a@b>", false), line("RCPT TO:<c@d>", true)]);
        assert_eq!(&buf[..], b"DA");
    }

    #[test]
    fn every_split_point_gives_the_same_lines() {
        let input = b"EHLO x\r\nMAIL FROM:<a@b>\r\n\r\nQUIT\n";
        for split in 0..=input.len() {
            let mut dec = LineDecoder::new(512);
            let mut buf = BytesMut::from(&input[..split]);
            let mut got = decode_all(&mut dec, &mut buf);
            buf.extend_from_slice(&input[split..]);
            got.extend(decode_all(&mut dec, &mut buf));
            assert_eq!(
                got,
                vec![line("EHLO x", false), line("MAIL FROM:<a@b>", false), line("", false), line("QUIT", true)],
                "split at {split}"
            );
        }
    }

    #[test]
    fn long_line_is_reported_once_and_the_tail_is_not_a_command() {
        let mut dec = LineDecoder::new(16);
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        // 1 MiB without LF, fed in pieces: memory must stay bounded.
        for _ in 0..1024 {
            buf.extend_from_slice(&[b'A'; 1024]);
            got.extend(decode_all(&mut dec, &mut buf));
            assert!(buf.len() < 2048);
        }
        buf.extend_from_slice(b"RCPT TO:<x@y>\r\nNOOP\r\n");
        got.extend(decode_all(&mut dec, &mut buf));
        assert_eq!(got, vec![Err(LineError::TooLong { max: 16 }), line("NOOP", false)]);
    }

    #[test]
    fn line_exactly_at_the_limit_is_accepted() {
        let mut dec = LineDecoder::new(8);
        let mut buf = BytesMut::from(&b"123456\r\n1234567\r\nOK\r\n"[..]);
        let got = decode_all(&mut dec, &mut buf);
        assert_eq!(got, vec![line("123456", false), Err(LineError::TooLong { max: 8 }), line("OK", false)]);
    }

    proptest::proptest! {
        /// Any split of any input gives the same lines and errors as the
        /// whole, and never keeps a partial line of `max` octets.
        #[test]
        fn any_split_gives_the_same_lines(
            input in proptest::collection::vec(proptest::prop_oneof![
                proptest::num::u8::ANY, proptest::strategy::Just(b'\n'), proptest::strategy::Just(b'\r')], 0..600),
            cuts in proptest::collection::vec(0usize..600, 0..6),
            max in 3usize..80,
        ) {
            let whole = decode_all(&mut LineDecoder::new(max), &mut BytesMut::from(&input[..]));
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(input.len())).collect();
            cuts.sort_unstable();
            cuts.push(input.len());
            let (mut dec, mut buf, mut got, mut from) = (LineDecoder::new(max), BytesMut::new(), Vec::new(), 0);
            for cut in cuts {
                buf.extend_from_slice(&input[from..cut]);
                from = cut;
                got.extend(decode_all(&mut dec, &mut buf));
                proptest::prop_assert!(buf.len() < max);
            }
            proptest::prop_assert_eq!(got, whole);
        }
    }
}

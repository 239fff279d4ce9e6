//! The DATA phase: decoding what the client sends after 354, and encoding what
//! doorman sends to the upstream.
//!
//! [`DataDecoder`] ends the message only at `<CRLF>.<CRLF>`, counted on the raw
//! bytes: a bare LF or bare CR is never a line boundary for end-of-data or
//! dot-unstuffing, which is what defeats SMTP smuggling (`\n.\n`, `\r.\r\n`,
//! `\r\n\x00.\r\n`, …). Bare CR, bare LF and NUL are handled by an explicit
//! [`LineEndingPolicy`]: `Reject` flags the message, `Normalize` rewrites the
//! content into canonical CRLF. The decoded content is what gets spooled,
//! scanned and relayed; [`DotStuffer`] re-stuffs it for the upstream.
//!
//! BDAT chunks (RFC 3030) are decoded by the same machine without the dot:
//! a line that starts with `.` is content as it stands (`\r\n.\r\n` in a
//! chunk is a line holding a dot, stuffed again if the message is relayed
//! with DATA), and only `BDAT ... LAST` ends the message. Under
//! `BODY=BINARYMIME` the octets are not lines at all and pass untouched.

use bytes::{BufMut, BytesMut};

use super::limits::TEXT_LINE_MAX;

/// What to do with bare CR, bare LF and NUL inside a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LineEndingPolicy {
    /// Refuse the message after its end (the default).
    #[default]
    Reject,
    /// Bare LF becomes CRLF, bare CR and NUL become a space.
    Normalize,
}

/// Facts about a decoded message, for the reply after end-of-data.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DataSummary {
    /// Content size in octets (after unstuffing and normalisation).
    pub size: u64,
    /// A bare CR, bare LF or NUL was seen.
    pub bare_line_endings: bool,
    /// A text line exceeded [`TEXT_LINE_MAX`] octets.
    pub line_too_long: bool,
    /// The content exceeded the size limit.
    pub too_big: bool,
}

/// How the message arrives, and so how its end is found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// DATA: dot-stuffed text ending at `<CRLF>.<CRLF>`.
    Dot,
    /// BDAT chunks of text: no stuffing; the session knows the end.
    Chunks,
    /// BDAT chunks under `BODY=BINARYMIME`: octets, not lines.
    Binary,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At the start of a line (after a real CRLF, or right after 354).
    LineStart,
    /// Read `.` at the start of a line.
    Dot,
    /// Read `.` CR at the start of a line.
    DotCr,
    /// Inside a line.
    Mid,
    /// Read CR inside a line.
    Cr,
}

/// Incremental decoder for message text; see the module docs.
#[derive(Debug, Clone)]
pub struct DataDecoder {
    framing: Framing,
    state: State,
    policy: LineEndingPolicy,
    max_size: u64,
    /// Raw octets on the current line, without CRLF.
    line_len: usize,
    /// BDAT: octets of the current chunk still to come.
    chunk_left: u64,
    summary: DataSummary,
}

impl DataDecoder {
    /// A decoder that stores at most `max_size` content octets.
    pub fn new(policy: LineEndingPolicy, max_size: u64) -> Self {
        Self::framed(Framing::Dot, policy, max_size)
    }

    /// A decoder for the text of BDAT chunks: no dot-stuffing, no end.
    pub fn chunks(policy: LineEndingPolicy, max_size: u64) -> Self {
        Self::framed(Framing::Chunks, policy, max_size)
    }

    /// A decoder for BDAT chunks under `BODY=BINARYMIME`: the octets as
    /// they are, only counted.
    pub fn binary(max_size: u64) -> Self {
        Self::framed(Framing::Binary, LineEndingPolicy::Reject, max_size)
    }

    fn framed(framing: Framing, policy: LineEndingPolicy, max_size: u64) -> Self {
        let summary = DataSummary::default();
        Self { framing, state: State::LineStart, policy, max_size, line_len: 0, chunk_left: 0, summary }
    }

    /// BDAT: the next `size` octets are one chunk. [`DataDecoder::decode`]
    /// takes no more than that, and reports the chunk's end as the end.
    pub fn expect_chunk(&mut self, size: u64) {
        self.chunk_left = size;
    }

    /// Decodes from `input`, appending content to `out` unless the message is
    /// already refused (then its bytes are only counted and dropped).
    ///
    /// Returns how many bytes were consumed and whether end-of-data was
    /// reached; bytes after the end are left for the command channel.
    pub fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) -> (usize, bool) {
        if self.framing == Framing::Dot {
            return self.text(input, out);
        }
        let take = usize::try_from(self.chunk_left).unwrap_or(usize::MAX).min(input.len());
        match self.framing {
            Framing::Binary => self.emit(out, &input[..take]),
            _ => {
                self.text(&input[..take], out);
            }
        }
        self.chunk_left -= take as u64;
        (take, self.chunk_left == 0)
    }

    /// BDAT text after its last chunk: a CR that ended it ended no line, so
    /// it is a bare CR (refused, or a space under `Normalize`).
    pub fn finish_chunks(&mut self, out: &mut Vec<u8>) {
        if self.framing == Framing::Chunks && self.state == State::Cr {
            self.forbidden(out, b" ");
            self.state = State::Mid;
        }
    }

    /// Decodes text: CR/LF/NUL and (under DATA) dots; see [`Self::decode`].
    fn text(&mut self, input: &[u8], out: &mut Vec<u8>) -> (usize, bool) {
        let mut i = 0;
        while i < input.len() {
            let byte = input[i];
            match self.state {
                // The dot doubled for transparency is not counted in the
                // line's 1000 octets (RFC 5321 §4.5.3.1.6).
                State::LineStart if byte == b'.' && self.framing == Framing::Dot => {
                    self.state = State::Dot;
                    self.line_len = 0;
                    i += 1;
                }
                State::LineStart => self.state = State::Mid,
                State::Dot if byte == b'\r' => {
                    self.state = State::DotCr;
                    i += 1;
                }
                // `.x`: the leading dot is removed (RFC 5321 §4.5.2); `x` is
                // processed as ordinary text.
                State::Dot => self.state = State::Mid,
                State::DotCr if byte == b'\n' => {
                    self.state = State::LineStart;
                    return (i + 1, true);
                }
                State::DotCr | State::Cr if byte != b'\n' => {
                    self.replaced(out);
                    self.state = State::Mid;
                }
                State::DotCr | State::Cr => {
                    self.emit(out, b"\r\n");
                    self.line_len = 0;
                    self.state = State::LineStart;
                    i += 1;
                }
                State::Mid => i += self.text_run(&input[i..], out),
            }
        }
        (i, false)
    }

    /// Consumes ordinary text up to and including the next CR, LF or NUL.
    fn text_run(&mut self, input: &[u8], out: &mut Vec<u8>) -> usize {
        let Some(k) = memchr::memchr3(b'\r', b'\n', 0, input) else {
            self.line_text(out, input);
            return input.len();
        };
        self.line_text(out, &input[..k]);
        match input[k] {
            b'\r' => self.state = State::Cr,
            b'\n' => {
                self.forbidden(out, b"\r\n");
                self.line_len = 0;
            }
            _ => self.replaced(out),
        }
        k + 1
    }

    fn line_text(&mut self, out: &mut Vec<u8>, bytes: &[u8]) {
        self.line_len += bytes.len();
        if self.line_len + 2 > TEXT_LINE_MAX {
            self.summary.line_too_long = true;
        }
        self.emit(out, bytes);
    }

    /// A bare CR or NUL: an octet of the line (counted towards its limit:
    /// found by fuzzing, bare CRs made a normalised line of any length
    /// pass), a space when normalised.
    fn replaced(&mut self, out: &mut Vec<u8>) {
        self.line_len += 1;
        if self.line_len + 2 > TEXT_LINE_MAX {
            self.summary.line_too_long = true;
        }
        self.forbidden(out, b" ");
    }

    /// A bare CR, bare LF or NUL; `replacement` is its normalised form.
    fn forbidden(&mut self, out: &mut Vec<u8>, replacement: &[u8]) {
        self.summary.bare_line_endings = true;
        if self.policy == LineEndingPolicy::Normalize {
            self.emit(out, replacement);
        }
    }

    fn emit(&mut self, out: &mut Vec<u8>, bytes: &[u8]) {
        self.summary.size += bytes.len() as u64;
        if self.summary.size > self.max_size {
            self.summary.too_big = true;
        }
        if !self.is_refused() {
            out.extend_from_slice(bytes);
        }
    }

    /// The message will be refused at its end, whatever comes next.
    pub fn is_refused(&self) -> bool {
        let s = &self.summary;
        s.too_big || s.line_too_long || (s.bare_line_endings && self.policy == LineEndingPolicy::Reject)
    }

    /// What has been seen so far.
    pub fn summary(&self) -> &DataSummary {
        &self.summary
    }
}

/// Dot-stuffs canonical content for the upstream: a `.` is added before every
/// line that starts with `.`, and [`DotStuffer::finish`] writes the terminator.
#[derive(Debug, Clone)]
pub struct DotStuffer {
    at_line_start: bool,
}

impl Default for DotStuffer {
    fn default() -> Self {
        Self { at_line_start: true }
    }
}

impl DotStuffer {
    /// Appends the stuffed form of `input` to `out`.
    pub fn stuff(&mut self, mut input: &[u8], out: &mut BytesMut) {
        while !input.is_empty() {
            if self.at_line_start && input[0] == b'.' {
                out.put_u8(b'.');
            }
            match memchr::memchr(b'\n', input) {
                Some(k) => {
                    out.put_slice(&input[..=k]);
                    input = &input[k + 1..];
                    self.at_line_start = true;
                }
                None => {
                    out.put_slice(input);
                    self.at_line_start = false;
                    return;
                }
            }
        }
    }

    /// Appends the end-of-data sequence, completing an unterminated last line.
    pub fn finish(&mut self, out: &mut BytesMut) {
        if !self.at_line_start {
            out.put_slice(b"\r\n");
        }
        out.put_slice(b".\r\n");
        self.at_line_start = true;
    }
}

#[cfg(test)]
mod tests;

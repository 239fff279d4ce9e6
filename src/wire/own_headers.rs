//! Removing the header fields doorman writes itself from a message as it
//! arrives: a message with its own `X-Spam-Status: No` or `X-Virus-Scanned`
//! must not fool rules on the upstream keyed on those fields (security
//! checklist H.60). The filter runs before the message is spooled, so the
//! scanners judge exactly the bytes the upstream gets (doorman's added
//! headers aside): a whitespace-only line after a spoofed field cannot move
//! the end of the header section for one and not the other.

/// Header fields doorman's scanners write or that backends commonly key on
/// (lower case). Fields starting with `x-rspamd-` or `x-doorman-` are
/// covered too.
const OWN_HEADERS: [&str; 10] = [
    "x-spam-flag",
    "x-spam-score",
    "x-spam-status",
    "x-spam-level",
    "x-spam-report",
    "x-spam-checker-version",
    "x-spam",
    "x-virus-scanned",
    "x-virus-status",
    "x-doorman-scan",
];

/// Whether a header field name is one doorman owns: any copy arriving with
/// the message must be removed before relaying (see [`OwnHeaderFilter`]).
/// Case-insensitive; `name` is the field name without the colon.
pub fn is_own_header(name: &str) -> bool {
    let lower = name.trim_end_matches([' ', '\t']).to_ascii_lowercase();
    OWN_HEADERS.contains(&lower.as_str()) || lower.starts_with("x-rspamd-") || lower.starts_with("x-doorman-")
}

/// Longest field name the filter looks at; a longer name is not one of ours.
const NAME_MAX: usize = 64;

/// Removes doorman's own header fields ([`is_own_header`]), with their
/// continuation lines, from the header section of a message as it streams
/// through; the body is passed on untouched. Pure and incremental: any split
/// of the input gives the same output. It buffers at most [`NAME_MAX`] bytes.
#[derive(Debug, Default)]
pub struct OwnHeaderFilter {
    state: FilterState,
    /// The start of a line whose field name is not decided yet.
    pending: Vec<u8>,
    /// The field being continued was dropped.
    dropping_field: bool,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum FilterState {
    /// At the start of a header line.
    #[default]
    LineStart,
    /// Reading a field name into `pending`.
    Name,
    /// Passing the rest of a line.
    Keep,
    /// Dropping the rest of a line.
    Drop,
    /// After the empty line: everything passes.
    Body,
}

impl OwnHeaderFilter {
    /// A filter at the start of a message.
    pub fn new() -> Self {
        Self::default()
    }

    /// Filters the next piece of the message into `out`.
    pub fn push(&mut self, mut input: &[u8], out: &mut Vec<u8>) {
        while !input.is_empty() {
            match self.state {
                FilterState::Body => {
                    out.extend_from_slice(input);
                    return;
                }
                FilterState::LineStart => match input[0] {
                    // The empty line ending the header section (CRLF; a bare
                    // line ending never reaches here under doorman's policies,
                    // and is treated the same way).
                    b'\r' | b'\n' => self.state = FilterState::Body,
                    b' ' | b'\t' => {
                        self.state = if self.dropping_field { FilterState::Drop } else { FilterState::Keep };
                    }
                    _ => self.state = FilterState::Name,
                },
                FilterState::Name => {
                    let stop = input
                        .iter()
                        .position(|&b| b == b':' || b == b'\n')
                        .filter(|&i| self.pending.len() + i <= NAME_MAX);
                    match stop {
                        Some(i) => {
                            self.pending.extend_from_slice(&input[..i]);
                            let own = input[i] == b':' && std::str::from_utf8(&self.pending).is_ok_and(is_own_header);
                            self.decide(own, out);
                            input = &input[i..];
                        }
                        None if self.pending.len() + input.len() <= NAME_MAX => {
                            self.pending.extend_from_slice(input);
                            return;
                        }
                        None => self.decide(false, out),
                    }
                }
                FilterState::Keep | FilterState::Drop => {
                    let end = memchr::memchr(b'\n', input).map_or(input.len(), |i| i + 1);
                    if self.state == FilterState::Keep {
                        out.extend_from_slice(&input[..end]);
                    }
                    if end > 0 && input[end - 1] == b'\n' {
                        self.state = FilterState::LineStart;
                    }
                    input = &input[end..];
                }
            }
        }
    }

    /// Flushes what is still buffered at the end of the message.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if self.state == FilterState::Name {
            out.append(&mut self.pending);
        }
        self.state = FilterState::Body;
    }

    fn decide(&mut self, own: bool, out: &mut Vec<u8>) {
        self.dropping_field = own;
        if own {
            self.pending.clear();
            self.state = FilterState::Drop;
        } else {
            out.append(&mut self.pending);
            self.state = FilterState::Keep;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter_all(input: &[u8], split: usize) -> Vec<u8> {
        let mut f = OwnHeaderFilter::new();
        let mut out = Vec::new();
        for piece in input.chunks(split.max(1)) {
            f.push(piece, &mut out);
        }
        f.finish(&mut out);
        out
    }

    #[test]
    fn own_headers() {
        for own in [
            "X-Spam-Status",
            "x-spam-flag",
            "X-SPAM-SCORE",
            "X-Virus-Scanned",
            "X-Spam",
            "X-Rspamd-Score",
            "X-Doorman-Scan",
            "X-Spam-Status ",
        ] {
            assert!(is_own_header(own), "{own}");
        }
        for other in ["Subject", "X-Spammer", "X-Virus", "Received", "X-Spam-Statusx"] {
            assert!(!is_own_header(other), "{other}");
        }
    }

    #[test]
    fn filter_removes_spoofed_fields_and_their_continuations() {
        let msg = b"Received: from a\r\n\tby b\r\nX-Spam-Status: No, score=-5.0\r\n\ttests=NONE\r\nSubject: hi\r\nx-virus-scanned: clean\r\nX-Spam-Flag : NO\r\nFrom: <a@b.example>\r\n\r\nX-Spam-Status: No\r\nbody\r\n";
        let want =
            b"Received: from a\r\n\tby b\r\nSubject: hi\r\nFrom: <a@b.example>\r\n\r\nX-Spam-Status: No\r\nbody\r\n";
        for split in [1, 2, 3, 7, 16, 1000] {
            assert_eq!(
                String::from_utf8_lossy(&filter_all(msg, split)),
                String::from_utf8_lossy(want),
                "split {split}"
            );
        }
    }

    #[test]
    fn filter_passes_odd_header_sections() {
        for msg in [
            &b"no colon line\r\nSubject: x\r\n\r\nbody"[..],
            b"\r\nX-Spam-Flag: YES\r\n",
            b" starts with continuation\r\nSubject: x\r\n\r\n",
            b"Subject: no body",
            b"X-Very-Long-Name-That-Goes-On-And-On-And-On-And-On-And-On-And-On-And-On: x\r\n\r\n",
        ] {
            for split in [1, 5, 1000] {
                assert_eq!(filter_all(msg, split), msg, "{:?}", String::from_utf8_lossy(msg));
            }
        }
        assert_eq!(filter_all(b"X-Spam-Flag: YES", 3), b"");
        assert_eq!(filter_all(b"X-Spam-Fl", 3), b"X-Spam-Fl");
    }
}

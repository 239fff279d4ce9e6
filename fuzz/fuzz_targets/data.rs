//! The DATA decoder and the dot-stuffer: any split of the input gives the
//! same content, end and summary; the end is only ever a real
//! `<CRLF>.<CRLF>`; normalised content is canonical; stuffed for the
//! upstream, the content holds exactly one lone `.` line, its last, and
//! unstuffs to itself. The own-header filter gives the same output under
//! any split.
#![no_main]

use bytes::BytesMut;
use doorman::wire::{DataDecoder, DataSummary, DotStuffer, LineEndingPolicy, OwnHeaderFilter};
use doorman_fuzz::oracle::check_data_lines;
use doorman_fuzz::{header, pieces};
use libfuzzer_sys::fuzz_target;

/// (content, consumed, ended, summary) of `parts` fed in turn.
fn decode(policy: LineEndingPolicy, max: u64, parts: &[&[u8]]) -> (Vec<u8>, usize, bool, DataSummary) {
    let mut dec = DataDecoder::new(policy, max);
    let mut out = Vec::new();
    let mut consumed = 0;
    for part in parts {
        let (n, done) = dec.decode(part, &mut out);
        assert!(n <= part.len());
        consumed += n;
        if done {
            return (out, consumed, true, dec.summary().clone());
        }
        assert_eq!(n, part.len(), "input left over before the end");
    }
    (out, consumed, false, dec.summary().clone())
}

fn stuffed(content: &[u8], parts: &[u8]) -> BytesMut {
    let mut wire = BytesMut::new();
    let mut st = DotStuffer::default();
    for piece in pieces(content, parts) {
        st.stuff(piece, &mut wire);
    }
    st.finish(&mut wire);
    wire
}

fn filtered(content: &[u8], parts: &[u8]) -> Vec<u8> {
    let mut filter = OwnHeaderFilter::new();
    let mut out = Vec::new();
    for piece in pieces(content, parts) {
        filter.push(piece, &mut out);
    }
    filter.finish(&mut out);
    out
}

fuzz_target!(|input: &[u8]| {
    let ([flags, a, b, c], data) = header::<4>(input);
    let policy = if flags & 1 == 1 { LineEndingPolicy::Normalize } else { LineEndingPolicy::Reject };
    let max = if flags & 2 == 2 { 64 } else { 1 << 20 };
    let whole = decode(policy, max, &[data]);
    let (content, consumed, ended, summary) = whole.clone();
    assert!(content.len() as u64 <= max, "stored past the size limit");
    let split = decode(policy, max, &pieces(data, &[a, b, c]));
    // What a refused message stored is dropped: only the rest must agree.
    let refused = summary.too_big || summary.line_too_long;
    if refused {
        assert_eq!((split.1, split.2, &split.3), (consumed, ended, &summary), "a split changed the decoding");
    } else {
        assert_eq!(split, whole, "a split changed the decoding");
    }
    if ended {
        let raw = &data[..consumed];
        assert!(raw == b".\r\n" || raw.ends_with(b"\r\n.\r\n"), "ended without <CRLF>.<CRLF>");
    }
    if refused || (summary.bare_line_endings && flags & 1 == 0) {
        return;
    }
    if ended {
        // What doorman relays: canonical CRLF lines, no NUL.
        assert!(!content.contains(&0), "NUL in relayed content");
        let wire = stuffed(&content, &[a, b]);
        if let Err(e) = check_data_lines(&wire) {
            panic!("{e}: {wire:?}");
        }
        let (back, n, done, _) = decode(LineEndingPolicy::Reject, u64::MAX, &[&wire]);
        assert!(done && n == wire.len(), "the stuffed content ends early");
        assert_eq!(back, content, "stuffing does not round-trip");
    }
    assert_eq!(filtered(&content, &[c, a]), filtered(&content, &[]), "a split changed the header filter");
});

//! DATA decoder and stuffer tests: the smuggling corpus, every split point,
//! limits and a round-trip property.

use super::*;
use proptest::prelude::*;

/// Decodes `input` fed in the given pieces; returns (content, consumed, ended, summary).
fn decode_pieces(policy: LineEndingPolicy, pieces: &[&[u8]]) -> (Vec<u8>, usize, bool, DataSummary) {
    let mut dec = DataDecoder::new(policy, 1 << 20);
    let mut out = Vec::new();
    let mut consumed = 0;
    for piece in pieces {
        let (n, done) = dec.decode(piece, &mut out);
        consumed += n;
        if done {
            return (out, consumed, true, dec.summary().clone());
        }
    }
    (out, consumed, false, dec.summary().clone())
}

fn decode(policy: LineEndingPolicy, input: &[u8]) -> (Vec<u8>, usize, bool, DataSummary) {
    decode_pieces(policy, &[input])
}

#[test]
fn unstuffs_and_stops_at_the_terminator() {
    let input = b"Subject: x\r\n\r\n..leading dot\r\n.x\r\nend\r\n.\r\nMAIL FROM:<a@b>\r\n";
    let (out, consumed, done, sum) = decode(LineEndingPolicy::Reject, input);
    assert!(done);
    assert_eq!(out, b"Subject: x\r\n\r\n.leading dot\r\nx\r\nend\r\n");
    assert_eq!(&input[consumed..], b"MAIL FROM:<a@b>\r\n");
    assert!(!sum.bare_line_endings && !sum.too_big && !sum.line_too_long);
}

#[test]
fn empty_message() {
    let (out, consumed, done, _) = decode(LineEndingPolicy::Reject, b".\r\nQUIT\r\n");
    assert!(done);
    assert!(out.is_empty());
    assert_eq!(consumed, 3);
}

/// SEC Consult's inbound list and the earlier/outbound variants: none of them
/// ends the message; the real end comes later and the smuggled transaction is
/// content. Reject flags them; Normalize yields one canonical message.
#[test]
fn smuggling_sequences_never_end_the_message() {
    let vectors: &[&[u8]] = &[
        b"\n.\n",
        b"\n.\r",
        b"\r.\n",
        b"\r.\r",
        b"\n.\r\n",
        b"\r.\r\n",
        b"\r\n\x00.\r\n",
        b"\r\n.\r\r\n",
        b"\r\r\n.\r\r\n",
        b"\r\n.\n",
        b"\r\n.\r",
        b"\r\n.\x00\r\n",
    ];
    let smuggled = b"MAIL FROM:<evil@attacker.example>\r\nRCPT TO:<victim@example.test>\r\nDATA\r\nsmuggled\r\n";
    for v in vectors {
        let mut input = b"Subject: hi\r\n\r\nbody".to_vec();
        input.extend_from_slice(v);
        input.extend_from_slice(smuggled);
        let end = input.len();
        input.extend_from_slice(b".\r\nQUIT\r\n");
        for policy in [LineEndingPolicy::Reject, LineEndingPolicy::Normalize] {
            let (out, consumed, done, sum) = decode(policy, &input);
            assert!(done, "{v:?} {policy:?}");
            assert_eq!(consumed, end + 3, "end found too early for {v:?} {policy:?}");
            assert!(sum.bare_line_endings, "{v:?} not flagged");
            if policy == LineEndingPolicy::Normalize {
                assert!(!out.windows(2).any(|w| w[1] == b'\n' && w[0] != b'\r'), "bare LF left in {out:?}");
                assert!(!out.contains(&0));
                // Relayed, the content holds no terminator before the real end.
                let mut wire = BytesMut::new();
                let mut st = DotStuffer::default();
                st.stuff(&out, &mut wire);
                st.finish(&mut wire);
                let (back, n, done, _) = decode(LineEndingPolicy::Reject, &wire);
                assert!(done && n == wire.len(), "stuffed output of {v:?} ends early");
                assert_eq!(back, out);
            }
        }
    }
}

/// `\r\r\n.\r\n` holds a real `<CRLF>.<CRLF>`: every receiver ends there, so
/// it is not a smuggling vector against us, but the bare CR before it is flagged.
#[test]
fn bare_cr_before_a_real_terminator() {
    let (out, consumed, done, sum) = decode(LineEndingPolicy::Normalize, b"body\r\r\n.\r\nMAIL");
    assert!(done && sum.bare_line_endings);
    assert_eq!(consumed, 10);
    assert_eq!(out, b"body \r\n");
}

#[test]
fn every_split_point_finds_the_same_end() {
    let input: &[u8] = b"A\r\n..B\r\nC\n.\r\nD\r\n.\r\nNEXT";
    let (whole, n, done, sum) = decode(LineEndingPolicy::Normalize, input);
    assert!(done);
    for a in 0..=input.len() {
        for b in a..=input.len() {
            let got = decode_pieces(LineEndingPolicy::Normalize, &[&input[..a], &input[a..b], &input[b..]]);
            assert_eq!(got, (whole.clone(), n, true, sum.clone()), "split {a} {b}");
        }
    }
    // One byte at a time.
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    assert_eq!(decode_pieces(LineEndingPolicy::Normalize, &bytes), (whole, n, true, sum));
}

#[test]
fn limits_are_flagged_and_content_dropped() {
    let mut long = vec![b'x'; 999];
    long.extend_from_slice(b"\r\n.\r\n");
    let (out, _, done, sum) = decode(LineEndingPolicy::Reject, &long);
    assert!(done && sum.line_too_long && out.len() < 1000);
    let mut ok = vec![b'x'; 998];
    ok.extend_from_slice(b"\r\n.\r\n");
    assert!(!decode(LineEndingPolicy::Reject, &ok).3.line_too_long);

    let mut dec = DataDecoder::new(LineEndingPolicy::Reject, 10);
    let mut out = Vec::new();
    let (_, done) = dec.decode(b"0123456789\r\nmore\r\n.\r\n", &mut out);
    assert!(done && dec.summary().too_big);
    assert!(out.len() <= 10, "stored past the limit");
}

/// Found by fuzzing (fuzz/fuzz_targets/data.rs): bare CRs and NULs were
/// not counted in a line's length, so under `normalize` a line of spaces
/// of any length passed the 1000-octet limit.
#[test]
fn bare_cr_and_nul_count_towards_the_line_limit() {
    for filler in [&b"x\r"[..], b"x\0"] {
        let mut input = filler.repeat(500);
        input.extend_from_slice(b"\r\n.\r\n");
        let (out, _, done, sum) = decode(LineEndingPolicy::Normalize, &input);
        assert!(done && sum.line_too_long, "{filler:?}: {} octets passed", out.len());
        let mut ok = filler.repeat(499);
        ok.extend_from_slice(b"\r\n.\r\n");
        assert!(!decode(LineEndingPolicy::Normalize, &ok).3.line_too_long, "{filler:?}: 998 octets refused");
    }
}

/// Found by fuzzing: the dot doubled for transparency was counted, so a
/// line of 998 octets starting with `.` (1001 on the wire, which RFC 5321
/// §4.5.3.1.6 allows) was refused, and doorman's own relayed form of a
/// normalised line could exceed what it accepts.
#[test]
fn the_transparency_dot_is_not_counted() {
    let line = |n: usize| {
        let mut input = b"..".to_vec();
        input.extend(std::iter::repeat_n(b'x', n));
        input.extend_from_slice(b"\r\n.\r\n");
        decode(LineEndingPolicy::Reject, &input)
    };
    let (out, _, done, sum) = line(997);
    assert!(done && !sum.line_too_long && out.len() == 1000, "a 998-octet line refused");
    assert!(line(998).3.line_too_long);
}

#[test]
fn stuffer_handles_chunk_boundaries() {
    let mut st = DotStuffer::default();
    let mut out = BytesMut::new();
    for piece in [&b".a\r"[..], b"\n", b".", b"b\r\nc"] {
        st.stuff(piece, &mut out);
    }
    st.finish(&mut out);
    assert_eq!(&out[..], b"..a\r\n..b\r\nc\r\n.\r\n");
}

proptest! {
    /// unstuff(stuff(x)) == x for canonical content made of awkward lines.
    #[test]
    fn round_trip(lines in proptest::collection::vec(
        prop_oneof![Just(".".to_string()), Just("..".to_string()), Just(".x".to_string()), Just(String::new()),
                    "[ -~]{0,40}", "\\.[ -~]{0,10}"], 0..30),
                  splits in proptest::collection::vec(0usize..200, 0..4)) {
        let mut content = Vec::new();
        for l in &lines { content.extend_from_slice(l.as_bytes()); content.extend_from_slice(b"\r\n"); }
        let mut wire = BytesMut::new();
        let mut st = DotStuffer::default();
        st.stuff(&content, &mut wire);
        st.finish(&mut wire);
        let mut cuts: Vec<usize> = splits.into_iter().map(|s| s.min(wire.len())).collect();
        cuts.sort_unstable();
        let mut pieces = Vec::new();
        let mut prev = 0;
        for c in cuts { pieces.push(&wire[prev..c]); prev = c; }
        pieces.push(&wire[prev..]);
        let (out, n, done, sum) = decode_pieces(LineEndingPolicy::Reject, &pieces);
        prop_assert!(done);
        prop_assert_eq!(n, wire.len());
        prop_assert_eq!(out, content);
        prop_assert!(!sum.bare_line_endings);
    }
}

/// BDAT text: a dot line is content, nothing ends the message, and a CRLF
/// split across two chunks is still one CRLF.
#[test]
fn chunks_keep_dot_lines_as_content() {
    let mut d = DataDecoder::chunks(LineEndingPolicy::Reject, 1 << 20);
    let mut out = Vec::new();
    for piece in [&b"Subject: x\r\n\r\nbody\r\n.\r\nMAIL FROM:<evil@example.net>\r"[..], b"\n..\r\n"] {
        d.expect_chunk(piece.len() as u64);
        assert_eq!(d.decode(piece, &mut out), (piece.len(), true));
    }
    // A chunk ends at its size: what follows is left for the commands.
    d.expect_chunk(2);
    assert_eq!(d.decode(b"ab", &mut Vec::new()), (2, true));
    d.expect_chunk(3);
    assert_eq!(d.decode(b"cd", &mut Vec::new()), (2, false));
    assert_eq!(d.decode(b"eRSET\r\n", &mut Vec::new()), (1, true));
    assert_eq!(&out[..], b"Subject: x\r\n\r\nbody\r\n.\r\nMAIL FROM:<evil@example.net>\r\n..\r\n");
    assert!(!d.summary().bare_line_endings);
    let mut stuffed = BytesMut::new();
    let mut s = DotStuffer::default();
    s.stuff(&out, &mut stuffed);
    s.finish(&mut stuffed);
    assert_eq!(&stuffed[..], b"Subject: x\r\n\r\nbody\r\n..\r\nMAIL FROM:<evil@example.net>\r\n...\r\n.\r\n");
    // A bare LF in a text chunk is flagged as in DATA.
    let mut d = DataDecoder::chunks(LineEndingPolicy::Reject, 1 << 20);
    d.expect_chunk(5);
    d.decode(b"a\n.\nb", &mut Vec::new());
    assert!(d.summary().bare_line_endings && d.is_refused());
}

/// BINARYMIME: octets pass as they are; only the size is checked.
#[test]
fn binary_chunks_pass_untouched() {
    let mut d = DataDecoder::binary(8);
    let mut out = Vec::new();
    d.expect_chunk(9);
    assert_eq!(d.decode(b"\0\r\n.\n\r", &mut out), (6, false));
    assert_eq!(out, b"\0\r\n.\n\r");
    assert!(!d.is_refused());
    d.decode(b"abc", &mut out);
    assert!(d.summary().too_big);
}

proptest! {
    /// Any bytes fed in any pieces give the same content, end and summary
    /// as the whole; normalised and relayed, the content round-trips.
    #[test]
    fn any_split_gives_the_same_decoding(
        input in proptest::collection::vec(prop_oneof![
            any::<u8>(), Just(b'.'), Just(b'\r'), Just(b'\n'), Just(0u8)], 0..400),
        splits in proptest::collection::vec(0usize..400, 0..6),
        normalize in any::<bool>(),
    ) {
        let policy = if normalize { LineEndingPolicy::Normalize } else { LineEndingPolicy::Reject };
        let whole = decode(policy, &input);
        let mut cuts: Vec<usize> = splits.into_iter().map(|s| s.min(input.len())).collect();
        cuts.sort_unstable();
        let mut pieces = Vec::new();
        let mut prev = 0;
        for c in cuts { pieces.push(&input[prev..c]); prev = c; }
        pieces.push(&input[prev..]);
        prop_assert_eq!(decode_pieces(policy, &pieces), whole.clone());
        let (content, _, done, sum) = whole;
        if done && (normalize || !sum.bare_line_endings) {
            let mut wire = BytesMut::new();
            let mut st = DotStuffer::default();
            st.stuff(&content, &mut wire);
            st.finish(&mut wire);
            let (back, n, again, _) = decode(LineEndingPolicy::Reject, &wire);
            prop_assert!(again && n == wire.len());
            prop_assert_eq!(back, content);
        }
    }
}

//! The command-line framer: any split of the input gives the same lines;
//! no line holds an LF or exceeds the maximum; memory stays bounded.
#![no_main]

use bytes::BytesMut;
use doorman::wire::{Line, LineDecoder, LineError};
use doorman_fuzz::{header, pieces};
use libfuzzer_sys::fuzz_target;

/// Feeds `parts` one after the other; every line or error, in order.
fn decode(max: usize, parts: &[&[u8]]) -> Vec<Result<Line, LineError>> {
    let mut dec = LineDecoder::new(max);
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for part in parts {
        buf.extend_from_slice(part);
        loop {
            match dec.decode(&mut buf) {
                Ok(Some(line)) => out.push(Ok(line)),
                Ok(None) => break,
                Err(e) => out.push(Err(e)),
            }
        }
        assert!(buf.len() < max, "a partial line of {} octets kept", buf.len());
    }
    out
}

fuzz_target!(|input: &[u8]| {
    let ([max, a, b, c], data) = header::<4>(input);
    let max = usize::from(max) + 3;
    let whole = decode(max, &[data]);
    assert_eq!(decode(max, &pieces(data, &[a, b, c])), whole, "a split changed the lines");
    assert_eq!(decode(max, &pieces(data, &[1])), whole, "byte-by-byte changed the lines");
    for line in whole.iter().flatten() {
        assert!(!line.bytes.contains(&b'\n'));
        assert!(line.bytes.len() + if line.bare_lf { 1 } else { 2 } <= max);
    }
});

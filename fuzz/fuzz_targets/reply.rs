//! The upstream reply parser: any split of the input gives the same replies
//! and the same error; every reply encodes to bytes that parse back to it.
#![no_main]

use bytes::BytesMut;
use doorman::wire::{Reply, ReplyError, ReplyParser};
use doorman_fuzz::{header, pieces};
use libfuzzer_sys::fuzz_target;

type Parse = fn(&mut BytesMut) -> Result<Option<Reply>, ReplyError>;

/// Feeds `parts` in turn, taking replies as they complete; stops at an error.
fn replies(parse: Parse, parts: &[&[u8]]) -> (Vec<Reply>, Option<ReplyError>) {
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for part in parts {
        buf.extend_from_slice(part);
        loop {
            match parse(&mut buf) {
                Ok(Some(reply)) => out.push(reply),
                Ok(None) => break,
                Err(e) => return (out, Some(e)),
            }
        }
    }
    (out, None)
}

fuzz_target!(|input: &[u8]| {
    let ([greeting, a, b], data) = header::<3>(input);
    let parse: Parse = if greeting & 1 == 1 { ReplyParser::parse_greeting } else { ReplyParser::parse };
    let whole = replies(parse, &[data]);
    assert_eq!(replies(parse, &pieces(data, &[a, b])), whole, "a split changed the replies");
    for reply in &whole.0 {
        let _ = reply.enhanced_code();
        let mut wire = reply.to_bytes();
        let back = parse(&mut wire);
        assert_eq!(back, Ok(Some(reply.clone())), "{reply} does not round-trip");
        assert!(wire.is_empty());
    }
});

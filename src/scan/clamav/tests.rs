//! Tests of `clamav`.

use super::reply::SIGNATURE_MAX;
use super::*;

#[test]
fn replies_parse_strictly() {
    assert_eq!(parse_reply(b"stream: OK\0"), Ok(ClamdReply::Clean));
    assert_eq!(
        parse_reply(b"stream: Lab.Eicar-Test-Signature.UNOFFICIAL FOUND\0"),
        Ok(ClamdReply::Found("Lab.Eicar-Test-Signature.UNOFFICIAL".into()))
    );
    assert_eq!(parse_reply(b"INSTREAM size limit exceeded. ERROR\0"), Ok(ClamdReply::SizeLimitExceeded));
    // Inside an IDSESSION, replies carry the request number.
    assert_eq!(parse_reply(b"3: stream: OK\0"), Ok(ClamdReply::Clean));
    assert_eq!(parse_reply(b"12: stream: Eicar FOUND\0"), Ok(ClamdReply::Found("Eicar".into())));
    assert!(parse_reply(b"x: stream: OK\0").is_err());
    assert_eq!(
        parse_reply(b"Can't allocate memory ERROR\0"),
        Ok(ClamdReply::Error("Can't allocate memory ERROR".into()))
    );
}

/// Security checklist item 89 and friends: none of these is clean or a virus.
#[test]
fn garbage_is_an_error_never_a_verdict() {
    for raw in [
        &b""[..],
        b"\0",
        b"\x00\xff\xfe\x01binary\0",
        b"stream: O",
        b"stream: OK",
        b"stream: OK\n",
        b"stream: OK\0\0",
        b"stream: OK \0",
        b" stream: OK\0",
        b"STREAM: OK\0",
        b"stream: OK\0stream: OK\0",
        b"UNKNOWN COMMAND\0",
        b"COMMAND READ TIMED OUT\n",
        b"PONG\0",
        b"ERROR\0",
        b" ERROR\0",
        b"stream:  FOUND\0",
        b"stream: two words FOUND\0",
        b"stream: Eicar\x07 FOUND\0",
        b"stream: Eicar FOUND\n",
        b"stream: \xc3\xa9 FOUND\0",
    ] {
        let r = parse_reply(raw);
        assert!(r.is_err(), "{:?} parsed as {r:?}", escape(raw, 100));
    }
    let long = format!("stream: {} FOUND\0", "A".repeat(SIGNATURE_MAX + 1));
    assert!(parse_reply(long.as_bytes()).is_err());
}

#[test]
fn garbage_maps_to_protocol_error() {
    let v = to_verdict(parse_reply(b"stream: OK"), "e:1");
    assert!(matches!(v, Err(ScanError::Protocol { .. })), "{v:?}");
    let v = to_verdict(parse_reply(b"INSTREAM size limit exceeded. ERROR\0"), "e:1");
    assert!(matches!(v, Err(ScanError::TooBig { .. })), "{v:?}");
    let v = to_verdict(parse_reply(b"Oops ERROR\0"), "e:1");
    assert!(matches!(v, Err(ScanError::Scanner { .. })), "{v:?}");
}

#[test]
fn frames_split_large_chunks() {
    let mut out = BytesMut::new();
    frame(&mut out, &vec![7u8; FRAME_MAX + 10]);
    assert_eq!(out.len(), FRAME_MAX + 10 + 8);
    assert_eq!(&out[..4], &u32::try_from(FRAME_MAX).unwrap().to_be_bytes());
    assert_eq!(&out[FRAME_MAX + 4..FRAME_MAX + 8], &10u32.to_be_bytes());
}

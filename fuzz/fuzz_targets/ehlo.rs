//! EHLO capabilities: any upstream EHLO reply (as the reply parser accepts
//! it, lines of at most 512 octets) gives an advertisement that is a valid reply, names doorman first,
//! has one SIZE no larger than doorman's limit, lists each keyword once,
//! and offers nothing doorman cannot carry end to end: CHUNKING only as
//! doorman's own (`chunking`), BINARYMIME only with it and an upstream
//! that offers BINARYMIME and CHUNKING.
#![no_main]

use bytes::BytesMut;
use doorman::wire::ehlo::{EhloPolicy, advertise};
use doorman::wire::{Capabilities, ReplyParser};
use doorman_fuzz::header;
use libfuzzer_sys::fuzz_target;

/// Never advertised, whatever the upstream offers (unless passed on).
const NEVER: [&str; 7] = ["PIPECONNECT", "XEXCH50", "XCLIENT", "XFORWARD", "ETRN", "VRFY", "TURN"];

fuzz_target!(|input: &[u8]| {
    let ([flags, size], data) = header::<2>(input);
    let mut buf = BytesMut::from(data);
    let Ok(Some(reply)) = ReplyParser::parse(&mut buf) else {
        return;
    };
    let caps = Capabilities::from_ehlo(&reply);
    let _ = (caps.size(), caps.params("XCLIENT"), caps.has("PIPELINING"));
    let policy = EhloPolicy {
        max_message_size: u64::from(size) << (flags >> 4),
        auth: flags & 1 == 1,
        starttls: flags & 2 == 2,
        chunking: flags & 16 == 16,
        pass_keywords: if flags & 4 == 4 { vec!["X-PASSED".to_owned()] } else { Vec::new() },
        no_soliciting: (flags & 8 == 8).then(|| "net.example:ADV".to_owned()),
    };
    let (ours, advertised) = advertise("mx.example.test", &caps, &policy);
    let mut wire = ours.to_bytes();
    assert_eq!(ReplyParser::parse(&mut wire).ok().flatten().as_ref(), Some(&ours), "not a valid reply");
    let lines = ours.lines();
    assert_eq!((ours.code(), lines[0].as_str()), (250, "mx.example.test"));
    let size: u64 = lines[1].strip_prefix("SIZE ").and_then(|s| s.parse().ok()).expect("SIZE second");
    assert!(size <= policy.max_message_size && size == advertised.size);
    let mut seen = Vec::new();
    for line in &lines[1..] {
        let keyword = line.split(' ').next().unwrap_or_default().to_ascii_uppercase();
        assert!(!seen.contains(&keyword), "{keyword} advertised twice: {lines:?}");
        assert!(!NEVER.contains(&keyword.as_str()), "{keyword} advertised: {lines:?}");
        assert!(keyword != "AUTH" || policy.auth, "AUTH without the policy");
        assert!(keyword != "STARTTLS" || policy.starttls, "the upstream's STARTTLS relayed");
        seen.push(keyword);
    }
    assert_eq!(seen.iter().any(|k| k == "STARTTLS"), policy.starttls);
    assert_eq!(seen.iter().any(|k| k == "CHUNKING"), policy.chunking);
    let binary = policy.chunking && caps.has("CHUNKING") && caps.has("BINARYMIME");
    assert_eq!(seen.iter().any(|k| k == "BINARYMIME"), binary, "{lines:?}");
});

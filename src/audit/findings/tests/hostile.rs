//! Greetings that break RFC 5321 or the audit's patience.

use super::{find, lacks, reply, stock_postfix};
use crate::audit::finding::{Check, Severity};
use crate::audit::findings::judge;
use crate::audit::raw_reply::{End, RawLine, RawReply, partial_reply};
use crate::audit::transcript::{ProbeFailure, Surface, Transcript};

fn with_greeting(greeting: RawReply) -> Transcript {
    let mut t = stock_postfix();
    t.surface = Surface::greeting(greeting);
    t.enumeration = None;
    t.early_talker = None;
    t.pipelining = None;
    t
}

#[test]
fn a_long_legal_banner_is_flagged() {
    let legal = "x".repeat(600);
    let wire = format!("220-mx.example.test ESMTP\r\n220-{legal}\r\n220-{legal}\r\n220-line 4\r\n220 line 5\r\n");
    let f = judge(&with_greeting(reply(&wire)), 0);
    let long = find(&f, Check::BannerLineTooLong);
    assert_eq!(long.severity, Severity::Medium);
    assert_eq!(long.evidence, "line 2: 606 octets, line 3: 606 octets");
    assert!(find(&f, Check::BannerTooManyLines).title.starts_with("a 5-line greeting"));
    lacks(&f, Check::BannerMalformed);
    lacks(&f, Check::BannerNoDomain);
}

#[test]
fn rfc_5321_shape_of_the_greeting() {
    let f = judge(&with_greeting(reply("220-mx.example.test hi\r\n250 ok\r\n")), 0);
    assert_eq!(find(&f, Check::BannerMixedCodes).severity, Severity::High);
    let f = judge(&with_greeting(reply("220-mx.example.test hi\n220 ok\r\n")), 0);
    assert!(find(&f, Check::BannerMalformed).evidence.starts_with("lines [1]"));
    let f = judge(&with_greeting(reply("220 Welcome to our mail server\r\n")), 0);
    assert_eq!(find(&f, Check::BannerNoDomain).severity, Severity::Low);
    let f = judge(&with_greeting(reply("220 [192.0.2.1] ESMTP caf\u{e9}\r\n")), 0);
    assert_eq!(find(&f, Check::BannerNonAscii).severity, Severity::Medium);
    lacks(&f, Check::BannerNoDomain);
    let mut split = reply("220 mx.example.test ESMTP\r\n");
    split.reads = 3;
    assert!(find(&judge(&with_greeting(split), 0), Check::BannerSplit).title.contains("3 reads"));
}

#[test]
fn a_greeting_that_never_ends_is_high() {
    for (end, words) in
        [(End::Timeout, "before the time limit"), (End::TooBig, "too big"), (End::Closed, "closed the connection")]
    {
        let g = RawReply { lines: partial_reply(b"220 mx.example.test no line end"), end, reads: 1 };
        let f = judge(&with_greeting(g), 0);
        let incomplete = find(&f, Check::BannerIncomplete);
        assert_eq!(incomplete.severity, Severity::High);
        assert!(incomplete.title.contains(words), "{incomplete:?}");
        assert!(incomplete.evidence.starts_with("31 bytes"), "{incomplete:?}");
        lacks(&f, Check::BannerMalformed);
    }
}

#[test]
fn escape_sequences_stay_escaped_in_evidence() {
    let g = RawReply {
        lines: vec![RawLine { bytes: b"220 mx.example.test \x1b[2J\x1b]0;owned\x07".to_vec(), crlf: true }],
        end: End::Complete,
        reads: 1,
    };
    let f = judge(&with_greeting(g), 0);
    let evidence = &find(&f, Check::BannerNonAscii).evidence;
    assert!(!evidence.contains('\x1b') && evidence.contains("\\x1b[2J"), "{evidence}");
}

#[test]
fn unfinished_probes_are_reported() {
    let mut t = stock_postfix();
    t.failures.push(ProbeFailure { probe: "STARTTLS", error: "cannot connect: refused".into() });
    let f = judge(&t, 0);
    let p = find(&f, Check::ProbeIncomplete);
    assert_eq!((p.severity, p.title.as_str()), (Severity::Low, "the STARTTLS probe did not finish"));
}

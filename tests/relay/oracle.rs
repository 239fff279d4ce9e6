//! The oracle of `tests/support/oracle.rs` is itself tested: fed streams
//! that break each promise, it must report each one; fed a good session it
//! must report none. An oracle that cannot fail proves nothing.

use doorman::config::ClientIdentity;

use crate::support::oracle::judge;

const RECEIVED: &str = "Received: from c.example (unknown [198.51.100.23])\r\n\tby mx.example.test (doorman) \
                        with ESMTP id 0000001a;\r\n\tSun, 29 Nov 2026 15:07:31 +0000\r\n";

/// The upstream's side of one XCLIENT session that delivers one message.
const REPLIES: &str = "220 pf.test ESMTP\r\n250-pf.test\r\n250-XCLIENT NAME ADDR PROTO HELO PORT\r\n250 8BITMIME\r\n\
                       220 pf.test ESMTP\r\n250 pf.test\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data\r\n\
                       250 2.0.0 Ok: queued as 1\r\n221 2.0.0 Bye\r\n";

const XCLIENT: &str = "XCLIENT HELO=c.example PROTO=ESMTP PORT=40001 NAME=[UNAVAILABLE] ADDR=198.51.100.23";

/// doorman's side: `xclient` line, then `content` (without its final dot),
/// then `end` (normally ".\r\n").
fn sent(xclient: &str, content: &str, end: &str) -> Vec<u8> {
    format!(
        "EHLO mx.example.test\r\n{xclient}\r\nEHLO c.example\r\nMAIL FROM:<a@sender.example>\r\n\
         RCPT TO:<b@example.test>\r\nDATA\r\n{content}{end}QUIT\r\n"
    )
    .into_bytes()
}

fn violations(sent: &[u8], identity: ClientIdentity) -> String {
    judge(sent, REPLIES.as_bytes(), identity).violations.join("\n")
}

#[test]
fn the_oracle_passes_a_good_session() {
    let content = "Subject: x\r\n\r\n..leading dot\r\n";
    let v = judge(&sent(XCLIENT, content, ".\r\n"), REPLIES.as_bytes(), ClientIdentity::Xclient);
    assert!(v.violations.is_empty(), "{:?}", v.violations);
    assert_eq!((v.commands, v.messages, v.accepted, v.cut), (7, 1, 1, false));
    let content = format!("{RECEIVED}Subject: x\r\n\r\nbody\r\n");
    let mut none = sent("NOOP", &content, ".\r\n");
    let v = judge(&none, REPLIES.as_bytes(), ClientIdentity::None);
    assert!(v.violations.is_empty(), "{:?}", v.violations);
    none.truncate(none.len() - 20);
    assert!(judge(&none, REPLIES.as_bytes(), ClientIdentity::None).cut, "a stream ending mid-DATA is cut");
}

#[test]
fn the_oracle_reports_each_broken_promise() {
    let x = ClientIdentity::Xclient;
    let cases: &[(&str, Vec<u8>, ClientIdentity, &str)] = &[
        ("bare LF", sent(XCLIENT, "Subject: x\n\r\nbody\r\n", ".\r\n"), x, "bare LF"),
        ("bare CR", sent(XCLIENT, "Subject: x\r\n\r\nbo\rdy\r\n", ".\r\n"), x, "bare CR"),
        ("NUL", sent(XCLIENT, "Subject: x\r\n\r\nbo\0dy\r\n", ".\r\n"), x, "NUL"),
        ("unstuffed dot", sent(XCLIENT, "Subject: x\r\n\r\n.hidden\r\n", ".\r\n"), x, "not dot-stuffed"),
        ("two lone dots", sent(XCLIENT, "Subject: x\r\n\r\n", ".\r\n.\r\n"), x, "lone dot outside DATA"),
        ("XCLIENT without ADDR", sent(&XCLIENT.replace(" ADDR=198.51.100.23", ""), "", ".\r\n"), x, "without ADDR"),
        ("XCLIENT without NAME", sent(&XCLIENT.replace(" NAME=[UNAVAILABLE]", ""), "", ".\r\n"), x, "without NAME"),
        ("bad ADDR", sent(&XCLIENT.replace("=198.51.100.23", "=198.51.100"), "", ".\r\n"), x, "not a valid"),
        ("no XCLIENT", sent("NOOP", "", ".\r\n"), x, "MAIL before the client's identity"),
        ("XCLIENT in mode none", sent(XCLIENT, RECEIVED, ".\r\n"), ClientIdentity::None, "XCLIENT under"),
        ("no Received", sent("NOOP", "Subject: x\r\n", ".\r\n"), ClientIdentity::None, "without doorman's Received"),
        ("malformed command", sent("MAIL FROM:a@b", "", ".\r\n"), x, "malformed command"),
        ("unknown verb", sent("HELLO there", "", ".\r\n"), x, "malformed command"),
    ];
    for (name, stream, identity, expected) in cases {
        let found = violations(stream, *identity);
        assert!(found.contains(expected), "{name}: expected {expected:?} in:\n{found}");
    }
}

#[test]
fn the_oracle_checks_proxy_headers() {
    let proxied = |header: &[u8]| {
        let mut s = header.to_vec();
        s.extend_from_slice(b"EHLO mx.example.test\r\nMAIL FROM:<a@sender.example>\r\nQUIT\r\n");
        judge(&s, b"220 pf.test\r\n250 pf.test\r\n250 Ok\r\n221 Bye\r\n", ClientIdentity::ProxyV1).violations
    };
    assert_eq!(proxied(b"PROXY TCP4 198.51.100.23 127.0.0.1 40001 25\r\n"), Vec::<String>::new());
    for (header, expected) in [
        (&b"PROXY TCP4 198.51.100.23 127.0.0.1 40001\r\n"[..], "5 fields"),
        (b"PROXY TCP4 2001:db8::1 127.0.0.1 40001 25\r\n", "malformed PROXY v1"),
        (b"PROXY UNKNOWN\r\n", "MAIL before the client's identity"),
        (b"", "no PROXY header"),
    ] {
        let found = proxied(header).join("\n");
        assert!(found.contains(expected), "{header:?}: expected {expected:?} in:\n{found}");
    }
    let cut_v2 = b"\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x0c\xc6\x33";
    let found = judge(cut_v2, b"", ClientIdentity::ProxyV2).violations.join("\n");
    assert!(found.contains("not whole"), "{found}");
}

/// The count check, end to end: a client that does not report the 250 to
/// its final dot (it reads it off a bare socket) makes a message the
/// upstream accepted without a counted 250, and the oracle says so when the
/// doorman is dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_oracle_counts_accepted_messages_per_doorman() {
    use crate::support::client::{Client, assert_code};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let proxy = crate::support::proxy::Proxy::start(&crate::support::postfix::postfix().addr(), "").await;
    let to = crate::support::rcpt("oracle-count");
    let (mut c, _) = Client::connect(proxy.addr).await;
    assert_code(&c.cmd("EHLO c.example.net").await, 250);
    assert_code(&c.cmd("MAIL FROM:<a@sender.example>").await, 250);
    assert_code(&c.cmd(&format!("RCPT TO:<{to}>")).await, 250);
    assert_code(&c.cmd("DATA").await, 354);
    let mut s = c.into_plain();
    let body = crate::support::message(&to, "uncounted", &["x"]);
    s.write_all(format!("{body}.\r\nQUIT\r\n").as_bytes()).await.expect("write");
    let mut transcript = Vec::new();
    s.read_to_end(&mut transcript).await.expect("read");
    let transcript = String::from_utf8_lossy(&transcript);
    assert!(transcript.starts_with("250 ") && transcript.contains("queued as"), "{transcript}");
    let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(proxy)));
    let message = dropped.expect_err("the oracle did not notice").downcast::<String>().expect("a message");
    assert!(message.contains("the upstream accepted 1 messages, clients got a 250 for 0"), "{message}");
}

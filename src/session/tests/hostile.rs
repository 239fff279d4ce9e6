//! Hostile clients from the security checklist (docs/security-checklist.md)
//! that need no real daemon: a dot without its CRLF, smuggling inside TLS,
//! a ClientHello on the plain port, state resets after every refusal, TLS
//! handshakes that never finish, and clients that leave at odd moments.

use std::time::Duration;

use tokio::time::Instant;

use super::cert::TestCert;
use super::harness::{Harness, MESSAGE, assert_code, assert_reply};

/// Checklist A8: `<CRLF>.` and then the client is gone. The message never
/// ended, so nothing reaches the upstream.
#[tokio::test(start_paused = true)]
async fn a_dot_without_its_crlf_then_a_hang_up_relays_nothing() {
    let mut s = Harness::new().ready().await;
    assert_code(&s.client.cmd("MAIL FROM:<alice@sender.example>").await, 250);
    assert_code(&s.client.cmd("RCPT TO:<bob@example.test>").await, 250);
    assert_code(&s.client.cmd("DATA").await, 354);
    s.client.send(b"Subject: cut\r\n\r\nalmost done\r\n.").await;
    let up = s.hang_up().await;
    assert!(!up.all().contains("DATA") && !up.all().contains("almost done"), "{}", up.all());
}

/// Checklist A2: the smuggling vectors inside TLS are the same bytes to the
/// DATA decoder: refused under `reject`, nothing relayed.
#[tokio::test(start_paused = true)]
async fn smuggling_after_starttls_is_refused_too() {
    let cert = TestCert::new();
    let mut s = Harness::new().yaml(&cert.yaml).starttls().ready().await;
    assert_code(&s.client.cmd("STARTTLS").await, 220);
    let recorded = s.upstream().clone();
    let mut tls = s.client.start_tls(cert.client.clone(), "mx.example.test").await;
    assert_code(&tls.cmd("EHLO client.example.net").await, 250);
    for vector in ["\n.\n", "\r.\r\n", "\r\n\0.\r\n", "\r\n.\r\r\n"] {
        assert_code(&tls.cmd("MAIL FROM:<alice@sender.example>").await, 250);
        assert_code(&tls.cmd("RCPT TO:<bob@example.test>").await, 250);
        assert_code(&tls.cmd("DATA").await, 354);
        let body = format!("Subject: tls\r\n\r\nbody{vector}MAIL FROM:<evil@attacker.example>\r\nsmuggled\r\n.\r\n");
        tls.send(body.as_bytes()).await;
        assert_reply(&tls.reply().await, 550, "5.6.0");
    }
    assert_code(&tls.cmd("QUIT").await, 221);
    tls.closed().await;
    let up = recorded.all();
    assert!(up.contains("MAIL FROM:<alice@sender.example>"), "the upstream was never asked: {up}");
    assert!(!up.contains("DATA") && !up.contains("evil@attacker.example"), "{up}");
}

/// Checklist B18: a TLS ClientHello on the plain port is no command. It
/// never opens an upstream session; the client gets refusals and is closed
/// by the idle timeout at the latest.
#[tokio::test(start_paused = true)]
async fn a_client_hello_on_the_plain_port_never_reaches_the_upstream() {
    let mut s = Harness::new().yaml("limits:\n  idle_timeout: 30s").greeted().await;
    // A TLS 1.2 record with a ClientHello: binary, NULs, no line end.
    let mut hello = vec![0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03];
    hello.extend((0..506u32).map(|i| if i % 7 == 0 { 0 } else { (i % 200) as u8 + 0x0b }));
    let started = Instant::now();
    s.client.send(&hello).await;
    while let Some(reply) = s.client.try_reply().await {
        assert!(reply.code() >= 400, "{reply}");
    }
    assert!(started.elapsed() <= Duration::from_secs(30), "{:?}", started.elapsed());
    assert_eq!(s.finished().await.connections(), 0);
}

/// Checklist D33: after every kind of refusal the envelope is gone: RCPT
/// and DATA without a new MAIL get `503 5.5.1`. (A scanner's refusal ends
/// the transaction through the same path as the size and line-ending ones.)
#[tokio::test(start_paused = true)]
async fn every_refusal_resets_the_envelope() {
    let mut s = Harness::new().yaml("limits:\n  max_message_size: 10KiB").ready().await;
    let big = format!("Subject: big\r\n\r\n{}", format!("{}\r\n", "y".repeat(98)).repeat(200));
    let refusals: [(&str, u16); 2] = [(&big, 552), ("Subject: lf\r\n\r\nbare\nlf\r\n", 550)];
    for (message, code) in refusals {
        assert_code(&s.client.transaction(message).await, code);
        assert_reply(&s.client.cmd("RCPT TO:<x@example.test>").await, 503, "5.5.1");
        assert_reply(&s.client.cmd("DATA").await, 503, "5.5.1");
    }
    for reset in ["RSET", "EHLO client.example.net"] {
        assert_code(&s.client.cmd("MAIL FROM:<alice@sender.example>").await, 250);
        assert_code(&s.client.cmd("RCPT TO:<bob@example.test>").await, 250);
        assert_code(&s.client.cmd(reset).await, 250);
        assert_reply(&s.client.cmd("RCPT TO:<x@example.test>").await, 503, "5.5.1");
        assert_reply(&s.client.cmd("DATA").await, 503, "5.5.1");
    }
    let mta = super::upstream::Mta::default().on(".", "554 5.7.1 Rejected by the backend's milter\r\n");
    let mut s = Harness::new().mta(mta).ready().await;
    assert_code(&s.client.transaction(MESSAGE).await, 554);
    assert_reply(&s.client.cmd("RCPT TO:<x@example.test>").await, 503, "5.5.1");
    assert_reply(&s.client.cmd("DATA").await, 503, "5.5.1");
    assert_code(&s.client.cmd("QUIT").await, 221);
    assert_eq!(s.finished().await.text(0).matches("DATA\r\n").count(), 1);
}

/// Checklist D35, J72: commands no client may use are answered by doorman
/// and never forwarded; a PROXY line on a listener without PROXY protocol is
/// an unknown command, never honoured.
#[tokio::test(start_paused = true)]
async fn privileged_and_obsolete_commands_never_reach_the_upstream() {
    let mut s = Harness::new().ready().await;
    for (line, code) in [
        ("PROXY TCP4 127.0.0.1 127.0.0.1 40001 25", 500),
        ("XCLIENT ADDR=127.0.0.1", 550),
        ("XFORWARD ADDR=127.0.0.1", 550),
        ("VRFY root", 252),
        ("EXPN staff", 502),
        ("ETRN example.test", 502),
        ("TURN", 502),
        ("ATRN example.test", 502),
        ("XEXCH50 1 2", 502),
    ] {
        assert_code(&s.client.cmd(line).await, code);
    }
    assert_code(&s.client.transaction(MESSAGE).await, 250);
    assert_code(&s.client.cmd("QUIT").await, 221);
    let up = s.finished().await.all();
    for never in ["PROXY", "XCLIENT", "XFORWARD", "VRFY", "EXPN", "ETRN", "TURN", "XEXCH50"] {
        assert!(!up.contains(never), "{never} reached the upstream: {up}");
    }
}

/// Checklist E37, E38, E39: `STARTTLS foo` is a syntax error; plaintext
/// sent after the 220 instead of a ClientHello fails the handshake at once,
/// and the command in it is never answered.
#[tokio::test(start_paused = true)]
async fn plaintext_after_the_220_fails_the_handshake() {
    let cert = TestCert::new();
    let mut s = Harness::new().yaml(&cert.yaml).starttls().ready().await;
    assert_reply(&s.client.cmd("STARTTLS foo").await, 501, "5.5.4");
    assert_code(&s.client.cmd("STARTTLS").await, 220);
    let started = Instant::now();
    s.client.send(b"MAIL FROM:<x@attacker.example>\r\n").await;
    let rest = s.client.read_to_close().await;
    assert!(!rest.windows(4).any(|w| w == b"250 "), "the injected command was answered: {rest:?}");
    assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
    assert_eq!(s.finished().await.connections(), 0);
}

/// Checklist E39, I61, I65: a handshake that never finishes (a client that
/// stops after part of its ClientHello) ends at the idle timeout.
#[tokio::test(start_paused = true)]
async fn a_stalled_handshake_ends_at_the_idle_timeout() {
    let cert = TestCert::new();
    let mut s = Harness::new().yaml(&format!("{}\nlimits:\n  idle_timeout: 20s", cert.yaml)).starttls().ready().await;
    assert_code(&s.client.cmd("STARTTLS").await, 220);
    let started = Instant::now();
    s.client.send(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01]).await;
    s.client.read_to_close().await;
    assert_eq!(started.elapsed(), Duration::from_secs(20));
    assert_eq!(s.finished().await.connections(), 0);
}

/// Checklist N106: the client leaves right after its final dot. doorman
/// finishes, as Postfix does: the message is relayed once (the client,
/// which saw no reply, may send it again: a duplicate, never a loss).
#[tokio::test(start_paused = true)]
async fn a_client_gone_after_the_final_dot_is_relayed_once() {
    let mut s = Harness::new().ready().await;
    assert_code(&s.client.cmd("MAIL FROM:<alice@sender.example>").await, 250);
    assert_code(&s.client.cmd("RCPT TO:<bob@example.test>").await, 250);
    assert_code(&s.client.cmd("DATA").await, 354);
    s.client.send(format!("{MESSAGE}.\r\n").as_bytes()).await;
    let up = s.hang_up().await.text(0);
    assert_eq!(up.matches("\r\n.\r\n").count(), 1, "{up}");
    assert!(up.contains("Hello Bob."), "{up}");
}

/// Checklist N107: bytes after QUIT are never run; a client that closes
/// without QUIT after its 250 ends the session cleanly, both sides closed.
#[tokio::test(start_paused = true)]
async fn bytes_after_quit_are_ignored_and_a_silent_close_is_clean() {
    let mut s = Harness::new().yaml("limits:\n  forbid_unauth_pipelining: off").ready().await;
    s.client.send(b"QUIT\r\nMAIL FROM:<alice@sender.example>\r\nRSET\r\n").await;
    assert_code(&s.client.reply().await, 221);
    s.client.closed().await;
    assert_eq!(s.finished().await.connections(), 0);

    let mut s = Harness::new().ready().await;
    assert_code(&s.client.transaction(MESSAGE).await, 250);
    let up = s.hang_up().await;
    assert_eq!(up.text(0).matches("\r\n.\r\n").count(), 1);
}

/// Checklist F44: AUTH inside a transaction is refused by doorman; the MTA
/// never sees the credentials.
#[tokio::test(start_paused = true)]
async fn auth_inside_a_transaction_is_refused() {
    let mut s = Harness::new().yaml("auth:\n  allow_plaintext: true").ready().await;
    assert_code(&s.client.cmd("MAIL FROM:<alice@sender.example>").await, 250);
    assert_reply(&s.client.cmd("AUTH PLAIN AGFsaWNlAHNlY3JldA==").await, 503, "5.5.1");
    assert!(!s.upstream().all().contains("AUTH"), "{}", s.upstream().all());
}

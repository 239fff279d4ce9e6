//! An upstream that fails, at each stage: the client is told to retry
//! (4xx), never given a 250 the upstream did not give, and a reply is never
//! handed to the wrong command.

use super::harness::{Harness, MESSAGE, assert_code, assert_reply};
use super::upstream::{Step, Upstream};

/// Greeting, EHLO, MAIL and RCPT accepted; then `rest`.
fn until_data(rest: &[Step]) -> Upstream {
    let mut steps = vec![
        Step::Send("220 backend.test ESMTP\r\n"),
        Step::Expect("EHLO"),
        Step::Send("250-backend.test\r\n250 PIPELINING\r\n"),
        Step::Expect("MAIL"),
        Step::Send("250 2.1.0 Ok\r\n"),
        Step::Expect("RCPT"),
        Step::Send("250 2.1.5 Ok\r\n"),
    ];
    steps.extend_from_slice(rest);
    Upstream::Script(steps)
}

/// The hostile review: two replies to MAIL. The stray `250` must not become
/// the reply to the pipelined RCPT, which never reaches the upstream.
#[tokio::test(start_paused = true)]
async fn a_stray_reply_is_never_handed_to_the_next_command() {
    let script = vec![
        Step::Send("220 backend.test ESMTP\r\n"),
        Step::Expect("EHLO"),
        Step::Send("250-backend.test\r\n250 PIPELINING\r\n"),
        Step::Expect("MAIL"),
        Step::Send("250 Ok\r\n250 stray\r\n"),
    ];
    let mut s = Harness::new().upstreams(vec![Upstream::Script(script)]).ready().await;
    s.client.send(b"MAIL FROM:<alice@sender.example>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n").await;
    assert_code(&s.client.reply().await, 250);
    assert_reply(&s.client.reply().await, 421, "4.4.2");
    s.client.closed().await;
    let up = s.finished().await;
    assert!(!up.all().contains("RCPT"), "{}", up.all());
}

/// `354` and a stray `250` to DATA: no false acceptance, no content sent.
#[tokio::test(start_paused = true)]
async fn a_stray_reply_after_354_is_never_the_final_reply() {
    let upstream = until_data(&[Step::Expect("DATA"), Step::Send("354 go\r\n250 2.0.0 stray\r\n")]);
    let mut s = Harness::new().upstreams(vec![upstream]).ready().await;
    assert_reply(&s.client.transaction(MESSAGE).await, 421, "4.4.2");
    let up = s.finished().await;
    assert!(!up.all().contains("Hello Bob"), "{}", up.all());
}

#[tokio::test(start_paused = true)]
async fn an_upstream_that_dies_mid_data_never_yields_250() {
    let upstream = until_data(&[Step::Expect("DATA"), Step::Send("354 go\r\n"), Step::Close]);
    let mut s = Harness::new().upstreams(vec![upstream]).ready().await;
    let r = s.client.transaction(&format!("Subject: big\r\n\r\n{}", "line of text\r\n".repeat(10_000))).await;
    assert!(r.is_transient(), "{r}");
}

#[tokio::test(start_paused = true)]
async fn a_positive_reply_to_data_instead_of_354_sends_no_content() {
    let upstream = until_data(&[Step::Expect("DATA"), Step::Send("250 what\r\n")]);
    let mut s = Harness::new().upstreams(vec![upstream]).ready().await;
    assert!(s.client.transaction(MESSAGE).await.is_transient());
    let up = s.finished().await;
    assert!(!up.all().contains("Hello Bob"), "{}", up.all());
}

#[tokio::test(start_paused = true)]
async fn garbage_from_the_upstream_is_never_relayed() {
    let script = vec![
        Step::Send("220 backend.test ESMTP\r\n"),
        Step::Expect("EHLO"),
        Step::Send("250 backend.test\r\n"),
        Step::Expect("MAIL"),
        Step::Send("25O garbage\0\r\n"),
    ];
    let mut s = Harness::new().upstreams(vec![Upstream::Script(script)]).ready().await;
    assert_eq!(
        s.client.cmd("MAIL FROM:<alice@sender.example>").await.to_bytes().as_ref(),
        b"421 4.4.2 mx.example.test Error: upstream connection failed, try again later\r\n"
    );
    s.client.closed().await;
}

/// The upstream closing while the client is idle closes the client too, at
/// once, with a 421.
#[tokio::test(start_paused = true)]
async fn an_upstream_closing_while_the_client_is_idle_closes_the_client() {
    let script = vec![
        Step::Send("220 backend.test ESMTP\r\n"),
        Step::Expect("EHLO"),
        Step::Send("250 backend.test\r\n"),
        Step::Close,
    ];
    let mut s = Harness::new().upstreams(vec![Upstream::Script(script)]).ready().await;
    assert_reply(&s.client.reply().await, 421, "4.4.2");
    s.client.closed().await;
}

/// An upstream that says 354 and stops reading: doorman's writes of the
/// message block, and `upstream.data_timeout` ends them.
#[tokio::test(start_paused = true)]
async fn an_upstream_that_stops_reading_cannot_hold_the_session() {
    let upstream = until_data(&[Step::Expect("DATA"), Step::Send("354 go\r\n"), Step::Hang]);
    let mut s = Harness::new()
        .yaml("limits:\n  max_message_size: 64MiB")
        .upstream_keys("data_timeout: 30s")
        .upstreams(vec![upstream])
        .ready()
        .await;
    // More than the pipe to the upstream holds.
    let big = format!("Subject: big\r\n\r\n{}", format!("{}\r\n", "z".repeat(98)).repeat(5000));
    assert!(s.client.transaction(&big).await.is_transient());
}

/// A 421 from the upstream in reply to a command is relayed, and the
/// session closes.
#[tokio::test(start_paused = true)]
async fn an_upstream_421_to_rcpt_closes_the_session() {
    let script = vec![
        Step::Send("220 backend.test ESMTP\r\n"),
        Step::Expect("EHLO"),
        Step::Send("250 backend.test\r\n"),
        Step::Expect("MAIL"),
        Step::Send("250 Ok\r\n"),
        Step::Expect("RCPT"),
        Step::Send("421 4.7.0 backend.test Error: too many connections\r\n"),
        Step::Close,
    ];
    let mut s = Harness::new().upstreams(vec![Upstream::Script(script)]).ready().await;
    assert_code(&s.client.cmd("MAIL FROM:<alice@sender.example>").await, 250);
    assert_code(&s.client.cmd("RCPT TO:<bob@example.test>").await, 421);
    s.client.closed().await;
}

/// Exim CVE-2021-38371 class: the upstream answers STARTTLS with its 220
/// and more replies in the same segment (they would be read as if they came
/// over TLS). The connection is dropped at once; nothing is relayed.
#[tokio::test(start_paused = true)]
async fn upstream_response_injection_after_starttls_drops_the_session() {
    let script = vec![
        Step::Send("220 backend.test ESMTP\r\n"),
        Step::Expect("EHLO"),
        Step::Send("250-backend.test\r\n250 STARTTLS\r\n"),
        Step::Expect("STARTTLS"),
        Step::Send("220 Ready\r\n250-backend.test\r\n250 PIPELINING\r\n"),
        Step::Hang,
    ];
    let harness = Harness::new().upstream_keys("tls: opportunistic").upstreams(vec![Upstream::Script(script)]);
    let mut s = harness.ready().await;
    assert_reply(&s.client.cmd("MAIL FROM:<a@example.net>").await, 421, "4.3.0");
    s.client.closed().await;
    let up = s.finished().await;
    assert!(!up.all().contains("MAIL"), "{}", up.all());
}

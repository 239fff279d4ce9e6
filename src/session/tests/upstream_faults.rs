//! An upstream that fails, at each stage: the client is told to retry
//! (4xx), never given a 250 the upstream did not give, and a reply is never
//! handed to the wrong command.

use super::harness::{Harness, MESSAGE, assert_code, assert_reply};
use super::upstream::{Mta, Step, Upstream};

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

/// Checklist K79: the upstream goes away without a word after MAIL, or
/// after RCPT: the client is told to retry, and the session closes.
#[tokio::test(start_paused = true)]
async fn an_upstream_gone_without_a_reply_is_a_tempfail() {
    let greeted = [Step::Send("220 backend.test ESMTP\r\n"), Step::Expect("EHLO"), Step::Send("250 backend.test\r\n")];
    let after_mail = [&greeted[..], &[Step::Expect("MAIL"), Step::Close]].concat();
    let mut s = Harness::new().upstreams(vec![Upstream::Script(after_mail)]).ready().await;
    assert_reply(&s.client.cmd("MAIL FROM:<alice@sender.example>").await, 421, "4.4.2");
    s.client.closed().await;

    let after_rcpt =
        [&greeted[..], &[Step::Expect("MAIL"), Step::Send("250 Ok\r\n"), Step::Expect("RCPT"), Step::Close]].concat();
    let mut s = Harness::new().upstreams(vec![Upstream::Script(after_rcpt)]).ready().await;
    assert_code(&s.client.cmd("MAIL FROM:<alice@sender.example>").await, 250);
    assert_reply(&s.client.cmd("RCPT TO:<bob@example.test>").await, 421, "4.4.2");
    s.client.closed().await;
}

/// Checklist K80, K81: after the final dot the upstream closes without a
/// reply, or answers 421: the outcome is unknown or refused, never a 250.
#[tokio::test(start_paused = true)]
async fn no_250_when_the_final_dot_gets_a_close_or_a_421() {
    let data = [Step::Expect("DATA"), Step::Send("354 go\r\n"), Step::ExpectData];
    let closed = until_data(&[&data[..], &[Step::Close]].concat());
    let refused =
        until_data(&[&data[..], &[Step::Send("421 4.3.0 backend.test shutting down\r\n"), Step::Close]].concat());
    for upstream in [closed, refused] {
        let mut s = Harness::new().upstreams(vec![upstream]).ready().await;
        let r = s.client.transaction(MESSAGE).await;
        assert_eq!(r.code(), 421, "{r}");
        s.client.closed().await;
    }
}

/// Checklist K86: the upstream takes one recipient and refuses another:
/// each RCPT reply is relayed as it came, and DATA goes ahead for the one.
#[tokio::test(start_paused = true)]
async fn some_recipients_refused_the_message_goes_to_the_rest() {
    let upstream = Upstream::Script(vec![
        Step::Send("220 backend.test ESMTP\r\n"),
        Step::Expect("EHLO"),
        Step::Send("250-backend.test\r\n250 PIPELINING\r\n"),
        Step::Expect("MAIL"),
        Step::Send("250 2.1.0 Ok\r\n"),
        Step::Expect("RCPT TO:<bob@"),
        Step::Send("250 2.1.5 Ok\r\n"),
        Step::Expect("RCPT TO:<nobody@"),
        Step::Send("550 5.1.1 <nobody@example.test>: User unknown\r\n"),
        Step::Expect("DATA"),
        Step::Send("354 go\r\n"),
        Step::ExpectData,
        Step::Send("250 2.0.0 Ok: queued as 4ABC\r\n"),
    ]);
    let mut s = Harness::new().upstreams(vec![upstream]).ready().await;
    assert_code(&s.client.cmd("MAIL FROM:<alice@sender.example>").await, 250);
    assert_code(&s.client.cmd("RCPT TO:<bob@example.test>").await, 250);
    let refused = s.client.cmd("RCPT TO:<nobody@example.test>").await;
    assert_eq!(refused.to_bytes().as_ref(), b"550 5.1.1 <nobody@example.test>: User unknown\r\n");
    assert_code(&s.client.cmd("DATA").await, 354);
    s.client.send(format!("{MESSAGE}.\r\n").as_bytes()).await;
    assert_code(&s.client.reply().await, 250);
    assert!(s.upstream().text(0).contains("Hello Bob."));
}

/// Checklist E41: `upstream.tls: required` and an upstream that does not
/// offer STARTTLS, or refuses it: no plaintext fallback, nothing relayed.
#[tokio::test(start_paused = true)]
async fn required_upstream_tls_never_falls_back_to_plaintext() {
    let offers = Mta { ehlo: "250-backend.test\r\n250-PIPELINING\r\n250 STARTTLS\r\n", ..Mta::default() };
    for mta in [Mta::default(), offers.on("STARTTLS", "454 4.7.0 TLS not available due to local problem\r\n")] {
        let mut s = Harness::new().upstream_keys("tls: required").mta(mta).ready().await;
        assert_reply(&s.client.cmd("MAIL FROM:<alice@sender.example>").await, 421, "4.3.0");
        s.client.closed().await;
        assert!(!s.finished().await.all().contains("MAIL"));
    }
}

/// Checklist G51: an upstream without SMTPUTF8: doorman does not offer it,
/// so a UTF-8 address is refused and never relayed.
#[tokio::test(start_paused = true)]
async fn utf8_addresses_need_smtputf8_end_to_end() {
    const EHLO: &str = "250-backend.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE 10240000\r\n";
    let mut s = Harness::new().known(Some(EHLO)).mta(Mta { ehlo: EHLO, ..Mta::default() }).greeted().await;
    let ehlo = s.client.cmd("EHLO client.example.net").await;
    assert!(!ehlo.lines().iter().any(|l| l == "SMTPUTF8"), "{ehlo}");
    assert_code(&s.client.cmd("MAIL FROM:<jörg@bücher.example> SMTPUTF8").await, 555);
    assert_reply(&s.client.cmd("MAIL FROM:<jörg@bücher.example>").await, 553, "5.6.7");
    assert_code(&s.client.cmd("QUIT").await, 221);
    assert!(!s.finished().await.all().contains("bücher"));
}

//! DATA: doorman's 354, the canonical message the upstream gets, refusals
//! after the final dot, and what never reaches the upstream.

use super::harness::{Harness, MESSAGE, assert_code, assert_reply};
use super::upstream::Mta;

/// The message part of the upstream's transcript: after `DATA\r\n`,
/// through the final dot.
fn relayed(upstream: &str) -> &str {
    let start = upstream.find("DATA\r\n").map_or(upstream.len(), |i| i + 6);
    let end = upstream[start..].find("\r\n.\r\n").map_or(upstream.len(), |i| start + i + 5);
    &upstream[start..end]
}

#[tokio::test(start_paused = true)]
async fn a_message_is_relayed_once_and_dot_stuffed() {
    let mut s = Harness::new().upstream_keys("client_identity: xclient").ready().await;
    let message = "Subject: dots\r\n\r\n.leading dot\r\n..two\r\nplain\r\n";
    // The client stuffs; doorman unstuffs, spools, and stuffs again.
    let stuffed = "Subject: dots\r\n\r\n..leading dot\r\n...two\r\nplain\r\n";
    assert_code(&s.client.transaction(stuffed).await, 250);
    assert_code(&s.client.cmd("QUIT").await, 221);
    let up = s.finished().await.text(0);
    assert_eq!(relayed(&up), format!("{stuffed}.\r\n"), "{message:?}");
}

#[tokio::test(start_paused = true)]
async fn the_final_reply_is_the_upstreams() {
    let mta = Mta::default().on(".", "554 5.7.1 Rejected by the backend's milter\r\n");
    let mut s = Harness::new().mta(mta).ready().await;
    let r = s.client.transaction(MESSAGE).await;
    assert_eq!(r.to_bytes().as_ref(), b"554 5.7.1 Rejected by the backend's milter\r\n");
}

#[tokio::test(start_paused = true)]
async fn data_refused_by_the_upstream_is_relayed_and_the_session_goes_on() {
    let mta = Mta::default().on("DATA", "451 4.3.0 Try later\r\n");
    let mut s = Harness::new().mta(mta).ready().await;
    assert_code(&s.client.transaction(MESSAGE).await, 451);
    assert_code(&s.client.cmd("NOOP").await, 250);
}

#[tokio::test(start_paused = true)]
async fn too_big_and_too_long_lines_are_refused_after_the_dot_and_never_relayed() {
    let mut s = Harness::new().yaml("limits:\n  max_message_size: 10KiB").ready().await;
    let long_line = format!("Subject: long\r\n\r\n{}\r\n", "x".repeat(1001));
    assert_reply(&s.client.transaction(&long_line).await, 552, "5.3.4");
    let big = format!("Subject: big\r\n\r\n{}", format!("{}\r\n", "y".repeat(98)).repeat(200));
    assert_reply(&s.client.transaction(&big).await, 552, "5.3.4");
    assert_code(&s.client.transaction(MESSAGE).await, 250);
    assert_code(&s.client.cmd("QUIT").await, 221);
    let up = s.finished().await.text(0);
    assert_eq!(up.matches("DATA\r\n").count(), 1, "{up}");
    assert!(!up.contains("xxxx") && !up.contains("yyyy"));
}

#[tokio::test(start_paused = true)]
async fn bare_line_endings_are_refused_under_reject() {
    let mut s = Harness::new().ready().await;
    assert_reply(&s.client.transaction("Subject: lf\r\n\r\nbare\nlf\r\n").await, 550, "5.6.0");
    assert!(!s.upstream().all().contains("bare"));
}

/// SMTP smuggling: a fake end of data with bare line endings, then a
/// second transaction. Under `normalize` it is one message whose "commands"
/// are text; under `reject` nothing is relayed. Never two messages.
#[tokio::test(start_paused = true)]
async fn smuggled_transactions_stay_inside_the_message() {
    let smuggle = "Subject: smuggle\r\n\r\nhello\n.\nMAIL FROM:<evil@attacker.example>\nRCPT TO:<victim@example.test>\nDATA\nevil\r\n";
    for (policy, code) in [("reject", 550), ("normalize", 250)] {
        let mut s = Harness::new().yaml(&format!("data:\n  bare_line_endings: {policy}")).ready().await;
        assert_code(&s.client.transaction(smuggle).await, code);
        assert_code(&s.client.cmd("QUIT").await, 221);
        let up = s.finished().await.text(0);
        assert!(up.matches("\r\n.\r\n").count() <= 1, "{policy}: two messages: {up}");
        // The "smuggled" commands are message text (the lone dot stuffed),
        // never commands outside it.
        let outside = up.replacen(relayed(&up), "", 1);
        assert!(!outside.contains("evil@attacker.example"), "{policy}: a smuggled command ran: {up}");
        if policy == "normalize" {
            assert!(relayed(&up).contains("\r\n..\r\nMAIL FROM:<evil@attacker.example>\r\n"), "{up}");
        }
    }
}

#[tokio::test(start_paused = true)]
async fn an_empty_message_gets_one_reply() {
    let mut s = Harness::new().ready().await;
    assert_code(&s.client.transaction("").await, 250);
    assert_code(&s.client.cmd("NOOP").await, 250);
}

#[tokio::test(start_paused = true)]
async fn nothing_of_a_vanished_message_reaches_the_upstream() {
    let mut s = Harness::new().ready().await;
    assert_code(&s.client.cmd("MAIL FROM:<alice@sender.example>").await, 250);
    assert_code(&s.client.cmd("RCPT TO:<bob@example.test>").await, 250);
    assert_code(&s.client.cmd("DATA").await, 354);
    s.client.send(b"Subject: gone\r\n\r\nhalf a mess").await;
    let up = s.hang_up().await;
    assert!(!up.all().contains("DATA") && !up.all().contains("gone"), "{}", up.all());
}

#[tokio::test(start_paused = true)]
async fn doorman_writes_a_received_header_when_no_identity_goes_upstream() {
    let mut s = Harness::new().peer("127.0.0.9:4000").ready().await;
    assert_code(&s.client.transaction(MESSAGE).await, 250);
    let up = s.upstream().text(0);
    let message = relayed(&up);
    assert!(
        message.starts_with(
            "Received: from client.example.net (unknown [127.0.0.9])\r\n\tby mx.example.test (doorman) with ESMTP id "
        ),
        "{message}"
    );
    let mut s = Harness::new().upstream_keys("client_identity: xclient").ready().await;
    assert_code(&s.client.transaction(MESSAGE).await, 250);
    assert!(relayed(&s.upstream().text(0)).starts_with("From: "), "a Received header with XCLIENT");
}

#[tokio::test(start_paused = true)]
async fn quit_pipelined_after_the_dot_comes_after_the_final_reply() {
    let mut s = Harness::new().ready().await;
    assert_code(&s.client.cmd("MAIL FROM:<alice@sender.example>").await, 250);
    assert_code(&s.client.cmd("RCPT TO:<bob@example.test>").await, 250);
    assert_code(&s.client.cmd("DATA").await, 354);
    s.client.send(format!("{MESSAGE}.\r\nQUIT\r\n").as_bytes()).await;
    assert_code(&s.client.reply().await, 250);
    assert_code(&s.client.reply().await, 221);
    s.client.closed().await;
}

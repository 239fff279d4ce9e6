//! Slow clients cannot hold the MTA: a client that keeps doorman waiting
//! for `upstream.release_after` (between commands, or while it trickles its
//! message) gives its upstream session back; the transaction is built again
//! (MAIL, the accepted RCPTs) when it next needs the upstream.

use std::time::Duration;

use super::harness::{Harness, MESSAGE, assert_code, assert_reply};
use super::upstream::{Mta, Upstream};

const RELEASE: &str = "release_after: 10s";

fn two_sessions(second: Mta) -> Vec<Upstream> {
    vec![Upstream::Mta(Mta::default()), Upstream::Mta(second)]
}

#[tokio::test(start_paused = true)]
async fn a_trickled_message_gives_the_upstream_back_and_is_delivered_after_a_replay() {
    let mut s = Harness::new().upstream_keys(RELEASE).upstreams(two_sessions(Mta::default())).ready().await;
    assert_code(&s.client.cmd("MAIL FROM:<alice@sender.example>").await, 250);
    assert_code(&s.client.cmd("RCPT TO:<bob@example.test>").await, 250);
    assert_code(&s.client.cmd("DATA").await, 354);
    let (head, tail) = MESSAGE.split_at(MESSAGE.len() / 2);
    for byte in head.bytes() {
        s.client.send(&[byte]).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(s.upstream().text(0).ends_with("QUIT\r\n"), "released: {}", s.upstream().text(0));
    s.client.send(format!("{tail}.\r\n").as_bytes()).await;
    assert_code(&s.client.reply().await, 250);
    let first = s.upstream().text(0);
    assert!(!first.contains("DATA"), "{first}");
    let second = s.upstream().text(1);
    assert!(
        second.starts_with(
            "EHLO client.example.net\r\nMAIL FROM:<alice@sender.example>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n"
        ),
        "{second}"
    );
    assert!(second.contains("Subject:"), "{second}");
}

#[tokio::test(start_paused = true)]
async fn a_client_silent_between_commands_gives_it_back_too() {
    let mut s = Harness::new().upstream_keys(RELEASE).upstreams(two_sessions(Mta::default())).ready().await;
    assert_code(&s.client.cmd("MAIL FROM:<alice@sender.example>").await, 250);
    assert_code(&s.client.cmd("RCPT TO:<bob@example.test>").await, 250);
    tokio::time::sleep(Duration::from_secs(11)).await;
    assert_eq!(s.upstream().connections(), 1);
    assert!(s.upstream().text(0).ends_with("QUIT\r\n"));
    assert_code(&s.client.cmd("RCPT TO:<carol@example.test>").await, 250);
    assert_code(&s.client.cmd("DATA").await, 354);
    s.client.send(format!("{MESSAGE}.\r\n").as_bytes()).await;
    assert_code(&s.client.reply().await, 250);
    let second = s.upstream().text(1);
    assert!(second.contains("RCPT TO:<bob@example.test>\r\nRCPT TO:<carol@example.test>\r\nDATA\r\n"), "{second}");
}

/// The MTA answers a replayed RCPT differently (greylisting, a full
/// mailbox): nothing is delivered, the client is told to try again.
#[tokio::test(start_paused = true)]
async fn a_replay_answered_differently_delivers_nothing() {
    let greylisting =
        Mta::default().on("RCPT", "450 4.2.0 <bob@example.test>: Recipient address rejected: Greylisted\r\n");
    let mut s = Harness::new().upstream_keys(RELEASE).upstreams(two_sessions(greylisting)).ready().await;
    assert_code(&s.client.cmd("MAIL FROM:<alice@sender.example>").await, 250);
    assert_code(&s.client.cmd("RCPT TO:<bob@example.test>").await, 250);
    tokio::time::sleep(Duration::from_secs(11)).await;
    assert_code(&s.client.cmd("DATA").await, 354);
    s.client.send(format!("{MESSAGE}.\r\n").as_bytes()).await;
    assert_reply(&s.client.reply().await, 421, "4.4.2");
    s.client.closed().await;
    let all = s.finished().await.all();
    assert!(!all.contains("DATA"), "{all}");
}

/// `release_after: 0s` keeps the upstream session as long as the client.
#[tokio::test(start_paused = true)]
async fn zero_never_releases() {
    let mut s = Harness::new().upstream_keys("release_after: 0s").ready().await;
    assert_code(&s.client.cmd("MAIL FROM:<alice@sender.example>").await, 250);
    tokio::time::sleep(Duration::from_secs(200)).await;
    assert_code(&s.client.cmd("RCPT TO:<bob@example.test>").await, 250);
    assert_eq!(s.upstream().connections(), 1);
    assert!(!s.upstream().text(0).contains("QUIT"));
}

/// Commands that need no upstream (NOOP, HELP) do not keep it: the clock
/// runs from the last command the upstream answered.
#[tokio::test(start_paused = true)]
async fn noop_does_not_keep_the_upstream_session() {
    let mut s = Harness::new().upstream_keys(RELEASE).upstreams(two_sessions(Mta::default())).ready().await;
    assert_code(&s.client.cmd("MAIL FROM:<alice@sender.example>").await, 250);
    assert_code(&s.client.cmd("RCPT TO:<bob@example.test>").await, 250);
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_secs(6)).await;
        assert_code(&s.client.cmd("NOOP").await, 250);
    }
    assert!(s.upstream().text(0).ends_with("QUIT\r\n"), "{}", s.upstream().text(0));
}

/// A client slow again and again is not given a fourth session: each
/// replay costs the MTA a connection and its recipient lookups.
#[tokio::test(start_paused = true)]
async fn a_client_slow_again_and_again_is_closed() {
    let sessions = (0..4).map(|_| Upstream::Mta(Mta::default())).collect();
    let mut s = Harness::new().upstream_keys(RELEASE).upstreams(sessions).ready().await;
    assert_code(&s.client.cmd("MAIL FROM:<alice@sender.example>").await, 250);
    for rcpt in ["a", "b", "c", "d"] {
        assert_code(&s.client.cmd(&format!("RCPT TO:<{rcpt}@example.test>")).await, 250);
        tokio::time::sleep(Duration::from_secs(11)).await;
    }
    assert_reply(&s.client.reply().await, 421, "4.4.2");
    s.client.closed().await;
    assert_eq!(s.finished().await.connections(), 4);
}

/// A large message that arrives at a normal rate keeps its upstream
/// session, however long it takes.
#[tokio::test(start_paused = true)]
async fn a_message_at_a_normal_rate_keeps_the_upstream_session() {
    let mut s = Harness::new().upstream_keys(RELEASE).ready().await;
    assert_code(&s.client.cmd("MAIL FROM:<alice@sender.example>").await, 250);
    assert_code(&s.client.cmd("RCPT TO:<bob@example.test>").await, 250);
    assert_code(&s.client.cmd("DATA").await, 354);
    s.client.send(MESSAGE.as_bytes()).await;
    let line = format!("{}\r\n", "x".repeat(998));
    for _ in 0..30 {
        s.client.send(line.as_bytes()).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    s.client.send(b".\r\n").await;
    assert_code(&s.client.reply().await, 250);
    assert_eq!(s.upstream().connections(), 1);
    assert!(!s.upstream().text(0).contains("QUIT"));
}

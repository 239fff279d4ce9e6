//! Time limits under paused time: idle, DATA, session, the final-reply
//! budget, writes to a client that does not read, and shutdown. Each is
//! checked to the second, on any machine.

use std::time::Duration;

use tokio::time::Instant;

use super::harness::{Harness, MESSAGE, assert_code, assert_reply};
use super::upstream::{Mta, Step, Upstream};

#[tokio::test(start_paused = true)]
async fn an_idle_client_gets_421_at_the_idle_timeout() {
    let mut s = Harness::new().yaml("limits:\n  idle_timeout: 42s").ready().await;
    let started = Instant::now();
    assert_eq!(s.client.reply().await.to_bytes().as_ref(), b"421 4.4.2 mx.example.test Error: timeout exceeded\r\n");
    assert_eq!(started.elapsed(), Duration::from_secs(42));
    s.client.closed().await;
}

#[tokio::test(start_paused = true)]
async fn a_client_silent_in_data_gets_421_and_nothing_is_relayed() {
    let mut s = Harness::new().yaml("limits:\n  idle_timeout: 30s").ready().await;
    assert_code(&s.client.cmd("MAIL FROM:<alice@sender.example>").await, 250);
    assert_code(&s.client.cmd("RCPT TO:<bob@example.test>").await, 250);
    assert_code(&s.client.cmd("DATA").await, 354);
    s.client.send(b"Subject: slow\r\n\r\nhalf").await;
    assert_reply(&s.client.reply().await, 421, "4.4.2");
    let up = s.finished().await;
    assert!(!up.all().contains("DATA"), "{}", up.all());
}

/// A client that trickles its message past `limits.data_timeout`.
#[tokio::test(start_paused = true)]
async fn a_trickled_message_ends_at_the_data_timeout() {
    let mut s = Harness::new().yaml("limits:\n  idle_timeout: 10s\n  data_timeout: 60s").ready().await;
    assert_code(&s.client.cmd("MAIL FROM:<alice@sender.example>").await, 250);
    assert_code(&s.client.cmd("RCPT TO:<bob@example.test>").await, 250);
    assert_code(&s.client.cmd("DATA").await, 354);
    let started = Instant::now();
    while s.client.try_send(b"x\r\n").await {
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    assert_reply(&s.client.reply().await, 421, "4.4.2");
    assert!(started.elapsed() >= Duration::from_secs(60) && started.elapsed() <= Duration::from_secs(65));
}

#[tokio::test(start_paused = true)]
async fn the_session_limit_is_applied_between_transactions() {
    let mut s = Harness::new().yaml("limits:\n  session_timeout: 100s\n  idle_timeout: 300s").ready().await;
    tokio::time::sleep(Duration::from_secs(99)).await;
    assert_code(&s.client.transaction(MESSAGE).await, 250);
    assert_eq!(
        s.client.reply().await.to_bytes().as_ref(),
        b"421 4.4.2 mx.example.test Error: session time limit exceeded\r\n"
    );
}

/// A client that never reads: the write is bounded by the idle timeout.
#[tokio::test(start_paused = true)]
async fn a_client_that_never_reads_is_dropped_at_the_idle_timeout() {
    let mut s =
        Harness::new().yaml("limits:\n  idle_timeout: 30s\n  max_junk_commands: 100000").pipe(4096).ready().await;
    let started = Instant::now();
    s.client.try_send("HELP\r\n".repeat(2000).as_bytes()).await;
    let up = s.finished().await;
    let took = started.elapsed();
    assert!(took >= Duration::from_secs(30) && took < Duration::from_secs(31), "{took:?}");
    assert_eq!(up.connections(), 0, "HELP never needs the upstream");
}

/// The session limit and shutdown interrupt a blocked write too.
#[tokio::test(start_paused = true)]
async fn the_session_limit_and_shutdown_interrupt_a_blocked_write() {
    let yaml = "limits:\n  idle_timeout: 3000s\n  session_timeout: 60s\n  max_junk_commands: 100000";
    let mut s = Harness::new().yaml(yaml).pipe(4096).ready().await;
    let started = Instant::now();
    s.client.try_send("HELP\r\n".repeat(2000).as_bytes()).await;
    s.finished().await;
    assert!(started.elapsed() <= Duration::from_secs(61), "{:?}", started.elapsed());

    let yaml = "limits:\n  idle_timeout: 3000s\n  max_junk_commands: 100000";
    let mut s = Harness::new().yaml(yaml).pipe(4096).ready().await;
    s.client.try_send("HELP\r\n".repeat(2000).as_bytes()).await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    let started = Instant::now();
    s.shutdown.cancel();
    s.finished().await;
    assert_eq!(started.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn shutdown_tells_an_idle_client_and_lets_a_transaction_finish() {
    let mut s = Harness::new().ready().await;
    s.shutdown.cancel();
    assert_eq!(
        s.client.reply().await.to_bytes().as_ref(),
        b"421 4.3.2 mx.example.test Service shutting down, try again later\r\n"
    );

    let mut s = Harness::new().ready().await;
    assert_code(&s.client.cmd("MAIL FROM:<alice@sender.example>").await, 250);
    s.shutdown.cancel();
    assert_code(&s.client.cmd("RCPT TO:<bob@example.test>").await, 250);
    assert_code(&s.client.cmd("DATA").await, 354);
    s.client.send(format!("{MESSAGE}.\r\n").as_bytes()).await;
    assert_code(&s.client.reply().await, 250);
    assert_code(&s.client.reply().await, 421);
}

/// One budget from the final dot: an upstream that sits on DATA (its own
/// reply timeout is ten minutes) cannot keep the client past it.
#[tokio::test(start_paused = true)]
async fn the_final_reply_comes_within_its_budget() {
    let script = vec![
        Step::Send("220 backend.test ESMTP\r\n"),
        Step::Expect("EHLO"),
        Step::Send("250 backend.test\r\n"),
        Step::Expect("MAIL"),
        Step::Send("250 2.1.0 Ok\r\n"),
        Step::Expect("RCPT"),
        Step::Send("250 2.1.5 Ok\r\n"),
        Step::Expect("DATA"),
        Step::Hang,
    ];
    let mut s = Harness::new()
        .yaml("limits:\n  final_reply_timeout: 100s")
        .upstream_keys("reply_timeout: 600s\ndata_timeout: 50s")
        .upstreams(vec![Upstream::Script(script)])
        .ready()
        .await;
    assert_code(&s.client.cmd("MAIL FROM:<alice@sender.example>").await, 250);
    assert_code(&s.client.cmd("RCPT TO:<bob@example.test>").await, 250);
    assert_code(&s.client.cmd("DATA").await, 354);
    s.client.send(format!("{MESSAGE}.\r\n").as_bytes()).await;
    let started = Instant::now();
    assert_reply(&s.client.reply().await, 451, "4.4.1");
    assert_eq!(started.elapsed(), Duration::from_secs(100));
    s.client.closed().await;
}

/// The upstream's reply to the final dot within `upstream.data_timeout`.
#[tokio::test(start_paused = true)]
async fn no_reply_to_the_final_dot_is_a_tempfail() {
    let script = vec![
        Step::Send("220 backend.test ESMTP\r\n"),
        Step::Expect("EHLO"),
        Step::Send("250 backend.test\r\n"),
        Step::Expect("MAIL"),
        Step::Send("250 2.1.0 Ok\r\n"),
        Step::Expect("RCPT"),
        Step::Send("250 2.1.5 Ok\r\n"),
        Step::Expect("DATA"),
        Step::Send("354 go\r\n"),
        Step::ExpectData,
        Step::Hang,
    ];
    let mut s =
        Harness::new().upstream_keys("data_timeout: 20s").upstreams(vec![Upstream::Script(script)]).ready().await;
    let started = Instant::now();
    assert_reply(&s.client.transaction(MESSAGE).await, 421, "4.4.2");
    assert_eq!(started.elapsed(), Duration::from_secs(20));
}

/// The upstream's greeting is bounded by `upstream.connect_timeout` even
/// when the connection is accepted at once.
#[tokio::test(start_paused = true)]
async fn a_slow_upstream_reply_is_bounded_by_reply_timeout() {
    let mta = Mta::default();
    let script = vec![Step::Send("220 backend.test ESMTP\r\n"), Step::Expect("EHLO"), Step::Hang];
    let mut s =
        Harness::new().upstream_keys("reply_timeout: 30s").upstreams(vec![Upstream::Script(script)]).ready().await;
    let started = Instant::now();
    assert_reply(&s.client.cmd("MAIL FROM:<a@example.net>").await, 421, "4.4.2");
    assert_eq!(started.elapsed(), Duration::from_secs(30));
    drop(mta);
}

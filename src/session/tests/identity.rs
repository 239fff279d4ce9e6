//! Telling the upstream who the client is: XCLIENT (never truncated, PROTO
//! as the client spoke), XFORWARD before each MAIL, PROXY headers first.

use super::harness::{Harness, MESSAGE, assert_code, assert_reply};
use super::upstream::{Mta, Step, Upstream};

/// The XCLIENT line the upstream received.
fn xclient(upstream: &str) -> String {
    upstream.lines().find(|l| l.starts_with("XCLIENT ")).unwrap_or_default().to_owned()
}

#[tokio::test(start_paused = true)]
async fn xclient_carries_the_client_before_its_ehlo() {
    let mut s = Harness::new().upstream_keys("client_identity: xclient").peer("198.51.100.23:40001").ready().await;
    assert_code(&s.client.cmd("MAIL FROM:<a@example.net>").await, 250);
    assert_code(&s.client.cmd("QUIT").await, 221);
    let up = s.finished().await.text(0);
    let x = xclient(&up);
    assert_eq!(
        x, "XCLIENT HELO=client.example.net PROTO=ESMTP PORT=40001 NAME=[UNAVAILABLE] ADDR=198.51.100.23",
        "{up}"
    );
    let after = &up[up.find("XCLIENT").unwrap_or(0)..];
    assert!(after.contains("\r\nEHLO client.example.net\r\n"), "the client's EHLO follows: {up}");
}

#[tokio::test(start_paused = true)]
async fn proto_is_smtp_for_a_helo_client() {
    let mut s = Harness::new().upstream_keys("client_identity: xclient").greeted().await;
    assert_code(&s.client.cmd("HELO client.example.net").await, 250);
    assert_code(&s.client.cmd("MAIL FROM:<a@example.net>").await, 250);
    assert_code(&s.client.cmd("QUIT").await, 221);
    assert!(xclient(&s.finished().await.text(0)).contains(" PROTO=SMTP "));
}

/// The hostile review's open relay: a HELO of 165 `=` no longer pushes ADDR
/// out of the line.
#[tokio::test(start_paused = true)]
async fn a_long_helo_never_strips_the_address() {
    let mut s = Harness::new().yaml("helo:\n  mode: monitor").upstream_keys("client_identity: xclient").greeted().await;
    assert_code(&s.client.cmd(&format!("EHLO {}", "=".repeat(165))).await, 250);
    assert_code(&s.client.cmd("MAIL FROM:<a@example.net>").await, 250);
    assert_code(&s.client.cmd("QUIT").await, 221);
    let x = xclient(&s.finished().await.text(0));
    assert!(
        x.starts_with("XCLIENT HELO=[UNAVAILABLE] PROTO=ESMTP PORT=40000 NAME=[UNAVAILABLE] ADDR=127.0.0.1"),
        "{x}"
    );
}

#[tokio::test(start_paused = true)]
async fn an_upstream_that_takes_no_address_gets_nothing_and_the_client_421() {
    let mta = Mta { ehlo: "250-backend.test\r\n250 XCLIENT NAME HELO PROTO\r\n", ..Mta::default() };
    let mut s = Harness::new().upstream_keys("client_identity: xclient").mta(mta).greeted().await;
    assert_code(&s.client.cmd("EHLO client.example.net").await, 250);
    assert_reply(&s.client.cmd("MAIL FROM:<a@example.net>").await, 421, "4.3.0");
    s.client.closed().await;
    let up = s.finished().await.text(0);
    assert!(!up.contains("XCLIENT") && !up.contains("client.example.net"), "{up}");
}

#[tokio::test(start_paused = true)]
async fn xforward_goes_before_every_mail() {
    let mut s = Harness::new().upstream_keys("client_identity: xforward").peer("198.51.100.23:40001").ready().await;
    assert_code(&s.client.transaction(MESSAGE).await, 250);
    assert_code(&s.client.transaction(MESSAGE).await, 250);
    let up = s.upstream().text(0);
    let xforward = "XFORWARD HELO=client.example.net PROTO=ESMTP PORT=40001 NAME=[UNAVAILABLE] ADDR=198.51.100.23 SOURCE=REMOTE\r\nMAIL FROM:";
    assert_eq!(up.matches(xforward).count(), 2, "{up}");
}

#[tokio::test(start_paused = true)]
async fn a_proxy_header_is_the_first_thing_the_upstream_gets() {
    for (mode, first) in
        [("proxy-v1", &b"PROXY TCP4 198.51.100.23 127.0.0.1 40001 25\r\n"[..]), ("proxy-v2", b"\r\n\r\n\0\r\nQUIT\n")]
    {
        let mut s = Harness::new()
            .upstream_keys(&format!("client_identity: {mode}"))
            .mta(Mta { proxy: true, ..Mta::default() })
            .peer("198.51.100.23:40001")
            .ready()
            .await;
        assert_code(&s.client.cmd("MAIL FROM:<a@example.net>").await, 250);
        assert_code(&s.client.cmd("QUIT").await, 221);
        let up = s.finished().await.text(0);
        assert!(up.as_bytes().starts_with(first), "{mode}: {up:?}");
    }
}

/// An identity sent once per upstream connection, whatever the client does.
#[tokio::test(start_paused = true)]
async fn xclient_is_sent_once() {
    let mut s = Harness::new().upstream_keys("client_identity: xclient").ready().await;
    assert_code(&s.client.cmd("EHLO client.example.net").await, 250);
    assert_code(&s.client.transaction(MESSAGE).await, 250);
    assert_eq!(s.upstream().text(0).matches("XCLIENT ").count(), 1);
}

/// With no upstream left after the first connection, nothing reconnects
/// behind the client's back.
#[tokio::test(start_paused = true)]
async fn one_upstream_connection_per_session() {
    let upstreams = vec![Upstream::Mta(Mta::default()), Upstream::Script(vec![Step::Close])];
    let mut s = Harness::new().upstreams(upstreams).ready().await;
    assert_code(&s.client.transaction(MESSAGE).await, 250);
    assert_code(&s.client.cmd("QUIT").await, 221);
    assert_eq!(s.finished().await.connections(), 1);
}

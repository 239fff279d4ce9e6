//! What bots do on port 25, against doorman in front of the real Postfix:
//! none of it reaches the MTA, and an honest client after them still
//! delivers. A tap between doorman and Postfix records every session.

use crate::support::binary::Binary;
use crate::support::client::{Client, assert_code, assert_reply};
use crate::support::http::{get, sample};
use crate::support::postfix::postfix;
use crate::support::rcpt;
use crate::support::sink::Sink;
use crate::support::tap::Tap;

const BOTS: usize = 12;

async fn metrics(d: &Binary) -> String {
    get(d.admin, "/metrics").await.1
}

/// One bot of each kind, against doorman at `addr`.
async fn bots(addr: std::net::SocketAddr) {
    // Connect and close.
    drop(Client::connect(addr).await);
    // An early talker: the whole dialogue before the greeting.
    let mut c = Client::connect_raw(addr).await;
    c.send(b"EHLO bot.example\r\nMAIL FROM:<spam@bot.example>\r\n").await;
    assert_reply(&c.reply().await, 554, "5.5");
    // A bare IP as HELO: refused at RCPT, by doorman alone. (Our own name
    // is the same path from a public client; from loopback it is the
    // truth: src/session/tests/late_connect.rs covers it.)
    let (mut c, _) = Client::connect(addr).await;
    assert_code(&c.cmd("EHLO 203.0.113.9").await, 250);
    assert_code(&c.cmd("MAIL FROM:<spam@bot.example>").await, 250);
    assert_reply(&c.cmd("RCPT TO:<victim@example.test>").await, 501, "5.5.2");
    assert_code(&c.cmd("QUIT").await, 221);
    // Unauthorised pipelining: a whole session in one write.
    let (mut c, _) = Client::connect(addr).await;
    c.send(b"EHLO c.example.net\r\nMAIL FROM:<spam@bot.example>\r\nRCPT TO:<victim@example.test>\r\nDATA\r\n").await;
    assert_reply(&c.reply().await, 554, "5.5.0");
    // A web client.
    let (mut c, _) = Client::connect(addr).await;
    assert_reply(&c.cmd("GET / HTTP/1.1").await, 554, "5.5.1");
}

/// The bots run concurrently; the greeting delay (which, with the
/// `early_talker` rule at `reject`, catches every early talker) makes each
/// wait half a second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bots_never_reach_the_mta_and_an_honest_client_still_delivers() {
    let tap = Tap::start(&postfix().addr()).await;
    let d =
        Binary::start(&tap.addr(), "banner:\n  greet_delay: 500ms\nhelo:\n  rules:\n    early_talker: reject").await;
    let mut all = tokio::task::JoinSet::new();
    for _ in 0..BOTS {
        all.spawn(bots(d.addr));
    }
    while let Some(done) = all.join_next().await {
        done.expect("a bot's checks");
    }
    let page = metrics(&d).await;
    assert_eq!(sample(&page, "doorman_upstream_sessions_total"), 0.0, "{page}");
    let spared =
        |reason: &str| sample(&page, &format!("doorman_sessions_without_upstream_total{{reason=\"{reason}\"}}"));
    assert_eq!(spared("early_talker"), BOTS as f64, "{page}");
    assert_eq!(spared("refused"), BOTS as f64, "{page}");
    assert_eq!(spared("protocol_sync"), BOTS as f64, "{page}");
    assert_eq!(spared("non_smtp"), BOTS as f64, "{page}");

    let to = rcpt("after-the-bots");
    Client::connect(d.addr).await.0.deliver(&to, "honest").await;
    postfix().wait_for(&to, 1).await;
    assert_eq!(sample(&metrics(&d).await, "doorman_upstream_sessions_total"), 1.0);
    drop(d);
    tap.wait_all_closed().await;
    let sent = tap.sent_text();
    assert_eq!(sent.matches("MAIL FROM:").count(), 1, "only the honest client's MAIL: {sent}");
    assert!(!sent.contains("bot.example") && !sent.contains("victim"), "{sent}");
}

/// doorman learned the upstream's extensions (the readiness probe asks),
/// then the upstream went down: EHLO is still answered, MAIL gets 421 4.3.0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upstream_down_at_mail_gets_421() {
    let mut sink = Sink::start().await;
    let d = Binary::start(&sink.addr.to_string(), "").await;
    assert_eq!(get(d.admin, "/readyz").await.0, 200);
    sink.stop();
    let (mut c, greeting) = Client::connect(d.addr).await;
    assert_code(&greeting, 220);
    assert_code(&c.cmd("EHLO mail.client.example").await, 250);
    let refused = c.cmd("MAIL FROM:<a@sender.example>").await;
    assert_eq!(refused.to_bytes().as_ref(), b"421 4.3.0 mx.example.test Service not available, try again later\r\n");
    c.expect_closed().await;
    let page = metrics(&d).await;
    assert_eq!(sample(&page, "doorman_sessions_without_upstream_total{reason=\"upstream_down\"}"), 1.0, "{page}");
}

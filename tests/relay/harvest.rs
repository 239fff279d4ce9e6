//! The directory-harvest defence against the real Postfix, which refuses
//! unknown users at RCPT (`550 5.1.1`): a client probing unknown users is
//! slowed, then cut off by doorman; a client sending to many real users is
//! not. The test Postfix slows down after 10 errors itself
//! (`smtpd_soft_error_limit`), so doorman's limits here sit below it.

use std::time::{Duration, Instant};

use crate::support::binary::Binary;
use crate::support::client::{Client, assert_code, assert_reply};
use crate::support::http::{get, sample};
use crate::support::postfix::postfix;
use crate::support::{date_now, rcpt};

const LIMITS: &str = "limits:\n  harvest_tarpit_after: 5\n  harvest_delay: 200ms\n  max_refused_recipients: 10";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probing_50_unknown_users_is_cut_off_and_50_real_ones_are_not() {
    let d = Binary::start(&postfix().addr(), LIMITS).await;
    let (mut c, _) = Client::connect(d.addr).await;
    assert_code(&c.cmd("EHLO prober.example.net").await, 250);
    assert_code(&c.cmd("MAIL FROM:<probe@prober.example.net>").await, 250);
    // The prober has 50 names to try; the tenth refusal is its last.
    let started = Instant::now();
    for n in 1..=10 {
        assert_reply(&c.cmd(&format!("RCPT TO:<unknown+{n}@example.test>")).await, 550, "5.1.1");
    }
    let cut = c.reply().await;
    assert_reply(&cut, 421, "4.7.0");
    assert!(cut.to_string().contains("too many refused recipients"), "doorman cut it off: {cut}");
    c.expect_closed().await;
    // Refusals 6 to 9 waited in the tarpit (the tenth closes at once).
    assert!(started.elapsed() >= Duration::from_millis(4 * 200), "{:?}", started.elapsed());
    let page = get(d.admin, "/metrics").await.1;
    assert_eq!(sample(&page, "doorman_recipient_harvest_total{action=\"closed\"}"), 1.0, "{page}");
    assert_eq!(sample(&page, "doorman_recipient_harvest_total{action=\"tarpit\"}"), 1.0, "{page}");

    // 50 real recipients in one message: every one accepted, and delivered.
    let (mut c, _) = Client::connect(d.addr).await;
    assert_code(&c.cmd("EHLO list.example.net").await, 250);
    assert_code(&c.cmd("MAIL FROM:<list@list.example.net>").await, 250);
    let readers: Vec<String> = (0..50).map(|_| rcpt("harvest-reader")).collect();
    for to in &readers {
        assert_code(&c.cmd(&format!("RCPT TO:<{to}>")).await, 250);
    }
    assert_code(&c.cmd("DATA").await, 354);
    c.send(format!("Date: {}\r\nSubject: list\r\n\r\nfifty readers\r\n.\r\n", date_now()).as_bytes()).await;
    assert_code(&c.reply().await, 250);
    for to in &readers {
        postfix().wait_for(to, 1).await;
    }
}

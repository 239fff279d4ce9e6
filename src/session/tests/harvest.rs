//! The directory-harvest defence (`session/harvest.rs`): refused
//! recipients slow a session down, then close it; honest sessions are not
//! touched.

use std::time::Duration;

use tokio::time::Instant;

use super::harness::{Harness, MESSAGE, assert_code, assert_reply};
use super::upstream::Mta;

const UNKNOWN: &str = "550 5.1.1 <x@example.test>: Recipient address rejected: User unknown\r\n";

fn harvested() -> Mta {
    Mta::default().on("RCPT", UNKNOWN)
}

fn counted(action: &'static str) -> u64 {
    crate::metrics::metrics().harvest.get_or_create(&crate::metrics::ActionLabels { action }).get()
}

/// The defaults: five refusals at full speed, then 2 s before each reply,
/// and the twentieth refusal ends the session with 421 4.7.0.
#[tokio::test(start_paused = true)]
async fn a_harvest_is_tarpitted_then_cut_off() {
    let (tarpits, closes) = (counted("tarpit"), counted("closed"));
    let mut s = Harness::new().mta(harvested()).ready().await;
    assert_code(&s.client.cmd("MAIL FROM:<probe@sender.example>").await, 250);
    for n in 1..=19u32 {
        let started = Instant::now();
        assert_reply(&s.client.cmd(&format!("RCPT TO:<user{n}@example.test>")).await, 550, "5.1.1");
        let wait = if n > 5 { Duration::from_secs(2) } else { Duration::ZERO };
        assert_eq!(started.elapsed(), wait, "recipient {n}");
    }
    assert_reply(&s.client.cmd("RCPT TO:<user20@example.test>").await, 550, "5.1.1");
    assert_reply(&s.client.reply().await, 421, "4.7.0");
    s.client.closed().await;
    assert!(counted("tarpit") > tarpits && counted("closed") > closes);
}

/// A delivered message starts the count again: a list server with a few
/// stale addresses on every message is never slowed.
#[tokio::test(start_paused = true)]
async fn a_delivery_starts_the_count_again() {
    let mta = Mta::default().on("RCPT TO:<gone", UNKNOWN);
    let mut s =
        Harness::new().yaml("limits:\n  harvest_tarpit_after: 2\n  max_refused_recipients: 4").mta(mta).ready().await;
    let started = Instant::now();
    for _ in 0..3 {
        assert_code(&s.client.cmd("MAIL FROM:<list@sender.example>").await, 250);
        for n in 1..=2u32 {
            assert_reply(&s.client.cmd(&format!("RCPT TO:<gone{n}@example.test>")).await, 550, "5.1.1");
        }
        assert_code(&s.client.cmd("RCPT TO:<reader@example.test>").await, 250);
        assert_code(&s.client.cmd("DATA").await, 354);
        s.client.send(format!("{MESSAGE}.\r\n").as_bytes()).await;
        assert_code(&s.client.reply().await, 250);
    }
    assert_eq!(started.elapsed(), Duration::ZERO, "never tarpitted, never cut off");
}

/// `helo.exempt` networks (and authenticated clients) are not counted.
#[tokio::test(start_paused = true)]
async fn an_exempt_client_is_not_counted() {
    let yaml = "limits:\n  harvest_tarpit_after: 2\n  max_refused_recipients: 3\nhelo:\n  exempt: [0.0.0.0/0]";
    let mut s = Harness::new().yaml(yaml).mta(harvested()).ready().await;
    assert_code(&s.client.cmd("MAIL FROM:<list@sender.example>").await, 250);
    let started = Instant::now();
    for n in 1..=10u32 {
        assert_reply(&s.client.cmd(&format!("RCPT TO:<gone{n}@example.test>")).await, 550, "5.1.1");
    }
    assert_eq!(started.elapsed(), Duration::ZERO);
}

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

/// Each delivered recipient takes one refusal off the count: a list server
/// with two stale addresses among its readers is never slowed.
#[tokio::test(start_paused = true)]
async fn deliveries_take_refusals_off_the_count() {
    let mta = Mta::default().on("RCPT TO:<gone", UNKNOWN);
    let mut s =
        Harness::new().yaml("limits:\n  harvest_tarpit_after: 2\n  max_refused_recipients: 4").mta(mta).ready().await;
    let started = Instant::now();
    for _ in 0..5 {
        assert_code(&s.client.cmd("MAIL FROM:<list@sender.example>").await, 250);
        for n in 1..=2u32 {
            assert_reply(&s.client.cmd(&format!("RCPT TO:<gone{n}@example.test>")).await, 550, "5.1.1");
            assert_code(&s.client.cmd(&format!("RCPT TO:<reader{n}@example.test>")).await, 250);
        }
        assert_code(&s.client.cmd("DATA").await, 354);
        s.client.send(format!("{MESSAGE}.\r\n").as_bytes()).await;
        assert_code(&s.client.reply().await, 250);
    }
    assert_eq!(started.elapsed(), Duration::ZERO, "never tarpitted, never cut off");
}

/// A harvester cannot wash its probes out with one real recipient and an
/// empty message per batch: five probes and one delivery still add four,
/// so the twentieth refusal comes in the fifth batch, at its fourth probe.
#[tokio::test(start_paused = true)]
async fn one_real_recipient_per_batch_does_not_reset_a_harvest() {
    let mta = Mta::default().on("RCPT TO:<probe", UNKNOWN);
    let mut s = Harness::new().mta(mta).ready().await;
    for batch in 0..5u32 {
        assert_code(&s.client.cmd("MAIL FROM:<h@sender.example>").await, 250);
        assert_code(&s.client.cmd("RCPT TO:<postmaster@example.test>").await, 250);
        let probes = if batch < 4 { 5 } else { 4 };
        for n in 0..probes {
            assert_reply(&s.client.cmd(&format!("RCPT TO:<probe{batch}-{n}@example.test>")).await, 550, "5.1.1");
        }
        if batch < 4 {
            assert_code(&s.client.cmd("BDAT 0 LAST").await, 250);
        }
    }
    assert_reply(&s.client.reply().await, 421, "4.7.0");
    s.client.closed().await;
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

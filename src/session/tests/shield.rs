//! The shield's memory across sessions: the pass cache (a client that
//! passed is greeted at once next time, until `shield.pass_ttl` ends; a
//! refused one is not remembered) and the connection rate per client.
//! The store shared by replicas is tested against the real Redis in `tests/`.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::harness::{Harness, MESSAGE, assert_code, assert_reply};
use crate::shield::Shield;

const PUBLIC: &str = "203.0.113.10:40000";
const DELAY: &str =
    "banner:\n  greet_delay: 5s\nhelo:\n  rules:\n    unresolvable: off\n    no_ptr: off\n    fcrdns_mismatch: off";

/// How long the greeting took.
async fn greeting_wait(harness: Harness) -> (Duration, super::harness::Running) {
    let started = Instant::now();
    let s = harness.greeted().await;
    (started.elapsed(), s)
}

#[tokio::test(start_paused = true)]
async fn a_client_that_passed_is_greeted_at_once_until_its_pass_ends() {
    let shield = Arc::new(Shield::default());
    let yaml = format!("{DELAY}\nshield:\n  pass_ttl: 1h");
    let (waited, mut s) = greeting_wait(Harness::new().yaml(&yaml).peer(PUBLIC).shield(&shield)).await;
    assert_eq!(waited, Duration::from_secs(5));
    assert_code(&s.client.cmd("EHLO mail.client.example").await, 250);
    assert_code(&s.client.transaction(MESSAGE).await, 250);
    let (waited, _) = greeting_wait(Harness::new().yaml(&yaml).peer(PUBLIC).shield(&shield)).await;
    assert_eq!(waited, Duration::ZERO, "from the pass cache");
    // Another client of the same network is not this client.
    let (waited, _) = greeting_wait(Harness::new().yaml(&yaml).peer("203.0.113.11:40000").shield(&shield)).await;
    assert_eq!(waited, Duration::from_secs(5));
    tokio::time::advance(Duration::from_secs(3601)).await;
    let (waited, _) = greeting_wait(Harness::new().yaml(&yaml).peer(PUBLIC).shield(&shield)).await;
    assert_eq!(waited, Duration::from_secs(5), "the pass ended");
}

#[tokio::test(start_paused = true)]
async fn a_refused_client_is_not_remembered() {
    let shield = Arc::new(Shield::default());
    let mut s = Harness::new().yaml(DELAY).peer(PUBLIC).shield(&shield).greeted().await;
    assert_code(&s.client.cmd("EHLO localhost").await, 250);
    assert_code(&s.client.cmd("MAIL FROM:<a@b.example>").await, 250);
    assert!(s.client.cmd("RCPT TO:<bob@example.test>").await.code() >= 500);
    let (waited, _) = greeting_wait(Harness::new().yaml(DELAY).peer(PUBLIC).shield(&shield)).await;
    assert_eq!(waited, Duration::from_secs(5));
}

#[tokio::test(start_paused = true)]
async fn pass_ttl_zero_turns_the_cache_off() {
    let shield = Arc::new(Shield::default());
    let yaml = format!("{DELAY}\nshield:\n  pass_ttl: 0s");
    let mut s = Harness::new().yaml(&yaml).peer(PUBLIC).shield(&shield).greeted().await;
    assert_code(&s.client.cmd("EHLO mail.client.example").await, 250);
    assert_code(&s.client.transaction(MESSAGE).await, 250);
    let (waited, _) = greeting_wait(Harness::new().yaml(&yaml).peer(PUBLIC).shield(&shield)).await;
    assert_eq!(waited, Duration::from_secs(5));
}

#[tokio::test(start_paused = true)]
async fn the_connection_rate_per_client_is_limited_per_minute() {
    let shield = Arc::new(Shield::default());
    let yaml = "limits:\n  max_connection_rate_per_ip: 2";
    let session = |peer: &str| Harness::new().yaml(yaml).peer(peer).shield(&shield);
    for _ in 0..2 {
        session(PUBLIC).greeted().await;
    }
    let mut refused = session(PUBLIC).start();
    assert_reply(&refused.client.reply().await, 421, "4.7.0");
    refused.client.closed().await;
    assert_eq!(refused.finished().await.connections(), 0);
    // IPv6 clients count by their /64.
    session("[2001:db8:1:2::10]:40000").greeted().await;
    session("[2001:db8:1:2::20]:40000").greeted().await;
    let mut v6 = session("[2001:db8:1:2::30]:40000").start();
    assert_reply(&v6.client.reply().await, 421, "4.7.0");
    // Exempt networks are not counted.
    let exempt = format!("{yaml}\nhelo:\n  exempt: [203.0.113.0/24]");
    for _ in 0..3 {
        Harness::new().yaml(&exempt).peer(PUBLIC).shield(&shield).greeted().await;
    }
    tokio::time::advance(Duration::from_secs(61)).await;
    session(PUBLIC).greeted().await;
}

/// A rule that only watches (`monitor`) still keeps the client out of the
/// pass cache: a pass earned while the rules only watch must not outlive
/// the switch to `reject`.
#[tokio::test(start_paused = true)]
async fn a_client_a_monitored_rule_caught_is_not_remembered() {
    let shield = Arc::new(Shield::default());
    let mut s = Harness::new().yaml(DELAY).peer(PUBLIC).shield(&shield).greeted().await;
    assert_code(&s.client.cmd("EHLO [192.0.2.1]").await, 250);
    assert_code(&s.client.transaction(MESSAGE).await, 250);
    let (waited, _) = greeting_wait(Harness::new().yaml(DELAY).peer(PUBLIC).shield(&shield)).await;
    assert_eq!(waited, Duration::from_secs(5));
}

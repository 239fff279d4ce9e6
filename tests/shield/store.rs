//! Two doorman processes (two replicas behind one Service) share one pass
//! cache and one connection rate limit through the real Redis, and keep
//! working when it goes down: mail is never refused because the store is.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::support::binary::Binary;
use crate::support::client::{Client, assert_code, assert_reply};
use crate::support::free_port;
use crate::support::http::{get, sample};
use crate::support::postfix::postfix;
use crate::support::redis::Redis;

const DELAY: Duration = Duration::from_secs(2);

fn shield_yaml(url: &str, extra: &str) -> String {
    format!("banner:\n  greet_delay: 2s\nshield:\n  pass_ttl: 1h\n  store:\n    url: {url}\n    timeout: 1s\n{extra}")
}

/// Connects and returns the client and how long the greeting took.
async fn greeted(d: &Binary) -> (Client, Duration) {
    let started = Instant::now();
    let (c, greeting) = Client::connect(d.addr).await;
    assert_code(&greeting, 220);
    (c, started.elapsed())
}

/// A client that passes: EHLO and MAIL (the pass is recorded there), QUIT.
async fn pass(c: &mut Client) {
    assert_code(&c.cmd("EHLO mail.client.example").await, 250);
    assert_code(&c.cmd("MAIL FROM:<a@sender.example>").await, 250);
    assert_code(&c.cmd("QUIT").await, 221);
}

/// The rate counters count per wall-clock minute: start well inside one.
async fn inside_a_minute() {
    let second = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() % 60);
    if second >= 45 {
        tokio::time::sleep(Duration::from_secs(61 - second)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_share_the_pass_cache_and_the_rate_limit() {
    let redis = Redis::start().await;
    let yaml = shield_yaml(&redis.url(), "limits:\n  max_connection_rate_per_ip: 3\n");
    let a = Binary::start(&postfix().addr(), &yaml).await;
    let b = Binary::start(&postfix().addr(), &yaml).await;
    inside_a_minute().await;
    let (mut c, waited) = greeted(&a).await;
    assert!(waited >= DELAY, "a new client waits for the greeting: {waited:?}");
    pass(&mut c).await;
    // Replica B never saw this client: the store tells it that it passed.
    let (mut c, waited) = greeted(&b).await;
    assert!(waited < DELAY, "greeted at once from the pass cache: {waited:?}");
    pass(&mut c).await;
    let page = get(b.admin, "/metrics").await.1;
    assert_eq!(sample(&page, "doorman_pass_cache_lookups_total{result=\"hit\"}"), 1.0, "{page}");
    // The third connection this minute is allowed, the fourth refused.
    let (c, _) = greeted(&a).await;
    drop(c);
    let (mut c, refused) = Client::connect(b.addr).await;
    assert_reply(&refused, 421, "4.7.0");
    c.expect_closed().await;
    let page = get(b.admin, "/metrics").await.1;
    assert_eq!(sample(&page, "doorman_connections_total{result=\"refused_rate\"}"), 1.0, "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_flows_while_the_store_is_down_and_it_is_used_again_when_back() {
    let port = free_port();
    let url = format!("redis://127.0.0.1:{port}/0");
    let d = Binary::start(&postfix().addr(), &shield_yaml(&url, "limits:\n  max_connection_rate_per_ip: 100\n")).await;
    let (mut c, waited) = greeted(&d).await;
    assert!(waited >= DELAY, "{waited:?}");
    pass(&mut c).await;
    d.wait_log("shield store unreachable").await;
    let page = get(d.admin, "/metrics").await.1;
    assert_eq!(sample(&page, "doorman_shield_store_up"), 0.0, "{page}");
    assert!(sample(&page, "doorman_shield_store_errors_total") >= 1.0, "{page}");
    // This replica's own memory still knows the client.
    let (_, waited) = greeted(&d).await;
    assert!(waited < DELAY, "from memory while the store is down: {waited:?}");
    let _redis = Redis::start_on(port).await;
    // New clients make doorman ask the store again.
    let started = Instant::now();
    while !d.log_text().contains("shield store reachable again") {
        assert!(started.elapsed() < crate::support::PATIENCE, "the store was not used again:\n{}", d.log_text());
        drop(greeted(&d).await);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let page = get(d.admin, "/metrics").await.1;
    assert_eq!(sample(&page, "doorman_shield_store_up"), 1.0, "{page}");
}

/// The pass cache lives beside the configuration, not in it: a reload
/// (SIGHUP) keeps what doorman learned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pass_cache_survives_a_reload() {
    let yaml = "banner:\n  greet_delay: 2s\nshield:\n  pass_ttl: 1h\n";
    let d = Binary::start(&postfix().addr(), yaml).await;
    let (mut c, waited) = greeted(&d).await;
    assert!(waited >= DELAY, "{waited:?}");
    pass(&mut c).await;
    let reloaded =
        "banner:\n  mode: text\n  text: \"{hostname} reloaded\"\n  greet_delay: 2s\nshield:\n  pass_ttl: 1h\n";
    d.rewrite(&postfix().addr(), reloaded);
    d.signal("HUP");
    d.wait_log("configuration reloaded").await;
    let started = Instant::now();
    let (c, greeting) = Client::connect(d.addr).await;
    assert_eq!(greeting.lines(), ["mx.example.test reloaded"], "the new configuration");
    assert!(started.elapsed() < DELAY, "still in the pass cache after the reload: {:?}", started.elapsed());
    drop(c);
}

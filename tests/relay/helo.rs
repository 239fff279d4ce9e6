//! HELO/EHLO and client rules through doorman in front of the real Postfix,
//! with the real dnsmasq answering. A trusted PROXY-in listener lets the test
//! present public client addresses from loopback. One case per rule, under
//! reject, monitor and off; sticky rejections; exempt networks; the broken
//! real-world HELOs passing the defaults; early talkers.

use std::time::{Duration, Instant};

use crate::support::client::{Client, assert_code};
use crate::support::dns::dnsmasq;
use crate::support::postfix::postfix;
use crate::support::proxy::{Proxy, config_yaml};
use crate::support::rcpt;

async fn helo_proxy(helo: &str) -> Proxy {
    let dns = dnsmasq().dns_yaml("2s").lines().map(|l| format!("  {l}\n")).collect::<String>();
    let extra = format!("dns:\n{dns}helo:\n{helo}\nauth:\n  allow_plaintext: true\n");
    let yaml = config_yaml(&postfix().addr(), &extra).replace(
        "  - address: 127.0.0.1:0",
        "  - address: 127.0.0.1:0\n    proxy_protocol: true\n    trusted_proxies: [127.0.0.1/32]",
    );
    Proxy::start_with(doorman::Config::from_yaml(&yaml, std::path::Path::new("t.yaml")).expect(&yaml)).await
}

/// A session from `client` (via the PROXY header); returns the reply to the
/// first RCPT after `helo` (None: no HELO at all).
async fn rcpt_reply(proxy: &Proxy, client: &str, helo: Option<&str>) -> doorman::wire::Reply {
    let mut c = Client::connect_raw(proxy.addr).await;
    c.send(format!("PROXY TCP4 {client} 127.0.0.1 40001 25\r\n").as_bytes()).await;
    assert_code(&c.reply().await, 220);
    if let Some(h) = helo {
        c.cmd(&format!("EHLO {h}")).await;
    }
    c.cmd("MAIL FROM:<a@sender.example>").await;
    let r = c.cmd(&format!("RCPT TO:<{}>", rcpt("helo"))).await;
    c.cmd("QUIT").await;
    r
}

const GOOD: &str = "203.0.113.10";
const CASES: &[(&str, &str, Option<&str>)] = &[
    ("no_helo", GOOD, None),
    ("invalid_syntax", GOOD, Some("a (b) <c>")),
    ("our_name", GOOD, Some("mx.example.test")),
    ("our_ip", GOOD, Some("[192.0.2.1]")),
    ("localhost", GOOD, Some("localhost")),
    ("bare_ip", GOOD, Some("203.0.113.10")),
    ("literal_mismatch", GOOD, Some("[192.0.3.7]")),
    ("private_address", GOOD, Some("[192.168.1.10]")),
    ("dotless", GOOD, Some("benderclmsuedu")),
    ("under_our_domain", GOOD, Some("machine.mx.example.test")),
    ("unresolvable", GOOD, Some("nx.example.test")),
    ("no_ptr", "203.0.113.30", Some("good.example.test")),
    ("fcrdns_mismatch", "203.0.113.20", Some("good.example.test")),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rule_under_reject_monitor_and_off() {
    for (rule, client, helo) in CASES {
        for setting in ["reject", "monitor", "off"] {
            let proxy = helo_proxy(&format!("  our_ips: [192.0.2.1]\n  rules:\n    {rule}: {setting}")).await;
            let r = rcpt_reply(&proxy, client, *helo).await;
            match setting {
                "reject" => {
                    assert!(r.code() >= 500, "{rule} under reject: {r}");
                    assert!(r.to_string().contains(rule), "{rule}: the reply does not name the rule: {r}");
                }
                _ => assert_eq!(r.code(), 250, "{rule} under {setting}: {r}"),
            }
        }
    }
    // DNSBL: per-zone setting and message.
    for (action, code) in [("reject", 554), ("monitor", 250)] {
        let proxy = helo_proxy(&format!("  dnsbl:\n    - zone: bl.test\n      action: {action}")).await;
        let r = rcpt_reply(&proxy, "203.0.113.99", Some("good.example.test")).await;
        assert_eq!(r.code(), code, "dnsbl {action}: {r}");
    }
    let proxy = helo_proxy("  rules:\n    dotless: tempfail").await;
    assert_code(&rcpt_reply(&proxy, GOOD, Some("benderclmsuedu")).await, 450);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitor_mode_exempt_networks_and_sticky_rejections() {
    let page = || doorman::metrics::metrics().encode();
    let series = "doorman_helo_rule_total{rule=\"localhost\",action=\"would_reject\"}";
    let before = crate::support::http::sample(&page(), series);
    let proxy = helo_proxy("  mode: monitor").await;
    assert_code(&rcpt_reply(&proxy, GOOD, Some("localhost")).await, 250);
    assert!(crate::support::http::sample(&page(), series) >= before + 1.0, "would-reject not counted");

    let proxy = helo_proxy("  exempt: [203.0.113.0/24]").await;
    assert_code(&rcpt_reply(&proxy, GOOD, Some("localhost")).await, 250);

    // Rejected at EHLO, a retry with a good HELO does not pass.
    let proxy = helo_proxy("  rules: {}").await;
    let mut c = Client::connect_raw(proxy.addr).await;
    c.send(format!("PROXY TCP4 {GOOD} 127.0.0.1 40001 25\r\n").as_bytes()).await;
    c.reply().await;
    c.cmd("EHLO localhost").await;
    c.cmd("HELO good.example.test").await;
    c.cmd("MAIL FROM:<a@sender.example>").await;
    let r = c.cmd(&format!("RCPT TO:<{}>", rcpt("sticky"))).await;
    assert!(r.code() >= 500 && r.to_string().contains("localhost"), "{r}");

    // Immediate delivery when delay_reject is off: the EHLO itself is refused.
    let proxy = helo_proxy("  delay_reject: false").await;
    let mut c = Client::connect_raw(proxy.addr).await;
    c.send(format!("PROXY TCP4 {GOOD} 127.0.0.1 40001 25\r\n").as_bytes()).await;
    c.reply().await;
    assert!(c.cmd("EHLO localhost").await.code() >= 500);

    // An authenticated session skips the rules (203.0.113.30 has no PTR).
    let proxy = helo_proxy("  rules:\n    no_ptr: reject").await;
    let mut c = Client::connect_raw(proxy.addr).await;
    c.send(b"PROXY TCP4 203.0.113.30 127.0.0.1 40001 25\r\n").await;
    c.reply().await;
    c.cmd("EHLO good.example.test").await;
    assert_code(&c.cmd("AUTH PLAIN AGFsaWNlQGV4YW1wbGUudGVzdABzM2NyZXQtUGE1NQ==").await, 235);
    c.cmd("MAIL FROM:<alice@example.test>").await;
    assert_code(&c.cmd(&format!("RCPT TO:<{}>", rcpt("auth-exempt"))).await, 250);
}

/// The real broken clients pass the default configuration.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_real_clients_pass_the_defaults() {
    let proxy = helo_proxy("  {}").await;
    for helo in ["benderclmsuedu", "machine.mx.example.test", "[192.168.1.10]", "o365.example.test"] {
        let r = rcpt_reply(&proxy, GOOD, Some(helo)).await;
        assert_eq!(r.code(), 250, "{helo}: {r}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn early_talkers_are_disconnected() {
    // A delay far longer than any test step: talking "early" cannot turn
    // into talking on time on a slow machine, and an exempt client that
    // were delayed would time out instead of passing by luck.
    let helo = "  exempt: [198.51.100.0/24]\n  rules:\n    early_talker: reject\nbanner:\n  greet_delay: 60s";
    let proxy = helo_proxy(helo).await;
    for together in [false, true] {
        // The bot's EHLO after the load balancer's PROXY header, and (as the
        // hostile review found) in the same TCP segment.
        let mut c = Client::connect_raw(proxy.addr).await;
        let header = format!("PROXY TCP4 {GOOD} 127.0.0.1 40001 25\r\n");
        if together {
            c.send(format!("{header}EHLO bot.example\r\n").as_bytes()).await;
        } else {
            c.send(header.as_bytes()).await;
            tokio::time::sleep(Duration::from_millis(100)).await;
            c.send(b"EHLO bot.example\r\n").await;
        }
        let r = c.reply().await;
        assert_eq!((r.code(), r.enhanced_code()), (554, Some("5.5.1")), "together: {together}: {r}");
        c.expect_closed().await;
    }
    // An exempt client is greeted without the delay (the client's reply
    // wait, 15 s, is far below it).
    let mut c = Client::connect_raw(proxy.addr).await;
    c.send(b"PROXY TCP4 198.51.100.5 127.0.0.1 40001 25\r\n").await;
    assert_code(&c.reply().await, 220);
    // A patient client waits for the delay and is greeted.
    let proxy = helo_proxy("  exempt: [198.51.100.0/24]\nbanner:\n  greet_delay: 1s").await;
    let started = Instant::now();
    let mut c = Client::connect_raw(proxy.addr).await;
    c.send(format!("PROXY TCP4 {GOOD} 127.0.0.1 40001 25\r\n").as_bytes()).await;
    assert_code(&c.reply().await, 220);
    assert!(started.elapsed() >= Duration::from_millis(900), "{:?}", started.elapsed());
}

//! Operations: metrics move, readiness follows the upstream and shutdown,
//! SIGHUP reloads for new sessions only, SIGTERM lets a transfer finish,
//! connection limits.

use std::time::Duration;

use crate::support::binary::Binary;
use crate::support::client::{Client, assert_code};
use crate::support::http::{get, sample};
use crate::support::postfix::postfix;
use crate::support::proxy::Proxy;
use crate::support::sink::Sink;
use crate::support::{PATIENCE, message, rcpt};

const ADMIN: &str = "admin:\n  address: 127.0.0.1:0";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_move_after_a_scripted_session() {
    let proxy = Proxy::start(&postfix().addr(), ADMIN).await;
    let admin = proxy.admin.expect("admin endpoint");
    let (_, before) = get(admin, "/metrics").await;
    let to = rcpt("metrics");
    let (mut c, _) = Client::connect(proxy.addr).await;
    assert_code(&c.cmd("EHLO c.example.net").await, 250);
    assert_code(&c.cmd("FOO").await, 500);
    assert_code(&c.cmd("MAIL FROM:<a@sender.example>").await, 250);
    assert_code(&c.cmd(&format!("RCPT TO:<{to}>")).await, 250);
    assert_code(&c.cmd("DATA").await, 354);
    c.send(format!("{}.\r\n", message(&to, "metrics", &["x"])).as_bytes()).await;
    assert_code(&c.reply().await, 250);
    assert_code(&c.cmd("QUIT").await, 221);
    let (status, after) = get(admin, "/metrics").await;
    assert_eq!(status, 200);
    for series in [
        "doorman_messages_total{outcome=\"relayed\"}",
        "doorman_connections_total{result=\"accepted\"}",
        "doorman_rejections_total{reason=\"unknown_command\"}",
    ] {
        assert!(sample(&after, series) >= sample(&before, series) + 1.0, "{series} did not move:\n{after}");
    }
    assert!(after.contains("doorman_build_info{version=\""), "{after}");
    assert!(after.contains("doorman_active_sessions"), "{after}");
    assert!(!after.contains("127.0.0.1") && !after.contains("example"), "an address leaked into a label:\n{after}");
    assert_eq!(get(admin, "/healthz").await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_follows_the_upstream() {
    let mut sink = Sink::start().await;
    // Probing on every request here (the cache has its own test).
    let proxy = Proxy::start(&sink.addr.to_string(), &format!("{ADMIN}\n  probe_interval: 0s")).await;
    let admin = proxy.admin.expect("admin endpoint");
    assert_eq!(get(admin, "/readyz").await, (200, "ready\n".into()));
    sink.stop();
    let (status, body) = get(admin, "/readyz").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("upstream unavailable"), "{body}");
    assert_eq!(get(admin, "/healthz").await.0, 200, "liveness must not depend on the upstream");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_for_new_sessions_only() {
    let upstream = postfix().addr();
    let first = "banner:\n  mode: text\n  text: \"{hostname} first\"";
    let d = Binary::start(&upstream, first).await;
    let (mut old, greeting) = Client::connect(d.addr).await;
    assert_eq!(greeting.lines(), ["mx.example.test first"]);
    assert_code(&old.cmd("EHLO c.example.net").await, 250);

    d.rewrite(&upstream, "banner:\n  mode: text\n  text: \"{hostname} second\"\ncommands:\n  vrfy: pass");
    d.signal("HUP");
    let mut fresh = None;
    let start = std::time::Instant::now();
    while fresh.is_none() && start.elapsed() < PATIENCE {
        let (c, greeting) = Client::connect(d.addr).await;
        if greeting.lines() == ["mx.example.test second"] {
            fresh = Some(c);
        } else {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let mut fresh = fresh.expect("new sessions never got the reloaded banner");
    // The open session keeps its configuration (VRFY answered locally) ...
    assert_code(&old.cmd("VRFY unknown@example.test").await, 252);
    // ... the new one has the new one (VRFY passed to Postfix).
    assert_code(&fresh.cmd("EHLO c.example.net").await, 250);
    assert_ne!(fresh.cmd("VRFY unknown@example.test").await.code(), 252);

    // An invalid configuration is refused; the running one stays.
    d.rewrite(&upstream, "bogus_key: 1");
    d.signal("HUP");
    d.wait_log("reload refused").await;
    let (_, page) = get(d.admin, "/metrics").await;
    assert!(sample(&page, "doorman_config_reloads_total{result=\"refused\"}") >= 1.0, "{page}");
    let (_, greeting) = Client::connect(d.addr).await;
    assert_eq!(greeting.lines(), ["mx.example.test second"]);
}

/// SIGTERM in the middle of a large DATA transfer: readiness fails at once,
/// idle sessions get 421 4.3.2, the transfer completes and is delivered, and
/// doorman exits 0. Never acknowledged-and-missing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_a_large_transfer() {
    let mut d = Binary::start(&postfix().addr(), "shutdown:\n  grace_period: 20s").await;
    assert_eq!(get(d.admin, "/readyz").await.0, 200);
    let (mut idle, _) = Client::connect(d.addr).await;
    assert_code(&idle.cmd("EHLO idle.example.net").await, 250);

    let to = rcpt("sigterm");
    let (mut c, _) = Client::connect(d.addr).await;
    assert_code(&c.cmd("EHLO c.example.net").await, 250);
    assert_code(&c.cmd("MAIL FROM:<a@sender.example>").await, 250);
    assert_code(&c.cmd(&format!("RCPT TO:<{to}>")).await, 250);
    assert_code(&c.cmd("DATA").await, 354);
    let line = "0123456789".repeat(99);
    let body = message(&to, "sigterm", &vec![line.as_str(); 5000]);
    let (first, second) = body.split_at(body.len() / 2);
    c.send(first.as_bytes()).await;

    d.signal("TERM");
    let mut ready = 200;
    let start = std::time::Instant::now();
    while ready != 503 && start.elapsed() < PATIENCE {
        tokio::time::sleep(Duration::from_millis(20)).await;
        ready = get(d.admin, "/readyz").await.0;
    }
    assert_eq!(ready, 503, "/readyz kept saying ready after SIGTERM");
    let bye = idle.reply().await;
    assert_eq!((bye.code(), bye.enhanced_code()), (421, Some("4.3.2")), "{bye}");

    c.send(second.as_bytes()).await;
    c.send(b".\r\n").await;
    let end = c.reply().await;
    assert_code(&end, 250);
    let got = postfix().wait_for(&to, 1).await;
    assert!(got[0].len() > 4_000_000);
    let status = d.wait(Duration::from_secs(30)).await;
    assert_eq!(status.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_ip_and_global_connection_limits() {
    let proxy = Proxy::start(&postfix().addr(), "limits:\n  max_connections_per_ip: 2").await;
    let (a, _) = Client::connect(proxy.addr).await;
    let (_b, _) = Client::connect(proxy.addr).await;
    let (mut c, greeting) = Client::connect(proxy.addr).await;
    assert_eq!(
        greeting.to_bytes().as_ref(),
        b"421 4.7.0 mx.example.test Error: too many connections from 127.0.0.1\r\n"
    );
    c.expect_closed().await;
    drop(a);
    let mut ok = false;
    let start = std::time::Instant::now();
    while !ok && start.elapsed() < PATIENCE {
        tokio::time::sleep(Duration::from_millis(20)).await;
        ok = Client::connect(proxy.addr).await.1.code() == 220;
    }
    assert!(ok, "the slot was not released");

    let proxy = Proxy::start(&postfix().addr(), "limits:\n  max_connections: 1").await;
    let (_a, _) = Client::connect(proxy.addr).await;
    let (_, greeting) = Client::connect(proxy.addr).await;
    assert_eq!(
        greeting.to_bytes().as_ref(),
        b"421 4.7.0 mx.example.test Error: too many connections, try again later\r\n"
    );
}

/// JSON logs: one transaction line with size, recipients, code and outcome;
/// envelope addresses only with `log.addresses`; AUTH secrets never, even at
/// debug level.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_are_json_and_private() {
    use crate::support::client::swaks;
    for addresses in [false, true] {
        let extra =
            format!("log:\n  format: json\n  level: debug\n  addresses: {addresses}\nauth:\n  allow_plaintext: true");
        let d = Binary::start(&postfix().addr(), &extra).await;
        let to = rcpt("logs");
        let (ok, out) = swaks(
            d.addr,
            &[
                "--to",
                &to,
                "--from",
                "alice@example.test",
                "--auth",
                "LOGIN",
                "--auth-user",
                "alice@example.test",
                "--auth-password",
                "s3cret-Pa55",
                "--body",
                "secret body text 7f3a",
            ],
        )
        .await;
        assert!(ok, "{out}");
        postfix().wait_for(&to, 1).await;
        let log = d.wait_log("session closed").await;
        let lines: Vec<serde_json::Value> =
            log.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"))).collect();
        let tx = lines
            .iter()
            .find(|v| v["fields"]["message"] == "transaction")
            .unwrap_or_else(|| panic!("no transaction line in\n{log}"));
        assert_eq!(tx["fields"]["outcome"], "relayed");
        assert_eq!(tx["fields"]["upstream_code"], 250);
        assert_eq!(tx["fields"]["recipients"], 1);
        assert!(tx["span"]["id"].is_string(), "no session id: {tx}");
        assert!(lines.iter().any(|v| v["fields"]["message"] == "session closed"));
        assert_eq!(log.contains(&to), addresses, "addresses: {addresses}\n{log}");
        for secret in ["s3cret-Pa55", "czNjcmV0LVBhNTU=", "YWxpY2VAZXhhbXBsZS50ZXN0", "secret body text"] {
            assert!(!log.contains(secret), "{secret:?} leaked into the log");
        }
    }
}

/// Reload matches listeners by address, not by position: swapping the two
/// entries of `listen` keeps the plain one plain and the PROXY one PROXY.
/// A new listen address needs new sockets: that reload is refused, the log
/// says why, and the running configuration stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_matches_listeners_by_address() {
    let (plain, proxied) = (crate::support::free_port(), crate::support::free_port());
    let plain_item = format!("  - address: 127.0.0.1:{plain}\n");
    let proxied_item =
        format!("  - address: 127.0.0.1:{proxied}\n    proxy_protocol: true\n    trusted_proxies: [127.0.0.1/32]\n");
    let upstream = postfix().addr();
    let banner = |word: &str| format!("banner:\n  mode: text\n  text: \"{{hostname}} {word}\"");
    let d = Binary::start_listening(&upstream, &format!("{plain_item}{proxied_item}"), &banner("first")).await;
    d.rewrite_listening(&format!("{proxied_item}{plain_item}"), &upstream, &banner("second"));
    d.signal("HUP");
    d.wait_log("configuration reloaded").await;
    let (_, greeting) = Client::connect(d.addr).await;
    assert_eq!(greeting.lines(), ["mx.example.test second"], "the plain listener now wants a PROXY header");
    let mut c = Client::connect_raw(format!("127.0.0.1:{proxied}").parse().expect("addr")).await;
    c.send(b"PROXY TCP4 198.51.100.7 127.0.0.1 40001 25\r\n").await;
    assert_eq!(c.reply().await.lines(), ["mx.example.test second"]);

    let added = format!("{plain_item}{proxied_item}  - address: 127.0.0.1:{}\n", crate::support::free_port());
    d.rewrite_listening(&added, &upstream, &banner("third"));
    d.signal("HUP");
    let log = d.wait_log("reload refused").await;
    assert!(log.contains("listen addresses changed: restart doorman to apply them"), "{log}");
    let (_, greeting) = Client::connect(d.addr).await;
    assert_eq!(greeting.lines(), ["mx.example.test second"]);
}

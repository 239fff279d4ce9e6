//! The open-relay trap, one test per identity mode, and PROXY protocol in.

use crate::support::client::{Client, assert_code};
use crate::support::postfix::trap;
use crate::support::proxy::Proxy;
use crate::support::{message, rcpt};

/// From 127.0.0.2 through doorman: the reply to a relay attempt, and a local
/// delivery that must work whatever the mode.
async fn relay_attempt(proxy: &Proxy, local_rcpt: &str) -> u16 {
    let mut c = Client::connect_from(proxy.addr, "127.0.0.2").await;
    assert_code(&c.reply().await, 220);
    assert_code(&c.cmd("EHLO mail.attacker.example").await, 250);
    assert_code(&c.cmd("MAIL FROM:<spam@attacker.example>").await, 250);
    let relay = c.cmd("RCPT TO:<victim@outside.example>").await.code();
    assert_code(&c.cmd("RSET").await, 250);
    assert_code(&c.cmd("MAIL FROM:<alice@sender.example>").await, 250);
    assert_code(&c.cmd(&format!("RCPT TO:<{local_rcpt}>")).await, 250);
    assert_code(&c.cmd("DATA").await, 354);
    c.send(format!("{}.\r\n", message(local_rcpt, "identity", &["hello"])).as_bytes()).await;
    assert_code(&c.reply().await, 250);
    assert_code(&c.cmd("QUIT").await, 221);
    relay
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_mode_that_carries_the_address_closes_the_relay() {
    let pf = trap();
    for (mode, port) in
        [("xclient", pf.port), ("proxy-v1", pf.proxy_port), ("proxy-v2", pf.proxy_port), ("none", pf.port)]
    {
        let yaml = crate::support::proxy::config_yaml(&format!("127.0.0.1:{port}"), "")
            .replace("connect_timeout: 2s", &format!("connect_timeout: 2s\n  client_identity: {mode}"));
        let config = doorman::Config::from_yaml(&yaml, std::path::Path::new("t.yaml")).expect("config");
        let proxy = Proxy::start_with(config).await;
        let local = rcpt(&format!("identity-{mode}"));
        let relay = relay_attempt(&proxy, &local).await;
        if mode == "none" {
            // The trap: without the client's address Postfix trusts doorman and relays.
            assert_eq!(relay, 250, "{mode}: the trap did not relay, so this test could not fail");
        } else {
            assert_eq!(relay, 554, "{mode}: relay for an outside client was not refused");
        }
        let got = pf.wait_for(&local, 1).await;
        let text = String::from_utf8_lossy(&got[0]);
        if mode == "none" {
            assert!(text.contains("by mx.example.test (doorman)") && text.contains("[127.0.0.2]"), "{text}");
            // Its date: the current time, RFC 5322 with a numeric zone.
            let date = received_date(&text, "(doorman)");
            let age = crate::support::age_of_date(&date);
            assert!(age < std::time::Duration::from_secs(300), "Received date {date:?} is {age:?} from now");
        } else {
            // Postfix's own Received header names the real client.
            assert!(text.contains("[127.0.0.2]"), "{mode}: real client missing from\n{text}");
        }
    }
    pf.wait_log("RCPT from unknown[127.0.0.2]: 554 5.7.1 <victim@outside.example>: Relay access denied").await;
}

/// The hostile review's open relay: in monitor mode, an EHLO of 165 `=`
/// (495 octets of xtext) used to push ADDR, NAME, PORT and PROTO out of the
/// XCLIENT line, and the trap judged RCPT by doorman's own address. The
/// client's address must reach Postfix whatever the HELO, and PROTO must say
/// ESMTP for an EHLO client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_helo_cannot_strip_the_client_address() {
    let pf = trap();
    let yaml = crate::support::proxy::config_yaml(&pf.addr(), "helo:\n  mode: monitor\n")
        .replace("connect_timeout: 2s", "connect_timeout: 2s\n  client_identity: xclient");
    let config = doorman::Config::from_yaml(&yaml, std::path::Path::new("t.yaml")).expect("config");
    let proxy = Proxy::start_with(config).await;
    let mut c = Client::connect_from(proxy.addr, "127.0.0.2").await;
    assert_code(&c.reply().await, 220);
    let helo = "=".repeat(165);
    assert_code(&c.cmd(&format!("EHLO {helo}")).await, 250);
    assert_code(&c.cmd("MAIL FROM:<spam@attacker.example>").await, 250);
    let r = c.cmd("RCPT TO:<victim@long-helo.example>").await;
    assert_eq!(r.code(), 554, "relay for an outside client was not refused: {r}");
    let log = pf.wait_log("<victim@long-helo.example>: Relay access denied").await;
    let line = log.lines().find(|l| l.contains("<victim@long-helo.example>")).unwrap_or_default();
    assert!(line.contains("RCPT from unknown[127.0.0.2]"), "Postfix did not judge the real client: {line}");
    assert!(line.contains("proto=ESMTP"), "PROTO is not ESMTP for an EHLO client: {line}");
}

/// XFORWARD is for logging: Postfix records the original client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xforward_names_the_real_client_in_the_mta_log() {
    let pf = trap();
    let yaml = crate::support::proxy::config_yaml(&pf.addr(), "")
        .replace("connect_timeout: 2s", "connect_timeout: 2s\n  client_identity: xforward");
    let config = doorman::Config::from_yaml(&yaml, std::path::Path::new("t.yaml")).expect("config");
    let proxy = Proxy::start_with(config).await;
    let local = rcpt("identity-xforward");
    let _ = relay_attempt(&proxy, &local).await;
    pf.wait_for(&local, 1).await;
    pf.wait_log("orig_client=unknown[127.0.0.2]").await;
}

/// PROXY protocol in: honoured from a trusted proxy, refused from anyone else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_header_in_only_from_trusted_networks() {
    let pf = trap();
    let yaml = crate::support::proxy::config_yaml(&pf.addr(), "")
        .replace(
            "  - address: 127.0.0.1:0",
            "  - address: 127.0.0.1:0\n    proxy_protocol: true\n    trusted_proxies: [127.0.0.1/32]",
        )
        .replace("connect_timeout: 2s", "connect_timeout: 2s\n  client_identity: xclient");
    // The proxied client is public: keep the DNS rules off (no resolver, no
    // traffic beyond loopback); the HELO tests cover them with dnsmasq.
    let yaml = format!(
        "{yaml}helo:\n  rules:\n    unresolvable: off\n    no_ptr: off\n    fcrdns_mismatch: off\n    dnsbl: off\n"
    );
    let config = doorman::Config::from_yaml(&yaml, std::path::Path::new("t.yaml")).expect("config");
    let proxy = Proxy::start_with(config).await;

    // A load balancer on 127.0.0.1 says the client is 198.51.100.23.
    let mut c = Client::connect_raw(proxy.addr).await;
    c.send(b"PROXY TCP4 198.51.100.23 127.0.0.1 40001 25\r\n").await;
    assert_code(&c.reply().await, 220);
    assert_code(&c.cmd("EHLO client.example.net").await, 250);
    assert_code(&c.cmd("MAIL FROM:<a@sender.example>").await, 250);
    assert_code(&c.cmd("RCPT TO:<victim@outside.example>").await, 554);
    pf.wait_log("RCPT from unknown[198.51.100.23]").await;

    // The same header from 127.0.0.2, which is not a trusted proxy: no session.
    let mut c = Client::connect_from(proxy.addr, "127.0.0.2").await;
    c.send(b"PROXY TCP4 192.0.2.5 127.0.0.1 40001 25\r\n").await;
    c.expect_closed().await;
}

/// XCLIENT NAME carries the client's forward-confirmed PTR name; real clients
/// (swaks, Python's smtplib) from 127.0.0.2 are refused relaying.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xclient_name_and_real_clients_from_outside() {
    let pf = trap();
    let dns = crate::support::dns::dnsmasq().dns_yaml("2s").lines().map(|l| format!("  {l}\n")).collect::<String>();
    let yaml = crate::support::proxy::config_yaml(&pf.addr(), &format!("dns:\n{dns}"))
        .replace(
            "  - address: 127.0.0.1:0",
            "  - address: 127.0.0.1:0\n  - address: 127.0.0.1:0\n    proxy_protocol: true\n    trusted_proxies: [127.0.0.1/32]",
        )
        .replace("connect_timeout: 2s", "connect_timeout: 2s\n  client_identity: xclient");
    let config = doorman::Config::from_yaml(&yaml, std::path::Path::new("t.yaml")).expect("config");
    let server = doorman::Server::bind(config).await.expect("bind");
    let (plain, proxied) = (server.local_addrs()[0], server.local_addrs()[1]);
    let stop = tokio_util::sync::CancellationToken::new();
    tokio::spawn(server.run(stop.clone()));

    // 203.0.113.10's PTR is good.example.test, which resolves back to it.
    let to = rcpt("xclient-name");
    let mut c = Client::connect_raw(proxied).await;
    c.send(b"PROXY TCP4 203.0.113.10 127.0.0.1 40001 25\r\n").await;
    assert_code(&c.reply().await, 220);
    assert_code(&c.cmd("EHLO helo.client.example").await, 250);
    assert_code(&c.cmd("MAIL FROM:<a@sender.example>").await, 250);
    assert_code(&c.cmd(&format!("RCPT TO:<{to}>")).await, 250);
    assert_code(&c.cmd("DATA").await, 354);
    c.send(format!("{}.\r\n", crate::support::message(&to, "xclient-name", &["x"])).as_bytes()).await;
    assert_code(&c.reply().await, 250);
    assert_code(&c.cmd("QUIT").await, 221);
    pf.wait_log("good.example.test[203.0.113.10]").await;
    // The late connect told Postfix the client's address, verified name and
    // its own HELO: Postfix's Received: header shows all three.
    let got = String::from_utf8_lossy(&pf.wait_for(&to, 1).await[0]).into_owned();
    assert!(got.contains("from helo.client.example (good.example.test [203.0.113.10])"), "{got}");

    let (ok, out) = crate::support::client::swaks(
        plain,
        &["--local-interface", "127.0.0.2", "--to", "victim@outside.example", "--from", "spam@attacker.example"],
    )
    .await;
    assert!(!ok && out.contains("554 5.7.1 <victim@outside.example>: Relay access denied"), "{out}");
    let msg = crate::support::message("victim@outside.example", "relay", &["x"]);
    let (ok, out) = crate::support::client::smtplib_send_from(
        plain,
        "127.0.0.2",
        None,
        "spam@attacker.example",
        "victim@outside.example",
        &msg,
    )
    .await;
    assert!(!ok && out.contains("554"), "{out}");
    stop.cancel();
}

/// The date of the (folded) `Received:` header that contains `marker`: the
/// text after its last `;`.
fn received_date(message: &str, marker: &str) -> String {
    let unfolded = message.replace("\r\n", "\n").replace("\n\t", " ").replace("\n ", " ");
    let header = unfolded
        .lines()
        .find(|l| l.starts_with("Received:") && l.contains(marker))
        .unwrap_or_else(|| panic!("no Received header with {marker:?} in\n{message}"));
    header.rsplit_once(';').map(|(_, d)| d.trim().to_owned()).unwrap_or_default()
}

/// `/readyz` speaks to the upstream as sessions do: against Postfix's
/// PROXY-only listener in `proxy-v2` mode it sends a PROXY header (it used
/// to send none, and such pods never became ready). And it is cached: 100
/// rapid requests open at most a few upstream sessions (a tap between
/// doorman and Postfix counts them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_speaks_proxy_v2_and_is_cached() {
    use crate::support::http::get;
    let pf = trap();
    let tap = crate::support::tap::Tap::start(&format!("127.0.0.1:{}", pf.proxy_port)).await;
    let yaml = crate::support::proxy::config_yaml(&tap.addr(), "admin:\n  address: 127.0.0.1:0\n")
        .replace("connect_timeout: 2s", "connect_timeout: 2s\n  client_identity: proxy-v2");
    let proxy =
        Proxy::start_with(doorman::Config::from_yaml(&yaml, std::path::Path::new("t.yaml")).expect("config")).await;
    let admin = proxy.admin.expect("admin endpoint");
    assert_eq!(get(admin, "/readyz").await, (200, "ready\n".into()));
    let requests: Vec<_> = (0..100).map(|_| tokio::spawn(async move { get(admin, "/readyz").await.0 })).collect();
    for r in requests {
        assert_eq!(r.await.expect("request"), 200);
    }
    let opened = tap.wait_all_closed().await;
    assert!(opened <= 3, "101 readiness requests opened {opened} upstream sessions");
}

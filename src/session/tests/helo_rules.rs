//! The HELO/EHLO rules inside a session: refusals delivered at RCPT by
//! default, monitor mode, exempt networks, sticky findings, and sessions
//! that skip the rules. DNS rules are off here (they have their tests
//! against the real dnsmasq).

use super::harness::{Harness, MESSAGE, assert_code};

const PUBLIC: &str = "203.0.113.10:40000";
/// The `helo:` section: DNS rules off, `rules` added to the others, then `extra`.
fn helo_with(rules: &str, extra: &str) -> String {
    format!("helo:\n  rules:\n    unresolvable: off\n    no_ptr: off\n    fcrdns_mismatch: off\n{rules}{extra}")
}

fn helo(extra: &str) -> String {
    helo_with("", extra)
}

#[tokio::test(start_paused = true)]
async fn a_bad_helo_is_refused_at_rcpt_naming_the_rule() {
    let mut s = Harness::new().yaml(&helo("")).peer(PUBLIC).greeted().await;
    assert_code(&s.client.cmd("EHLO localhost").await, 250);
    assert_code(&s.client.cmd("MAIL FROM:<alice@sender.example>").await, 250);
    let r = s.client.cmd("RCPT TO:<bob@example.test>").await;
    assert!(r.code() >= 500 && r.to_string().contains("localhost"), "{r}");
    assert!(!s.upstream().all().contains("RCPT"), "a refused RCPT reached the upstream");
}

#[tokio::test(start_paused = true)]
async fn monitor_mode_refuses_nothing() {
    let mut s = Harness::new().yaml(&helo("  mode: monitor")).peer(PUBLIC).greeted().await;
    assert_code(&s.client.cmd("EHLO localhost").await, 250);
    assert_code(&s.client.transaction(MESSAGE).await, 250);
}

#[tokio::test(start_paused = true)]
async fn an_exempt_network_skips_the_rules() {
    let mut s = Harness::new().yaml(&helo("  exempt: [203.0.113.0/24]")).peer(PUBLIC).greeted().await;
    assert_code(&s.client.cmd("EHLO localhost").await, 250);
    assert_code(&s.client.transaction(MESSAGE).await, 250);
}

/// Refused at EHLO, a retry with a good HELO does not pass.
#[tokio::test(start_paused = true)]
async fn a_refusal_sticks_for_the_connection() {
    let mut s = Harness::new().yaml(&helo("")).peer(PUBLIC).greeted().await;
    assert_code(&s.client.cmd("EHLO localhost").await, 250);
    assert_code(&s.client.cmd("HELO good.example.test").await, 250);
    assert_code(&s.client.cmd("MAIL FROM:<alice@sender.example>").await, 250);
    assert!(s.client.cmd("RCPT TO:<bob@example.test>").await.code() >= 500);
}

#[tokio::test(start_paused = true)]
async fn without_delay_reject_the_ehlo_itself_is_refused() {
    let mut s = Harness::new().yaml(&helo("  delay_reject: false")).peer(PUBLIC).greeted().await;
    assert!(s.client.cmd("EHLO localhost").await.code() >= 500);
}

#[tokio::test(start_paused = true)]
async fn mail_without_helo_is_refused_at_rcpt_under_no_helo_reject() {
    let mut s = Harness::new().yaml(&helo_with("    no_helo: reject\n", "")).peer(PUBLIC).greeted().await;
    assert_code(&s.client.cmd("MAIL FROM:<alice@sender.example>").await, 250);
    let r = s.client.cmd("RCPT TO:<bob@example.test>").await;
    assert!(r.code() >= 500 && r.to_string().contains("no_helo"), "{r}");
}

/// The real broken clients pass the defaults: Outlook's dotless name,
/// Eudora's machine.<our name>, a NATed desktop's private literal.
#[tokio::test(start_paused = true)]
async fn broken_real_clients_pass_the_defaults() {
    for name in ["benderclmsuedu", "machine.mx.example.test", "[192.168.1.10]"] {
        let mut s = Harness::new().yaml(&helo("")).peer(PUBLIC).greeted().await;
        assert_code(&s.client.cmd(&format!("EHLO {name}")).await, 250);
        assert_code(&s.client.transaction(MESSAGE).await, 250);
    }
}

//! The late connect: the upstream session opens at the first command that
//! needs the MTA, never for a client doorman refuses or that never gets that
//! far, and then starts exactly as an early one did (identity, the client's
//! own HELO/EHLO).

use super::cert::TestCert;
use super::harness::{Harness, MESSAGE, assert_code, assert_reply};
use super::upstream::Mta;

const PUBLIC: &str = "203.0.113.10:40000";
const NO_DNS_RULES: &str = "helo:\n  rules:\n    unresolvable: off\n    no_ptr: off\n    fcrdns_mismatch: off";

#[tokio::test(start_paused = true)]
async fn commands_that_need_no_mta_never_open_an_upstream_session() {
    let mut s = Harness::new().greeted().await;
    let ehlo = s.client.cmd("EHLO client.example.net").await;
    // Built from the upstream's extensions as last seen, filtered as ever.
    for keyword in ["PIPELINING", "SIZE", "8BITMIME", "ENHANCEDSTATUSCODES", "SMTPUTF8"] {
        assert!(ehlo.lines().iter().any(|l| l.starts_with(keyword)), "{keyword} missing: {ehlo}");
    }
    assert!(!ehlo.lines().iter().any(|l| l.starts_with("XCLIENT") || l.starts_with("BINARYMIME")), "{ehlo}");
    for (cmd, code) in [("NOOP", 250), ("RSET", 250), ("HELP", 214), ("VRFY bob", 252), ("EXPN staff", 502)] {
        assert_code(&s.client.cmd(cmd).await, code);
    }
    assert_code(&s.client.cmd("HELO client.example.net").await, 250);
    assert_code(&s.client.cmd("QUIT").await, 221);
    s.client.closed().await;
    assert_eq!(s.finished().await.connections(), 0);
}

#[tokio::test(start_paused = true)]
async fn the_first_mail_opens_it_with_the_clients_own_ehlo() {
    let mut s = Harness::new().ready().await;
    assert_eq!(s.upstream().connections(), 0);
    assert_code(&s.client.transaction(MESSAGE).await, 250);
    assert_code(&s.client.transaction(MESSAGE).await, 250);
    let up = s.upstream().text(0);
    assert!(up.starts_with("EHLO client.example.net\r\nMAIL FROM:<alice@sender.example>\r\n"), "{up}");
    assert_eq!(s.upstream().connections(), 1, "one upstream session for both messages");
}

/// A client a rule refuses is refused by doorman alone: MAIL is taken
/// here, RCPT refused naming the rule, and the MTA never sees it.
#[tokio::test(start_paused = true)]
async fn a_refused_client_never_reaches_the_upstream() {
    let mut s = Harness::new().yaml(NO_DNS_RULES).peer(PUBLIC).greeted().await;
    assert_code(&s.client.cmd("EHLO mx.example.test").await, 250);
    assert_code(&s.client.cmd("MAIL FROM:<alice@sender.example>").await, 250);
    let r = s.client.cmd("RCPT TO:<bob@example.test>").await;
    assert!(r.code() >= 500 && r.to_string().contains("our_name"), "{r}");
    assert_reply(&s.client.cmd("DATA").await, 554, "5.5.1");
    assert_code(&s.client.cmd("RSET").await, 250);
    assert_code(&s.client.cmd("QUIT").await, 221);
    assert_eq!(s.finished().await.connections(), 0);
}

/// doorman has not reached the upstream since it started: the first EHLO
/// opens a session and learns the extensions from it.
#[tokio::test(start_paused = true)]
async fn unknown_extensions_are_learned_at_the_first_ehlo() {
    let mta = Mta { ehlo: "250-backend.test\r\n250-PIPELINING\r\n250 DSN\r\n", ..Mta::default() };
    let mut s = Harness::new().known(None).mta(mta).greeted().await;
    let ehlo = s.client.cmd("EHLO client.example.net").await;
    assert!(ehlo.lines().iter().any(|l| l == "DSN"), "{ehlo}");
    assert!(!ehlo.lines().iter().any(|l| l == "SMTPUTF8"), "{ehlo}");
    assert!(s.upstream().text(0).starts_with("EHLO client.example.net\r\n"), "{}", s.upstream().text(0));
    assert_code(&s.client.transaction(MESSAGE).await, 250);
}

#[tokio::test(start_paused = true)]
async fn pass_mode_connects_at_once_for_the_greeting() {
    let mut s = Harness::new().yaml("banner:\n  mode: pass").greeted().await;
    assert_eq!(s.upstream().connections(), 1);
    assert_code(&s.client.cmd("EHLO client.example.net").await, 250);
    assert!(s.upstream().text(0).starts_with("EHLO client.example.net\r\n"), "{}", s.upstream().text(0));
}

/// STARTTLS toward the client before any upstream session exists; the
/// upstream session that follows starts with the client's EHLO after TLS.
#[tokio::test(start_paused = true)]
async fn starttls_toward_the_client_needs_no_upstream() {
    let cert = TestCert::new();
    let mut s = Harness::new().yaml(&cert.yaml).starttls().ready().await;
    assert_code(&s.client.cmd("STARTTLS").await, 220);
    assert_eq!(s.upstream().connections(), 0);
    let recorded = s.upstream().clone();
    let mut tls = s.client.start_tls(cert.client.clone(), "mx.example.test").await;
    assert_code(&tls.cmd("EHLO tls.example.net").await, 250);
    assert_code(&tls.cmd("MAIL FROM:<alice@sender.example>").await, 250);
    assert!(recorded.text(0).starts_with("EHLO tls.example.net\r\n"), "{}", recorded.text(0));
}

/// An upstream that refuses the client's HELO at the late connect: the
/// refusal is logged and the upstream answers MAIL as it sees fit.
#[tokio::test(start_paused = true)]
async fn a_helo_the_upstream_refuses_leaves_the_mail_reply_to_it() {
    let mta = Mta::default()
        .on("EHLO", "550 5.7.1 <client.example.net>: Helo command rejected\r\n")
        .on("MAIL", "503 5.5.1 Error: send HELO/EHLO first\r\n");
    let mut s = Harness::new().mta(mta).ready().await;
    assert_reply(&s.client.cmd("MAIL FROM:<alice@sender.example>").await, 503, "5.5.1");
}

/// The first client of a doorman that does not know the upstream's
/// extensions yet: its upstream session opens at EHLO, and XCLIENT carries
/// that EHLO's name and ESMTP (found by the relay oracle: it once went
/// without HELO, as PROTO=SMTP).
#[tokio::test(start_paused = true)]
async fn the_learning_ehlo_sends_xclient_with_the_helo() {
    let mut s = Harness::new().upstream_keys("client_identity: xclient").known(None).greeted().await;
    assert_code(&s.client.cmd("EHLO client.example.net").await, 250);
    assert_code(&s.client.transaction(MESSAGE).await, 250);
    let up = s.upstream().text(0);
    let xclient = up.lines().find(|l| l.starts_with("XCLIENT")).unwrap_or_else(|| panic!("no XCLIENT: {up}"));
    assert!(xclient.contains("HELO=client.example.net") && xclient.contains("PROTO=ESMTP"), "{up}");
    assert_eq!(up.matches("XCLIENT").count(), 1, "{up}");
}

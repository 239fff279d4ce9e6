//! Pipelining (RFC 2920): replies in order, a group answered in one write,
//! commands after the final dot kept for after it, plaintext pipelined
//! after STARTTLS thrown away, and command synchronization
//! (`limits.forbid_unauth_pipelining`): what a client sends before the reply
//! it must wait for closes the session, unexecuted.

use super::cert::TestCert;
use super::harness::{Harness, MESSAGE, assert_code, assert_reply};

const SYNC_OFF: &str = "limits:\n  forbid_unauth_pipelining: off";

#[tokio::test(start_paused = true)]
async fn a_pipelined_group_is_answered_in_order() {
    let mut s = Harness::new().ready().await;
    s.client
        .send(b"MAIL FROM:<alice@sender.example>\r\nRCPT TO:<a@example.test>\r\nRCPT TO:<b@example.test>\r\nDATA\r\n")
        .await;
    for code in [250, 250, 250, 354] {
        assert_code(&s.client.reply().await, code);
    }
    s.client.send(format!("{MESSAGE}.\r\n").as_bytes()).await;
    assert_code(&s.client.reply().await, 250);
}

#[tokio::test(start_paused = true)]
async fn a_whole_session_in_one_write_when_synchronization_is_off() {
    let mut s = Harness::new().yaml(SYNC_OFF).greeted().await;
    s.client
        .send(
            format!(
                "EHLO client.example.net\r\nMAIL FROM:<alice@sender.example>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n\
                 {MESSAGE}.\r\nQUIT\r\n"
            )
            .as_bytes(),
        )
        .await;
    for code in [250, 250, 250, 354, 250, 221] {
        assert_code(&s.client.reply().await, code);
    }
    s.client.closed().await;
    assert_eq!(s.finished().await.text(0).matches("\r\n.\r\n").count(), 1);
}

/// A message and the next transaction in one write, after a real end of
/// data: the second transaction is commands, in order, once.
#[tokio::test(start_paused = true)]
async fn commands_after_the_final_dot_run_after_its_reply() {
    let mut s = Harness::new().ready().await;
    assert_code(&s.client.cmd("MAIL FROM:<alice@sender.example>").await, 250);
    assert_code(&s.client.cmd("RCPT TO:<bob@example.test>").await, 250);
    assert_code(&s.client.cmd("DATA").await, 354);
    s.client
        .send(format!("{MESSAGE}.\r\nMAIL FROM:<alice@sender.example>\r\nRCPT TO:<carol@example.test>\r\n").as_bytes())
        .await;
    for code in [250, 250, 250] {
        assert_code(&s.client.reply().await, code);
    }
}

/// CVE-2011-0411: commands pipelined after STARTTLS in plaintext are
/// never executed after the handshake.
#[tokio::test(start_paused = true)]
async fn plaintext_pipelined_after_starttls_is_thrown_away() {
    let cert = TestCert::new();
    let mut s = Harness::new().yaml(&cert.yaml).starttls().ready().await;
    s.client.send(b"STARTTLS\r\nRSET\r\n").await;
    assert_code(&s.client.reply().await, 220);
    let mut tls = s.client.start_tls(cert.client.clone(), "mx.example.test").await;
    // The RSET sent before the handshake got no reply; EHLO is needed again.
    tls.send(b"MAIL FROM:<alice@sender.example>\r\n").await;
    assert_code(&tls.reply().await, 503);
    assert_code(&tls.cmd("EHLO client.example.net").await, 250);
    assert_code(&tls.cmd("MAIL FROM:<alice@sender.example>").await, 250);
}

/// A bot that writes its whole session at once: EHLO must end its group, so
/// it is refused there, unexecuted, and the MTA never hears of it.
#[tokio::test(start_paused = true)]
async fn a_whole_session_in_one_write_is_refused_at_its_ehlo() {
    let mut s = Harness::new().greeted().await;
    let session =
        format!("EHLO bot.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n{MESSAGE}.\r\n");
    s.client.send(session.as_bytes()).await;
    assert_eq!(s.client.reply().await.to_bytes().as_ref(), b"554 5.5.0 Error: SMTP protocol synchronization\r\n");
    s.client.closed().await;
    assert_eq!(s.finished().await.connections(), 0);
}

/// hannob's smtpsmug "pipelining" pattern: after a real end of data, the
/// next transaction and its content in one write. The content arrived
/// before doorman's 354: refused, never relayed.
#[tokio::test(start_paused = true)]
async fn content_sent_before_the_354_is_refused() {
    let mut s = Harness::new().ready().await;
    assert_code(&s.client.cmd("MAIL FROM:<alice@sender.example>").await, 250);
    assert_code(&s.client.cmd("RCPT TO:<bob@example.test>").await, 250);
    assert_code(&s.client.cmd("DATA").await, 354);
    let smuggled = format!(
        "{MESSAGE}.\r\nMAIL FROM:<mallory@sender.example>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\nSubject: smuggled\r\n\r\nx\r\n.\r\n"
    );
    s.client.send(smuggled.as_bytes()).await;
    for code in [250, 250, 250] {
        assert_code(&s.client.reply().await, code);
    }
    assert_reply(&s.client.reply().await, 554, "5.5.0");
    s.client.closed().await;
    let up = s.finished().await.all();
    assert_eq!(up.matches("\r\n.\r\n").count(), 1, "{up}");
    assert!(!up.contains("smuggled"), "{up}");
}

/// A HELO client was never offered PIPELINING: a command sent before the
/// reply to the one before it is refused.
#[tokio::test(start_paused = true)]
async fn pipelining_that_was_not_offered_is_refused() {
    let mut s = Harness::new().greeted().await;
    assert_code(&s.client.cmd("HELO client.example.net").await, 250);
    s.client.send(b"MAIL FROM:<alice@sender.example>\r\nRCPT TO:<bob@example.test>\r\n").await;
    assert_code(&s.client.reply().await, 250);
    assert_reply(&s.client.reply().await, 554, "5.5.0");
    s.client.closed().await;
    assert!(!s.finished().await.all().contains("RCPT"));
}

/// Monitor logs and goes on; a listener may turn the check off; exempt
/// networks skip it.
#[tokio::test(start_paused = true)]
async fn monitor_a_listener_and_exempt_networks_let_it_pass() {
    let whole = format!(
        "EHLO c.example.net\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n{MESSAGE}.\r\nQUIT\r\n"
    );
    let harnesses = [
        Harness::new().yaml("limits:\n  forbid_unauth_pipelining: monitor"),
        Harness::new().listener_keys("forbid_unauth_pipelining: off"),
        Harness::new().yaml("helo:\n  exempt: [127.0.0.0/8]"),
    ];
    for harness in harnesses {
        let mut s = harness.greeted().await;
        s.client.send(whole.as_bytes()).await;
        for code in [250, 250, 250, 354, 250, 221] {
            assert_code(&s.client.reply().await, code);
        }
    }
}

/// The deep test: pipelining without PIPELINING is a `pipelining` finding,
/// which (with synchronization off, and the rule at `reject`) refuses the
/// client at RCPT, as postscreen's `pipelining` test does.
#[tokio::test(start_paused = true)]
async fn the_pipelining_rule_refuses_at_rcpt() {
    let yaml = "limits:\n  forbid_unauth_pipelining: off\nhelo:\n  rules:\n    pipelining: reject";
    let mut s = Harness::new().yaml(yaml).greeted().await;
    s.client.send(b"HELO c.example.net\r\nMAIL FROM:<a@b.example>\r\n").await;
    assert_code(&s.client.reply().await, 250);
    assert_code(&s.client.reply().await, 250);
    let r = s.client.cmd("RCPT TO:<bob@example.test>").await;
    assert!(r.code() == 550 && r.to_string().ends_with("(rule pipelining)"), "{r}");
}

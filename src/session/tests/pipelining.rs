//! Pipelining (RFC 2920): replies in order, a group answered in one write,
//! commands after the final dot kept for after it, and plaintext pipelined
//! after STARTTLS thrown away.

use super::cert::TestCert;
use super::harness::{Harness, MESSAGE, assert_code};

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
async fn a_whole_session_in_one_write() {
    let mut s = Harness::new().greeted().await;
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

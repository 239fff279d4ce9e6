//! MAIL, RCPT, RSET and the transaction's sequence: checked by doorman,
//! relayed, and the upstream's verdicts passed through verbatim.

use super::harness::{Harness, MESSAGE, assert_code, assert_reply};
use super::upstream::Mta;

#[tokio::test(start_paused = true)]
async fn out_of_sequence_commands_get_503() {
    let mut s = Harness::new().ready().await;
    assert_reply(&s.client.cmd("RCPT TO:<bob@example.test>").await, 503, "5.5.1");
    assert_reply(&s.client.cmd("DATA").await, 503, "5.5.1");
    assert_code(&s.client.cmd("MAIL FROM:<alice@sender.example>").await, 250);
    assert_reply(&s.client.cmd("MAIL FROM:<alice@sender.example>").await, 503, "5.5.1");
    assert_reply(&s.client.cmd("DATA").await, 503, "5.5.1");
}

#[tokio::test(start_paused = true)]
async fn the_upstreams_recipient_verdicts_reach_the_client_verbatim() {
    let mta =
        Mta::default().on("RCPT", "550 5.1.1 <nobody@example.test>: Recipient address rejected: User unknown\r\n");
    let mut s = Harness::new().mta(mta).ready().await;
    assert_code(&s.client.cmd("MAIL FROM:<alice@sender.example>").await, 250);
    let r = s.client.cmd("RCPT TO:<nobody@example.test>").await;
    assert_eq!(r.to_bytes().as_ref(), b"550 5.1.1 <nobody@example.test>: Recipient address rejected: User unknown\r\n");
    // Every recipient refused: DATA is refused by doorman, never sent.
    assert_reply(&s.client.cmd("DATA").await, 554, "5.5.1");
    assert!(!s.upstream().all().contains("DATA"));
}

#[tokio::test(start_paused = true)]
async fn recipients_beyond_the_limit_get_452_and_are_not_relayed() {
    let mut s = Harness::new().yaml("limits:\n  max_recipients: 2").ready().await;
    assert_code(&s.client.cmd("MAIL FROM:<alice@sender.example>").await, 250);
    assert_code(&s.client.cmd("RCPT TO:<a@example.test>").await, 250);
    assert_code(&s.client.cmd("RCPT TO:<b@example.test>").await, 250);
    assert_eq!(
        s.client.cmd("RCPT TO:<c@example.test>").await.to_bytes().as_ref(),
        b"452 4.5.3 Error: too many recipients\r\n"
    );
    assert!(!s.upstream().all().contains("<c@example.test>"));
}

#[tokio::test(start_paused = true)]
async fn rset_in_a_transaction_reaches_the_upstream() {
    let mut s = Harness::new().ready().await;
    assert_code(&s.client.cmd("MAIL FROM:<alice@sender.example>").await, 250);
    assert_code(&s.client.cmd("RSET").await, 250);
    assert_code(&s.client.cmd("MAIL FROM:<alice@sender.example>").await, 250);
    assert!(s.upstream().all().contains("RSET\r\n"));
}

#[tokio::test(start_paused = true)]
async fn a_new_ehlo_ends_the_transaction() {
    let mut s = Harness::new().ready().await;
    assert_code(&s.client.cmd("MAIL FROM:<alice@sender.example>").await, 250);
    assert_code(&s.client.cmd("EHLO client.example.net").await, 250);
    assert_reply(&s.client.cmd("RCPT TO:<bob@example.test>").await, 503, "5.5.1");
}

#[tokio::test(start_paused = true)]
async fn commands_reach_the_upstream_re_encoded() {
    let mut s = Harness::new().ready().await;
    assert_code(&s.client.cmd("mail from: <Alice@Sender.Example>  SIZE=100").await, 250);
    assert_code(&s.client.cmd("rcpt to:<bob@example.test>").await, 250);
    let up = s.upstream().text(0);
    assert!(up.contains("MAIL FROM:<Alice@Sender.Example> SIZE=100\r\n"), "{up}");
    assert!(up.contains("RCPT TO:<bob@example.test>\r\n"), "{up}");
}

#[tokio::test(start_paused = true)]
async fn an_upstream_421_closes_the_session() {
    let mta = Mta::default().on("MAIL", "421 4.3.2 Service shutting down\r\n");
    let mut s = Harness::new().mta(mta).ready().await;
    assert_code(&s.client.cmd("MAIL FROM:<alice@sender.example>").await, 421);
    s.client.closed().await;
}

#[tokio::test(start_paused = true)]
async fn several_transactions_in_one_session() {
    let mut s = Harness::new().ready().await;
    for _ in 0..3 {
        assert_code(&s.client.transaction(MESSAGE).await, 250);
    }
    assert_code(&s.client.cmd("QUIT").await, 221);
    assert_eq!(s.finished().await.text(0).matches("\r\n.\r\n").count(), 3);
}

/// msmtp sends a UTF-8 address without the SMTPUTF8 parameter. The upstream
/// offers SMTPUTF8 (it would take the address from the client directly),
/// so by default doorman relays it as it came.
#[tokio::test(start_paused = true)]
async fn a_utf8_address_without_smtputf8_is_relayed_when_the_upstream_takes_it() {
    let mut s = Harness::new().ready().await;
    assert_code(&s.client.cmd("MAIL FROM:<alice@sender.example>").await, 250);
    assert_code(&s.client.cmd("RCPT TO:<münchen@example.test>").await, 250);
    assert_code(&s.client.cmd("DATA").await, 354);
    s.client.send(format!("{MESSAGE}.\r\n").as_bytes()).await;
    assert_code(&s.client.reply().await, 250);
    assert!(s.upstream().all().contains("RCPT TO:<münchen@example.test>\r\n"), "{}", s.upstream().all());
}

/// Strict (`commands.utf8_without_smtputf8: reject`), or an upstream without
/// SMTPUTF8: `553 5.6.7` (RFC 6531 3.5), and the upstream never sees it.
#[tokio::test(start_paused = true)]
async fn a_utf8_address_without_smtputf8_is_refused_when_strict_or_not_offered() {
    let plain = "250-backend.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n";
    let strict = Harness::new().yaml("commands:\n  utf8_without_smtputf8: reject");
    let not_offered = Harness::new().known(Some(plain)).mta(Mta { ehlo: plain, ..Mta::default() });
    for h in [strict, not_offered] {
        let mut s = h.ready().await;
        assert_reply(&s.client.cmd("MAIL FROM:<jörg@sender.example>").await, 553, "5.6.7");
        assert_code(&s.client.cmd("MAIL FROM:<alice@sender.example>").await, 250);
        assert_reply(&s.client.cmd("RCPT TO:<münchen@example.test>").await, 553, "5.6.7");
        assert!(!s.upstream().all().contains("nchen"), "{}", s.upstream().all());
    }
}

//! Whole sessions: pipelining, real clients, local commands, upstream replies
//! relayed verbatim, AUTH, and an unreachable upstream.

use crate::support::client::{Client, assert_code, smtplib_send, swaks};
use crate::support::postfix::{postfix, strip_mta_headers};
use crate::support::proxy::Proxy;
use crate::support::{free_port, message, rcpt};

/// RFC 2920: three messages, each MAIL/RCPT/DATA group in one write and the
/// next group in the same write as the previous final dot. All three arrive,
/// byte-identical apart from Postfix's own trace headers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_session_delivers_three_identical_messages() {
    let proxy = Proxy::start(&postfix().addr(), "").await;
    let to = rcpt("pipelined");
    let (mut c, _) = Client::connect(proxy.addr).await;
    assert_code(&c.cmd("EHLO client.example.net").await, 250);
    let bodies: Vec<String> = (0..3)
        .map(|i| {
            message(
                &to,
                &format!("pipelined-{i}"),
                &[
                    "First line.",
                    ".A line that starts with a dot",
                    "..two dots",
                    ".",
                    "",
                    "\t tab and trailing space ",
                    "8-bit: caf\u{e9}",
                    &format!("message {i}"),
                ],
            )
        })
        .collect();
    let group = format!("MAIL FROM:<alice@sender.example>\r\nRCPT TO:<{to}>\r\nDATA\r\n");
    c.send(group.as_bytes()).await;
    for (i, body) in bodies.iter().enumerate() {
        assert_code(&c.reply().await, 250);
        assert_code(&c.reply().await, 250);
        assert_code(&c.reply().await, 354);
        let mut wire = stuff(body);
        wire.push_str(".\r\n");
        if i < 2 {
            wire.push_str(&group);
        } else {
            wire.push_str("QUIT\r\n");
        }
        c.send(wire.as_bytes()).await;
        let end = c.reply().await;
        assert_code(&end, 250);
        assert!(end.lines()[0].contains("queued as"), "{end}");
    }
    assert_code(&c.reply().await, 221);
    let delivered = postfix().wait_for(&to, 3).await;
    assert_eq!(delivered.len(), 3);
    let mut got: Vec<Vec<u8>> = delivered.iter().map(|m| strip_mta_headers(m)).collect();
    got.sort();
    let mut want: Vec<Vec<u8>> = bodies.iter().map(|b| b.as_bytes().to_vec()).collect();
    want.sort();
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(String::from_utf8_lossy(g), String::from_utf8_lossy(w));
    }
}

/// The whole session in one write, before any reply, where command
/// synchronization is off: nothing in the read buffer may be lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everything_in_one_packet() {
    let proxy = Proxy::start(&postfix().addr(), "limits:\n  forbid_unauth_pipelining: off").await;
    let to = rcpt("onepacket");
    let (mut c, _) = Client::connect(proxy.addr).await;
    let body = message(&to, "one-packet", &["hello"]);
    let all = format!(
        "EHLO c.example.net\r\nMAIL FROM:<a@sender.example>\r\nRCPT TO:<{to}>\r\nDATA\r\n{}.\r\nRSET\r\nNOOP\r\nQUIT\r\n",
        stuff(&body)
    );
    c.send(all.as_bytes()).await;
    for code in [250, 250, 250, 354, 250, 250, 250, 221] {
        assert_code(&c.reply().await, code);
    }
    c.expect_closed().await;
    postfix().wait_for(&to, 1).await;
}

fn stuff(body: &str) -> String {
    body.split_inclusive("\r\n").map(|l| if l.starts_with('.') { format!(".{l}") } else { l.to_owned() }).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_smtplib_delivers() {
    let proxy = Proxy::start(&postfix().addr(), "").await;
    let to = rcpt("smtplib");
    let body = message(&to, "smtplib", &["sent by Python's smtplib"]);
    let (ok, out) = smtplib_send(proxy.addr, "alice@sender.example", &to, &body).await;
    assert!(ok, "{out}");
    assert!(out.contains("refused: {}"), "{out}");
    let got = postfix().wait_for(&to, 1).await;
    assert!(String::from_utf8_lossy(&got[0]).contains("sent by Python's smtplib"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vrfy_expn_help_are_answered_locally_by_default() {
    let proxy = Proxy::start(&postfix().addr(), "").await;
    let (mut c, _) = Client::connect(proxy.addr).await;
    c.cmd("EHLO c.example.net").await;
    let vrfy = c.cmd("VRFY bob@example.test").await;
    assert_eq!(
        vrfy.to_bytes().as_ref(),
        b"252 2.5.2 Cannot VRFY user, but will accept message and attempt delivery\r\n"
    );
    assert_code(&c.cmd("EXPN staff").await, 502);
    let help = c.cmd("HELP").await;
    assert_code(&help, 214);
    assert!(!help.to_string().contains("Postfix"), "{help}");

    // Passed through, Postfix answers with its own words.
    let proxy = Proxy::start(&postfix().addr(), "commands:\n  vrfy: pass\n  help: pass").await;
    let (mut c, _) = Client::connect(proxy.addr).await;
    c.cmd("EHLO c.example.net").await;
    let vrfy = c.cmd("VRFY unknown@example.test").await;
    assert_ne!(vrfy.code(), 252, "{vrfy}");
    assert!(vrfy.to_string().contains("unknown@example.test"), "{vrfy}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_replies_reach_the_client_verbatim() {
    let proxy = Proxy::start(&postfix().addr(), "").await;
    let (mut c, _) = Client::connect(proxy.addr).await;
    c.cmd("EHLO c.example.net").await;
    assert_code(&c.cmd("MAIL FROM:<a@sender.example>").await, 250);
    let unknown = c.cmd("RCPT TO:<unknown@example.test>").await;
    assert_eq!(
        unknown.lines()[0],
        "5.1.1 <unknown@example.test>: Recipient address rejected: User unknown in virtual mailbox table"
    );
    let relay = c.cmd("RCPT TO:<x@outside.example>").await;
    assert_eq!(relay.to_bytes().as_ref(), b"554 5.7.1 <x@outside.example>: Relay access denied\r\n");
    let temp = c.cmd("RCPT TO:<tempfail@example.test>").await;
    assert_code(&temp, 451);
    // No recipient accepted: doorman refuses DATA without asking the upstream.
    assert_code(&c.cmd("DATA").await, 554);
    assert_code(&c.cmd("RSET").await, 250);
    assert_code(&c.cmd("QUIT").await, 221);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_xclient_and_xforward_are_refused() {
    let proxy = Proxy::start(&postfix().addr(), "").await;
    let (mut c, _) = Client::connect(proxy.addr).await;
    c.cmd("EHLO c.example.net").await;
    assert_eq!(
        c.cmd("XCLIENT ADDR=192.0.2.5").await.to_bytes().as_ref(),
        b"550 5.7.0 Error: insufficient authorization\r\n"
    );
    assert_code(&c.cmd("XFORWARD ADDR=192.0.2.5").await, 550);
    // Still the untrusted client: relaying is refused.
    c.cmd("MAIL FROM:<a@sender.example>").await;
    assert_code(&c.cmd("RCPT TO:<x@outside.example>").await, 554);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_dialogue_is_relayed() {
    let proxy = Proxy::start(&postfix().addr(), "auth:\n  allow_plaintext: true").await;
    let to = rcpt("auth");
    for mech in ["LOGIN", "PLAIN"] {
        let (ok, out) = swaks(
            proxy.addr,
            &[
                "--to",
                &to,
                "--from",
                "alice@example.test",
                "--auth",
                mech,
                "--auth-user",
                "alice@example.test",
                "--auth-password",
                "s3cret-Pa55",
            ],
        )
        .await;
        assert!(ok, "{out}");
        assert!(out.contains("235 2.7.0 Authentication successful"), "{out}");
        if mech == "LOGIN" {
            assert!(out.contains("334 VXNlcm5hbWU6"), "no 334 continuation seen:\n{out}");
        }
    }
    postfix().wait_for(&to, 2).await;
    let (ok, out) = swaks(
        proxy.addr,
        &["--to", &to, "--auth", "LOGIN", "--auth-user", "alice@example.test", "--auth-password", "wrong"],
    )
    .await;
    assert!(!ok && out.contains("535"), "{out}");
    // A cancelled exchange ends cleanly and the session goes on.
    let (mut c, _) = Client::connect(proxy.addr).await;
    c.cmd("EHLO c.example.net").await;
    assert_code(&c.cmd("AUTH LOGIN").await, 334);
    assert_code(&c.cmd("*").await, 501);
    assert_code(&c.cmd("NOOP").await, 250);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_is_not_offered_in_plaintext_by_default() {
    let proxy = Proxy::start(&postfix().addr(), "").await;
    let (mut c, _) = Client::connect(proxy.addr).await;
    let ehlo = c.cmd("EHLO c.example.net").await;
    assert!(!ehlo.lines().iter().any(|l| l.starts_with("AUTH")), "{ehlo}");
    assert_eq!(c.cmd("AUTH PLAIN AGFsaWNlQGV4YW1wbGUudGVzdABzM2NyZXQtUGE1NQ==").await.code(), 503);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_upstream_gets_421() {
    let proxy = Proxy::start(&format!("127.0.0.1:{}", free_port()), "").await;
    let (mut c, greeting) = Client::connect(proxy.addr).await;
    assert_code(&greeting, 220);
    let refused = c.until_refused(&["EHLO c.example.net", "MAIL FROM:<a@sender.example>"]).await;
    assert_eq!(refused.to_bytes().as_ref(), b"421 4.3.0 mx.example.test Service not available, try again later\r\n");
    c.expect_closed().await;
}

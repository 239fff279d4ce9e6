//! Limits and bad input: every malformed command gets its 5xx and the session
//! stays in sync; over-long lines and messages are drained and refused.

use crate::support::client::{Client, assert_code};
use crate::support::postfix::postfix;
use crate::support::proxy::Proxy;
use crate::support::tap::Tap;
use crate::support::{message, rcpt};

async fn ready(proxy: &Proxy) -> Client {
    let (mut c, _) = Client::connect(proxy.addr).await;
    assert_code(&c.cmd("EHLO client.example.net").await, 250);
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_commands_get_their_reply_and_the_session_goes_on() {
    let proxy = Proxy::start(&postfix().addr(), "").await;
    let mut c = ready(&proxy).await;
    let long = format!("NOOP {}RCPT TO:<x@other.example>", "A".repeat(600));
    let cases: &[(&str, u16, &str)] = &[
        ("FOO", 500, "5.5.2"),
        (&long, 500, "5.5.2"),
        ("MAIL FROM:", 501, "5.1.7"),
        ("MAIL FROM:<<>>", 501, "5.1.7"),
        ("RCPT TO:<bob@example.test>", 503, "5.5.1"),
        ("DATA", 503, "5.5.1"),
        ("MAIL FROM:<a@sender.example> FOO=bar", 555, "5.5.4"),
        ("MAIL FROM:<a@sender.example> BODY=BINARYMIME", 501, "5.5.4"),
        ("MAIL FROM:<a@sender.example> SIZE=99999999999", 552, "5.3.4"),
        ("EHLO", 501, "5.5.4"),
        ("DATA now", 501, "5.5.4"),
        ("ETRN example.test", 502, "5.5.1"),
        ("STARTTLS", 502, "5.5.1"),
    ];
    for (line, code, enhanced) in cases {
        let r = c.cmd(line).await;
        assert_eq!((r.code(), r.enhanced_code()), (*code, Some(*enhanced)), "{line:.40}: {r}");
    }
    for raw in
        [&b"RCPT TO:<ok@example.test>\0<evil@o.example>\r\n"[..], b"MAIL FROM:<a@b>\rRCPT TO:<c@d>\r\n", b"NOOP\n"]
    {
        c.send(raw).await;
        assert_code(&c.reply().await, 500);
    }
    // Still in sync: a normal transaction works.
    let to = rcpt("after-errors");
    assert_code(&c.cmd("MAIL FROM:<a@sender.example>").await, 250);
    assert_code(&c.cmd(&format!("RCPT TO:<{to}>")).await, 250);
    assert_code(&c.cmd("DATA").await, 354);
    c.send(format!("{}.\r\n", message(&to, "after-errors", &["x"])).as_bytes()).await;
    assert_code(&c.reply().await, 250);
    postfix().wait_for(&to, 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_long_text_line_and_oversized_message_are_refused_after_data() {
    let proxy = Proxy::start(&postfix().addr(), "limits:\n  max_message_size: 64KiB").await;
    let mut c = ready(&proxy).await;
    let long_line = rcpt("long-line");
    let too_big = rcpt("too-big");
    for (to, body) in [(&long_line, "x".repeat(1001)), (&too_big, format!("{}\r\n", "y".repeat(900)).repeat(200))] {
        assert_code(&c.cmd("MAIL FROM:<a@sender.example>").await, 250);
        assert_code(&c.cmd(&format!("RCPT TO:<{to}>")).await, 250);
        assert_code(&c.cmd("DATA").await, 354);
        c.send(format!("{}.\r\n", message(to, "limit", &[&body])).as_bytes()).await;
        let r = c.reply().await;
        assert_eq!((r.code(), r.enhanced_code()), (552, Some("5.3.4")), "{r}");
    }
    let control = rcpt("limit-control");
    assert_code(&c.cmd("MAIL FROM:<a@sender.example>").await, 250);
    assert_code(&c.cmd(&format!("RCPT TO:<{control}>")).await, 250);
    assert_code(&c.cmd("DATA").await, 354);
    c.send(format!("{}.\r\n", message(&control, "control", &["fine"])).as_bytes()).await;
    assert_code(&c.reply().await, 250);
    postfix().wait_for(&control, 1).await;
    assert!(postfix().messages_for(&long_line).is_empty());
    assert!(postfix().messages_for(&too_big).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recipients_beyond_the_limit_get_452() {
    let proxy = Proxy::start(&postfix().addr(), "limits:\n  max_recipients: 3").await;
    let mut c = ready(&proxy).await;
    assert_code(&c.cmd("MAIL FROM:<a@sender.example>").await, 250);
    let rcpts: Vec<String> = (0..4).map(|_| rcpt("max-rcpt")).collect();
    for (i, to) in rcpts.iter().enumerate() {
        let r = c.cmd(&format!("RCPT TO:<{to}>")).await;
        if i < 3 {
            assert_code(&r, 250);
        } else {
            assert_eq!(r.to_bytes().as_ref(), b"452 4.5.3 Error: too many recipients\r\n");
        }
    }
    assert_code(&c.cmd("DATA").await, 354);
    c.send(format!("{}.\r\n", message(&rcpts[0], "rcpt-limit", &["x"])).as_bytes()).await;
    assert_code(&c.reply().await, 250);
    for to in &rcpts[..3] {
        postfix().wait_for(to, 1).await;
    }
    assert!(postfix().messages_for(&rcpts[3]).is_empty());
}

/// A client that vanishes mid-DATA: nothing reaches Postfix, no temp file
/// stays. The tap between doorman and Postfix records what was sent; it is
/// read once every upstream connection has closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnect_mid_data_leaves_nothing_behind() {
    let spool = tempfile::tempdir().expect("tempdir");
    let extra = format!("data:\n  spool_memory_limit: 1KiB\n  spool_dir: {}", spool.path().display());
    let tap = Tap::start(&postfix().addr()).await;
    let proxy = Proxy::start(&tap.addr(), &extra).await;
    let to = rcpt("vanished");
    {
        let mut c = ready(&proxy).await;
        assert_code(&c.cmd("MAIL FROM:<a@sender.example>").await, 250);
        assert_code(&c.cmd(&format!("RCPT TO:<{to}>")).await, 250);
        assert_code(&c.cmd("DATA").await, 354);
        let line = "z".repeat(500);
        c.send(message(&to, "vanished", &[line.as_str(); 200]).as_bytes()).await;
        assert_eq!(std::fs::read_dir(spool.path()).expect("spool dir").count(), 0, "spool file visible");
    }
    // A later message to the same recipient is the only one delivered.
    let mut c = ready(&proxy).await;
    assert_code(&c.cmd("MAIL FROM:<a@sender.example>").await, 250);
    assert_code(&c.cmd(&format!("RCPT TO:<{to}>")).await, 250);
    assert_code(&c.cmd("DATA").await, 354);
    c.send(format!("{}.\r\n", message(&to, "second", &["x"])).as_bytes()).await;
    assert_code(&c.reply().await, 250);
    assert_code(&c.cmd("QUIT").await, 221);
    proxy.stop().await;
    tap.wait_all_closed().await;
    let sent = tap.sent_text();
    assert_eq!(sent.matches("MAIL FROM:").count(), 2, "one transaction per client: {sent}");
    assert!(
        !sent.contains("Subject: vanished") && !sent.contains(&"z".repeat(500)),
        "content of the vanished client reached Postfix"
    );
    assert_eq!(sent.matches("Subject: second").count(), 1, "{sent}");
    let got = postfix().wait_for(&to, 1).await;
    assert!(String::from_utf8_lossy(&got[0]).contains("Subject: second"));
    assert_eq!(std::fs::read_dir(spool.path()).expect("spool dir").count(), 0);
}

/// A client with a 1 KiB receive buffer that pipelines 600 KB of HELP and
/// never reads the replies: doorman's writes block. Returns once the writes
/// have started blocking (the client's own send keeps going in the background).
async fn non_reading_client(addr: std::net::SocketAddr) {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(1024).expect("SO_RCVBUF");
    let mut stream = socket.connect(addr).await.expect("connect");
    // The greeting is read (an early talker would be dropped at once).
    let mut greeting = [0u8; 64];
    let n = tokio::io::AsyncReadExt::read(&mut stream, &mut greeting).await.expect("greeting");
    assert!(greeting[..n].starts_with(b"220 "), "{:?}", String::from_utf8_lossy(&greeting[..n]));
    tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        let _ = stream.write_all("HELP\r\n".repeat(100_000).as_bytes()).await;
        // Hold the connection open, still not reading.
        tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
    });
}

/// Waits until a new connection from 127.0.0.1 is greeted: with
/// `max_connections_per_ip: 1`, the stalled session has released its slot.
async fn slot_released(proxy: &Proxy) {
    let start = std::time::Instant::now();
    loop {
        let (_, greeting) = Client::connect(proxy.addr).await;
        if greeting.code() == 220 {
            return;
        }
        assert!(start.elapsed() < crate::support::PATIENCE, "the stalled session still holds its slot: {greeting}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// The hostile review: a client that never reads held its slot forever,
/// because writes had no timeout. Now the write timeout (the idle timeout)
/// ends it, and so do the session time limit and a shutdown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_cannot_hold_its_slot() {
    let limits =
        "limits:\n  max_connections_per_ip: 1\n  max_junk_commands: 1000000\n  forbid_unauth_pipelining: off\n";
    for timeouts in ["  idle_timeout: 1s\n", "  idle_timeout: 60s\n  session_timeout: 2s\n"] {
        let proxy = Proxy::start(&postfix().addr(), &format!("{limits}{timeouts}")).await;
        non_reading_client(proxy.addr).await;
        slot_released(&proxy).await;
    }
    // Shutdown interrupts the blocked write: the server stops well within
    // its grace period (30 s by default).
    let proxy = Proxy::start(&postfix().addr(), &format!("{limits}  idle_timeout: 60s\n")).await;
    non_reading_client(proxy.addr).await;
    let start = std::time::Instant::now();
    while Client::connect(proxy.addr).await.1.code() != 421 {
        assert!(start.elapsed() < crate::support::PATIENCE, "the non-reading client never got its slot");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let stopped = tokio::time::timeout(crate::support::PATIENCE, proxy.stop()).await;
    assert!(stopped.is_ok(), "shutdown waited for the blocked write");
}

/// Commands that move no mail count: `max_junk_commands` are free (Postfix's
/// `smtpd_junk_command_limit`, 100 by default), each one beyond is also an
/// error, and the session closes at `max_errors` (20). The limit here is 50:
/// Postfix behind doorman counts the relayed EHLOs with its own limit of 100.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn junk_commands_are_limited() {
    // A pipelined flood of them (synchronization off: it would stop the
    // flood at its first line).
    let proxy =
        Proxy::start(&postfix().addr(), "limits:\n  max_junk_commands: 50\n  forbid_unauth_pipelining: off").await;
    for junk in ["NOOP", "EHLO bad!name", "RSET", "VRFY x", "HELP"] {
        let mut c = ready(&proxy).await;
        // After `ready`'s EHLO: 49 free ones, then 20 that are errors.
        c.send(format!("{junk}\r\n").repeat(300).as_bytes()).await;
        let mut answered = 0;
        let last = loop {
            let r = c.reply().await;
            if r.code() == 421 {
                break r;
            }
            answered += 1;
        };
        assert_eq!(answered, 49 + 19, "{junk}");
        assert_eq!(last.to_bytes().as_ref(), b"421 4.7.0 mx.example.test Error: too many errors\r\n", "{junk}");
        c.expect_closed().await;
    }
}

/// 60 EHLOs with a bad name: one log line for the rule, with a count, not
/// 60 (and one kept finding, not 60).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_finding_is_logged_once_with_a_count() {
    let d = crate::support::binary::Binary::start(
        &postfix().addr(),
        "helo:\n  mode: monitor\nlimits:\n  forbid_unauth_pipelining: off",
    )
    .await;
    let (mut c, _) = Client::connect(d.addr).await;
    c.send("EHLO bad!name\r\n".repeat(60).as_bytes()).await;
    for _ in 0..60 {
        assert_code(&c.reply().await, 250);
    }
    assert_code(&c.cmd("QUIT").await, 221);
    let log = d.wait_log("session closed").await;
    assert_eq!(log.matches("helo policy: would reject").count(), 1, "{log}");
    let repeated = log.lines().find(|l| l.contains("rule fired repeatedly")).unwrap_or_else(|| panic!("{log}"));
    assert!(repeated.contains("rule=\"invalid_syntax\"") && repeated.contains("count=60"), "{repeated}");
}

/// The spool has a total bound across sessions and a free-space reserve:
/// a message that would pass either gets `452 4.3.1`, nothing is left in
/// the spool directory, and the budget is given back (the next message
/// that fits is delivered).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_spool_has_a_total_bound_and_a_free_space_reserve() {
    let spool = tempfile::tempdir().expect("tempdir");
    let dir = spool.path().display();
    for (limit, big) in [("spool_max_total: 1MiB", "total"), ("spool_min_free: 1000000GiB", "reserve")] {
        let extra = format!("data:\n  spool_memory_limit: 64KiB\n  spool_dir: {dir}\n  {limit}");
        let proxy = Proxy::start(&postfix().addr(), &extra).await;
        let mut c = ready(&proxy).await;
        let to = rcpt(&format!("spool-{big}"));
        assert_code(&c.cmd("MAIL FROM:<a@sender.example>").await, 250);
        assert_code(&c.cmd(&format!("RCPT TO:<{to}>")).await, 250);
        assert_code(&c.cmd("DATA").await, 354);
        let line = "s".repeat(98);
        c.send(message(&to, big, &vec![line.as_str(); 20_000]).as_bytes()).await;
        c.send(b".\r\n").await;
        let r = c.reply().await;
        assert_eq!((r.code(), r.enhanced_code()), (452, Some("4.3.1")), "{big}: {r}");
        assert_eq!(std::fs::read_dir(spool.path()).expect("spool dir").count(), 0, "{big}: a spool file stayed");
        // A small message (kept in memory) still goes through.
        assert_code(&c.cmd("MAIL FROM:<a@sender.example>").await, 250);
        assert_code(&c.cmd(&format!("RCPT TO:<{to}>")).await, 250);
        assert_code(&c.cmd("DATA").await, 354);
        c.send(format!("{}.\r\n", message(&to, "small", &["x"])).as_bytes()).await;
        assert_code(&c.reply().await, 250);
    }
}

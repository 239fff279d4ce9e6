//! Content scanning through doorman in front of the real Postfix, with the
//! real clamd (the project's signature database) and spamd (Debian's rules,
//! network tests off). A refused message never reaches Postfix (a recording tap
//! between doorman and Postfix shows it); the session goes on. Scanner outages use a closed port or the scripted fake
//! (fault injection only).

use std::time::Duration;

use crate::support::client::{Client, assert_code};
use crate::support::content::{eicar, gtube, with_attachment};
use crate::support::fake_scanner::{self, Behaviour, Protocol};
use crate::support::postfix::postfix;
use crate::support::proxy::Proxy;
use crate::support::scanners::{clamd, spamd};
use crate::support::tap::Tap;
use crate::support::{free_port, message, rcpt};

fn scanners(clamav: &str, spamassassin: &str) -> String {
    format!(
        "scanners:\n  clamav:\n    addresses: [{clamav}]\n    timeout: 10s\n  spamassassin:\n    addresses: [{spamassassin}]\n    timeout: 2s\n"
    )
}

async fn scanning_proxy(extra: &str) -> Proxy {
    Proxy::start(&postfix().addr(), extra).await
}

/// One transaction on an open session; returns the final reply.
async fn send(c: &mut Client, to: &str, body: &str) -> doorman::wire::Reply {
    assert_code(&c.cmd("MAIL FROM:<alice@sender.example>").await, 250);
    assert_code(&c.cmd(&format!("RCPT TO:<{to}>")).await, 250);
    assert_code(&c.cmd("DATA").await, 354);
    c.send(format!("{body}.\r\n").as_bytes()).await;
    c.reply().await
}

/// A three-message session: clean, EICAR, clean. The first and third are
/// delivered with the scan headers; the middle one is refused with the
/// signature name and never reaches the Maildir. Then EICAR as a base64
/// attachment and GTUBE, both refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viruses_and_spam_are_refused_in_session() {
    let tap = Tap::start(&postfix().addr()).await;
    let proxy = Proxy::start(&tap.addr(), &scanners(&clamd().addr(), &spamd().addr())).await;
    let (mut c, _) = Client::connect(proxy.addr).await;
    assert_code(&c.cmd("EHLO client.example.net").await, 250);
    let (first, infected, third) = (rcpt("scan-first"), rcpt("scan-eicar"), rcpt("scan-third"));
    let clean = |to: &str, tag: &str| {
        message(to, tag, &["Hi Bob,", "", "the minutes of Tuesday's meeting are below.", "", "Alice"])
    };
    assert_code(&send(&mut c, &first, &clean(&first, "first")).await, 250);
    let r = send(&mut c, &infected, &message(&infected, "eicar", &[&eicar()])).await;
    assert_eq!((r.code(), r.enhanced_code()), (554, Some("5.7.1")), "{r}");
    assert!(r.to_string().contains("Eicar"), "no signature name in {r}");
    assert_code(&send(&mut c, &third, &clean(&third, "third")).await, 250);

    let attached = rcpt("scan-attachment");
    let r = send(&mut c, &attached, &with_attachment(&attached, "attachment", eicar().as_bytes())).await;
    assert_eq!(r.code(), 554, "{r}");
    let spam = rcpt("scan-gtube");
    let r = send(&mut c, &spam, &message(&spam, "gtube", &[&gtube()])).await;
    assert_eq!((r.code(), r.enhanced_code()), (554, Some("5.7.1")), "{r}");
    assert_code(&c.cmd("QUIT").await, 221);

    for to in [&first, &third] {
        let got = postfix().wait_for(to, 1).await;
        let text = String::from_utf8_lossy(&got[0]);
        assert!(text.contains("X-Virus-Scanned:") && text.contains("X-Spam-Status: No"), "{text}");
    }
    proxy.stop().await;
    tap.wait_all_closed().await;
    let sent = tap.sent_text();
    for subject in ["eicar", "attachment", "gtube"] {
        assert!(!sent.contains(&format!("Subject: {subject}\r\n")), "refused message {subject:?} reached Postfix");
    }
    assert_eq!(sent.matches("\r\n.\r\n").count(), 2, "two messages relayed, no more:\n{sent}");
}

/// A client's own verdict headers are stripped before relaying.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spoofed_scan_headers_never_reach_the_upstream() {
    let proxy = scanning_proxy(&scanners(&clamd().addr(), &spamd().addr())).await;
    let (mut c, _) = Client::connect(proxy.addr).await;
    c.cmd("EHLO client.example.net").await;
    let to = rcpt("scan-spoof");
    let body = message(&to, "spoof", &["Hi Bob,", "", "the minutes are below.", "", "Alice"]).replacen(
        "Subject:",
        "X-Spam-Status: No, spoofed\r\nX-Virus-Scanned: totally\r\nSubject:",
        1,
    );
    assert_code(&send(&mut c, &to, &body).await, 250);
    let got = postfix().wait_for(&to, 1).await;
    let text = String::from_utf8_lossy(&got[0]);
    assert!(!text.contains("spoofed") && !text.contains("totally"), "{text}");
}

/// clamd down (a closed port): on_error tempfail gives 451 4.7.1; one dead
/// endpoint among two still scans; a spamd that never answers tempfails too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scanner_failures_follow_on_error() {
    let dead = format!("127.0.0.1:{}", free_port());
    let proxy = scanning_proxy(&scanners(&dead, &spamd().addr())).await;
    let (mut c, _) = Client::connect(proxy.addr).await;
    c.cmd("EHLO client.example.net").await;
    let to = rcpt("scan-clamd-down");
    let r = send(&mut c, &to, &message(&to, "down", &["hello"])).await;
    assert_eq!((r.code(), r.enhanced_code()), (451, Some("4.7.1")), "{r}");

    let both = format!("{dead}, {}", clamd().addr());
    let proxy = scanning_proxy(&scanners(&both, &spamd().addr())).await;
    let (mut c, _) = Client::connect(proxy.addr).await;
    c.cmd("EHLO client.example.net").await;
    let to = rcpt("scan-one-down");
    let r = send(&mut c, &to, &message(&to, "one-down", &[&eicar()])).await;
    assert_eq!(r.code(), 554, "EICAR passed with one clamd endpoint down: {r}");

    let silent = fake_scanner::start(Protocol::Spamd, Behaviour::Silent).await;
    let tap = Tap::start(&postfix().addr()).await;
    let proxy = Proxy::start(&tap.addr(), &scanners(&clamd().addr(), &silent.address())).await;
    let (mut c, _) = Client::connect(proxy.addr).await;
    c.cmd("EHLO client.example.net").await;
    let to = rcpt("scan-spamd-slow");
    let started = std::time::Instant::now();
    let r = send(&mut c, &to, &message(&to, "slow", &["hello"])).await;
    assert_eq!((r.code(), r.enhanced_code()), (451, Some("4.7.1")), "{r}");
    // The client would wait 15 s for a reply; spamd's timeout ends it sooner.
    assert!(started.elapsed() < Duration::from_secs(12), "the spamd timeout did not bound the wait");
    assert_code(&c.cmd("QUIT").await, 221);
    proxy.stop().await;
    tap.wait_all_closed().await;
    assert!(!tap.sent_text().contains("Subject: slow"), "the unscanned message reached Postfix");
}

/// The hostile review: when clamd's stream broke, the second scan loaded
/// the whole spooled message into memory. A fake clamd (fault injection)
/// resets every INSTREAM after 10 MB of a 20 MB message; the replay must
/// stream from the spool, and doorman's peak RSS grow by at most 16 MiB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_clamd_stream_is_replayed_without_loading_the_message() {
    let fake = fake_scanner::start(Protocol::Clamd, Behaviour::ResetAfter { after: 10 << 20 }).await;
    let extra = format!(
        "limits:\n  max_message_size: 64MiB\nscanners:\n  clamav:\n    addresses: [\"{}\"]\n    max_size: 64MiB\n    timeout: 20s\n",
        fake.address()
    );
    let d = crate::support::binary::Binary::start(&postfix().addr(), &extra).await;
    let before = d.status_kib("VmHWM");
    let (mut c, _) = Client::connect(d.addr).await;
    assert_code(&c.cmd("EHLO client.example.net").await, 250);
    let to = rcpt("scan-replay");
    assert_code(&c.cmd("MAIL FROM:<alice@sender.example>").await, 250);
    assert_code(&c.cmd(&format!("RCPT TO:<{to}>")).await, 250);
    assert_code(&c.cmd("DATA").await, 354);
    c.send(crate::support::headers(&to, "replay").as_bytes()).await;
    let chunk = format!("{}\r\n", "r".repeat(98)).repeat(10_000);
    for _ in 0..20 {
        c.send(chunk.as_bytes()).await;
    }
    c.send(b".\r\n").await;
    let r = c.reply().await;
    assert_eq!((r.code(), r.enhanced_code()), (451, Some("4.7.1")), "{r}");
    assert_eq!(fake.connections(), 2, "the stream was not replayed");
    let grown = d.status_kib("VmHWM").saturating_sub(before);
    eprintln!("peak RSS grew by {grown} KiB for a 20 MB message scanned twice");
    assert!(grown <= 16 * 1024, "peak RSS grew by {grown} KiB");
}

/// What the scanners judge is what is delivered, doorman's added headers
/// aside. A spoofed `X-Spam-Status` followed by a whitespace-only line used
/// to be removed only on the way to the upstream, after scanning: the
/// header/body boundary the scanner saw was not the one delivered. A
/// recording spamd (fault injection only: it records and says ham) and a tap
/// before Postfix compare the two.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scanners_judge_the_bytes_that_are_delivered() {
    const HAM: &[u8] = b"SPAMD/1.1 0 EX_OK\r\nContent-length: 9\r\nSpam: False ; 0.1 / 5.0\r\n\r\nNO_RELAYS";
    let spamd =
        fake_scanner::start(Protocol::Spamd, Behaviour::Reply { delay: Duration::ZERO, reply: HAM.to_vec() }).await;
    let tap = Tap::start(&postfix().addr()).await;
    let extra = format!("scanners:\n  spamassassin:\n    addresses: [\"{}\"]\n", spamd.address());
    let proxy = Proxy::start(&tap.addr(), &extra).await;
    let (mut c, _) = Client::connect(proxy.addr).await;
    assert_code(&c.cmd("EHLO client.example.net").await, 250);
    let to = rcpt("scan-same-bytes");
    let body = message(&to, "same", &["the body"]).replacen(
        "Subject:",
        "X-Spam-Status: No, spoofed\r\n \r\nX-Evil: moved\r\nSubject:",
        1,
    );
    assert_code(&send(&mut c, &to, &body).await, 250);
    assert_code(&c.cmd("QUIT").await, 221);
    proxy.stop().await;
    tap.wait_all_closed().await;
    let sent = tap.sent_text();
    let start = sent.find("DATA\r\n").expect("DATA sent") + "DATA\r\n".len();
    let end = sent[start..].find("\r\n.\r\n").expect("final dot") + start + 2;
    let delivered = &sent[start..end];
    let scanned = spamd.spamd_messages();
    let scanned = String::from_utf8_lossy(scanned.first().expect("spamd got the message"));
    assert!(!scanned.contains("spoofed") && !delivered.contains("spoofed"), "{scanned}\n---\n{delivered}");
    let added = delivered.strip_suffix(scanned.as_ref()).unwrap_or_else(|| {
        panic!("delivered bytes are not the scanned bytes plus headers:\n{delivered}\n--- scanned:\n{scanned}")
    });
    // doorman's own: its Received (client_identity none) and the verdict.
    assert!(added.starts_with("Received: from ") && added.contains("\r\nX-Spam-Score: 0.1\r\n"), "{added}");
    let own = |l: &str| l.starts_with("Received: ") || l.starts_with("X-Spam-") || l.starts_with('\t');
    assert!(added.lines().all(own), "doorman added more than its headers: {added}");
}

/// A client that trickles its message gives back its clamd stream, as it
/// gives back its upstream session, once it is slower than 500 B/s past
/// `upstream.release_after`: slow senders cannot hold all of clamd's
/// threads while honest mail waits (`bench/compare.sh loss` saw every
/// honest message tempfailed before). The message is still scanned, from
/// the spool, after the final dot: EICAR sent after the release is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_client_gives_back_its_clamd_stream() {
    let upstream = format!("{}\n  release_after: 1s", postfix().addr());
    let clamav = format!("scanners:\n  clamav:\n    addresses: [\"{}\"]\n    timeout: 10s\n", clamd().addr());
    let d = crate::support::binary::Binary::start(&upstream, &clamav).await;
    let (mut c, _) = Client::connect(d.addr).await;
    assert_code(&c.cmd("EHLO client.example.net").await, 250);
    assert_code(&c.cmd("MAIL FROM:<alice@sender.example>").await, 250);
    assert_code(&c.cmd(&format!("RCPT TO:<{}>", rcpt("slow-clamd"))).await, 250);
    assert_code(&c.cmd("DATA").await, 354);
    let body = message("slow@example.test", "slow", &[&eicar()]);
    let (head, tail) = body.split_at(60);
    c.send(head.as_bytes()).await;
    d.wait_log("scanner stream given back").await;
    assert!(d.log_text().contains("upstream session released"), "{}", d.log_text());
    c.send(format!("{tail}.\r\n").as_bytes()).await;
    let reply = c.reply().await;
    assert_eq!(reply.code(), 554, "{reply}");
    assert!(reply.to_string().contains("Eicar"), "{reply}");
}

//! Content scanning through doorman in front of the real Postfix, with the
//! real clamd (the project's signature database) and spamd (Debian's rules,
//! network tests off). A refused message never reaches the Maildir; the
//! session goes on. Scanner outages use a closed port or the scripted fake
//! (fault injection only).

use std::time::Duration;

use crate::support::client::{Client, assert_code};
use crate::support::content::{base64, eicar, gtube};
use crate::support::fake_scanner::{self, Behaviour, Protocol};
use crate::support::postfix::postfix;
use crate::support::proxy::Proxy;
use crate::support::scanners::{clamd, spamd};
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

fn with_attachment(to: &str, subject: &str, payload: &[u8]) -> String {
    format!(
        "Date: Mon, 23 Nov 2026 06:00:00 +0000\r\nFrom: Alice <alice@sender.example>\r\nTo: <{to}>\r\n\
         Subject: {subject}\r\nMessage-ID: <{subject}.{to}>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n\
         --b1\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\
         Content-Disposition: attachment; filename=\"x.com\"\r\n\r\n{}--b1--\r\n",
        base64(payload)
    )
}

/// A three-message session: clean, EICAR, clean. The first and third are
/// delivered with the scan headers; the middle one is refused with the
/// signature name and never reaches the Maildir. Then EICAR as a base64
/// attachment and GTUBE, both refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viruses_and_spam_are_refused_in_session() {
    let proxy = scanning_proxy(&scanners(&clamd().addr(), &spamd().addr())).await;
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
    tokio::time::sleep(Duration::from_millis(300)).await;
    for to in [&infected, &attached, &spam] {
        assert!(postfix().messages_for(to).is_empty(), "{to}: a refused message was delivered");
    }
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
    let proxy = scanning_proxy(&scanners(&clamd().addr(), &silent.address())).await;
    let (mut c, _) = Client::connect(proxy.addr).await;
    c.cmd("EHLO client.example.net").await;
    let to = rcpt("scan-spamd-slow");
    let started = std::time::Instant::now();
    let r = send(&mut c, &to, &message(&to, "slow", &["hello"])).await;
    assert_eq!((r.code(), r.enhanced_code()), (451, Some("4.7.1")), "{r}");
    assert!(started.elapsed() < Duration::from_secs(8), "the spamd timeout did not bound the wait");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(postfix().messages_for(&to).is_empty());
}

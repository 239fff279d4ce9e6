//! Banner modes and the EHLO reply.

use crate::support::client::{Client, assert_code, swaks};
use crate::support::postfix::postfix;
use crate::support::proxy::Proxy;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rewrite_hides_the_upstream_software() {
    let proxy = Proxy::start(&postfix().addr(), "").await;
    let (mut c, greeting) = Client::connect(proxy.addr).await;
    assert_eq!(greeting.to_bytes().as_ref(), b"220 mx.example.test ESMTP\r\n");
    let ehlo = c.cmd("EHLO client.example.net").await;
    assert_code(&ehlo, 250);
    let lines = ehlo.lines();
    assert_eq!(lines[0], "mx.example.test");
    for hidden in ["backend", "XCLIENT", "XFORWARD", "BINARYMIME", "VRFY", "ETRN", "STARTTLS", "AUTH"] {
        assert!(!lines.iter().any(|l| l.contains(hidden)), "{hidden} leaked in {lines:?}");
    }
    // Postfix advertises 10240000, doorman's default is 25 MiB: the smaller wins.
    assert!(lines.contains(&"SIZE 10240000".to_owned()), "{lines:?}");
    assert!(lines.contains(&"PIPELINING".to_owned()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_smaller_size_limit_is_advertised_and_no_soliciting_added() {
    let proxy =
        Proxy::start(&postfix().addr(), "limits:\n  max_message_size: 1MiB\nehlo:\n  no_soliciting: \"\"").await;
    let (mut c, _) = Client::connect(proxy.addr).await;
    let ehlo = c.cmd("EHLO client.example.net").await;
    assert!(ehlo.lines().contains(&"SIZE 1048576".to_owned()), "{ehlo}");
    assert_eq!(ehlo.lines().last().map(String::as_str), Some("NO-SOLICITING"));
    let helo = c.cmd("HELO client.example.net").await;
    assert_eq!(helo.to_bytes().as_ref(), b"250 mx.example.test\r\n", "HELO gets one line");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pass_relays_the_upstream_greeting() {
    let proxy = Proxy::start(&postfix().addr(), "banner:\n  mode: pass").await;
    let (_, greeting) = Client::connect(proxy.addr).await;
    assert_eq!(greeting.lines(), ["backend.test ESMTP Postfix (Debian/GNU)"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_mode_sends_the_operators_notice() {
    let extra = "banner:\n  mode: text\n  text: |\n    {hostname} ESMTP NO UCE\n    \
                 Unsolicited commercial e-mail is prohibited (California B&P Code 17538.45).\n    {date}\n";
    let proxy = Proxy::start(&postfix().addr(), extra).await;
    let (_, greeting) = Client::connect(proxy.addr).await;
    assert_code(&greeting, 220);
    let lines = greeting.lines();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0], "mx.example.test ESMTP NO UCE");
    assert!(lines[1].contains("17538.45"));
    // {date}: the current time, RFC 5322 form with a numeric zone.
    let age = crate::support::age_of_date(&lines[2]);
    assert!(age < std::time::Duration::from_secs(300), "{{date}} is {age:?} away from now: {}", lines[2]);
    // A real client copes with the multi-line greeting.
    let rcpt = crate::support::rcpt("banner-text");
    let (ok, out) = swaks(proxy.addr, &["--to", &rcpt, "--from", "a@sender.example", "--helo", "c.example.net"]).await;
    assert!(ok, "{out}");
    postfix().wait_for(&rcpt, 1).await;
}

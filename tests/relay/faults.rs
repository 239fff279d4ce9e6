//! Upstream faults, with the scripted fake upstream (fault injection only).
//! The rule in every case: no 250 to the client unless the upstream said 2xx
//! to the final dot.

use crate::support::client::{Client, assert_code};
use crate::support::fake_upstream::{self, Step, greeting_and_ehlo};
use crate::support::proxy::Proxy;

fn until_data() -> Vec<Step> {
    let mut s = greeting_and_ehlo();
    s.extend([
        Step::Expect("MAIL FROM:<a@sender.example>"),
        Step::Send("250 2.1.0 Ok\r\n"),
        Step::Expect("RCPT TO:<b@example.test>"),
        Step::Send("250 2.1.5 Ok\r\n"),
    ]);
    s
}

async fn send_message(c: &mut Client) -> doorman::wire::Reply {
    assert_code(&c.cmd("EHLO c.example.net").await, 250);
    assert_code(&c.cmd("MAIL FROM:<a@sender.example>").await, 250);
    assert_code(&c.cmd("RCPT TO:<b@example.test>").await, 250);
    assert_code(&c.cmd("DATA").await, 354);
    // 100 KB in lines of 100 octets (a longer line would be refused by
    // doorman itself, and the fault never reached).
    let body = "Subject: t\r\n\r\n".to_owned() + &format!("{}\r\n", "0123456789".repeat(10)).repeat(1000) + ".\r\n";
    c.send(body.as_bytes()).await;
    c.reply().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_dying_mid_data_never_yields_250() {
    let mut script = until_data();
    script.extend([Step::Expect("DATA"), Step::Send("354 go\r\n"), Step::ReadBytes(5000), Step::Close]);
    let fake = fake_upstream::start(script).await;
    let proxy = Proxy::start(&fake.addr.to_string(), "").await;
    let (mut c, _) = Client::connect(proxy.addr).await;
    let r = send_message(&mut c).await;
    assert!(r.is_transient(), "expected a 4xx, got {r}");
    c.expect_closed().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_reply_to_the_final_dot_is_a_tempfail() {
    let mut script = until_data();
    script.extend([Step::Expect("DATA"), Step::Send("354 go\r\n"), Step::ExpectDataEnd, Step::Hang]);
    let fake = fake_upstream::start(script).await;
    let yaml = crate::support::proxy::config_yaml(&fake.addr.to_string(), "");
    let yaml = yaml.replace("connect_timeout: 2s", "connect_timeout: 2s\n  data_timeout: 1s");
    let config = doorman::Config::from_yaml(&yaml, std::path::Path::new("t.yaml")).expect("config");
    let proxy = Proxy::start_with(config).await;
    let (mut c, _) = Client::connect(proxy.addr).await;
    let r = send_message(&mut c).await;
    assert!(r.is_transient(), "expected a 4xx, got {r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_from_the_upstream_is_never_relayed() {
    let mut script = greeting_and_ehlo();
    script.extend([Step::Expect("MAIL"), Step::Send("25O garbage\x00\r\n")]);
    let fake = fake_upstream::start(script).await;
    let proxy = Proxy::start(&fake.addr.to_string(), "").await;
    let (mut c, _) = Client::connect(proxy.addr).await;
    assert_code(&c.cmd("EHLO c.example.net").await, 250);
    let r = c.cmd("MAIL FROM:<a@sender.example>").await;
    assert_eq!(
        r.to_bytes().as_ref(),
        b"421 4.4.2 mx.example.test Error: upstream connection failed, try again later\r\n"
    );
    c.expect_closed().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn positive_reply_to_data_instead_of_354_sends_no_content() {
    let mut script = until_data();
    script.extend([Step::Expect("DATA"), Step::Send("250 what\r\n"), Step::Drain]);
    let fake = fake_upstream::start(script).await;
    let proxy = Proxy::start(&fake.addr.to_string(), "").await;
    let (mut c, _) = Client::connect(proxy.addr).await;
    let r = send_message(&mut c).await;
    assert!(r.is_transient(), "{r}");
    drop(c);
    fake.wait_done().await;
    assert!(!fake.received_text().contains("0123456789"), "content reached the upstream");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_greeting_421_becomes_our_421() {
    let fake = fake_upstream::start(vec![Step::Send("421 4.3.2 backend.internal overloaded\r\n"), Step::Close]).await;
    let proxy = Proxy::start(&fake.addr.to_string(), "").await;
    let (mut c, greeting) = Client::connect(proxy.addr).await;
    assert_eq!(greeting.to_bytes().as_ref(), b"421 4.3.0 mx.example.test Service not available, try again later\r\n");
    c.expect_closed().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_upstream_gets_421_within_connect_timeout() {
    let fake = fake_upstream::start(vec![Step::Hang]).await;
    let yaml = crate::support::proxy::config_yaml(&fake.addr.to_string(), "");
    let yaml = yaml.replace("connect_timeout: 2s", "connect_timeout: 500ms");
    let config = doorman::Config::from_yaml(&yaml, std::path::Path::new("t.yaml")).expect("config");
    let proxy = Proxy::start_with(config).await;
    // A bound far below the 15 s a client waits, and far above 500 ms: a
    // loaded machine passes, a connect timeout that is not applied fails.
    let started = std::time::Instant::now();
    let (mut c, greeting) = Client::connect(proxy.addr).await;
    assert_eq!(greeting.code(), 421, "{greeting}");
    assert!(started.elapsed() < std::time::Duration::from_secs(10), "{:?}", started.elapsed());
    c.expect_closed().await;
}

/// The upstream closing while the client is idle closes the client too, at
/// once, with a 421 (not at the client's next command).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_close_while_idle_closes_the_client() {
    let mut script = greeting_and_ehlo();
    script.push(Step::Close);
    let fake = fake_upstream::start(script).await;
    let proxy = Proxy::start(&fake.addr.to_string(), "").await;
    let (mut c, _) = Client::connect(proxy.addr).await;
    assert_code(&c.cmd("EHLO c.example.net").await, 250);
    let r = c.reply().await;
    assert_eq!(r.code(), 421, "{r}");
    c.expect_closed().await;
}

/// An upstream whose XCLIENT does not take ADDR cannot be told who the
/// client is: the client gets `421 4.3.0`, and neither its HELO nor anything
/// after it reaches the upstream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_that_cannot_be_sent_whole_is_a_421() {
    let fake = fake_upstream::start(vec![
        Step::Send("220 fake.test ESMTP\r\n"),
        Step::Expect("EHLO mx.example.test"),
        Step::Send("250-fake.test\r\n250-XCLIENT NAME HELO PROTO\r\n250 PIPELINING\r\n"),
        Step::Drain,
    ])
    .await;
    let yaml = crate::support::proxy::config_yaml(&fake.addr.to_string(), "")
        .replace("connect_timeout: 2s", "connect_timeout: 2s\n  client_identity: xclient");
    let proxy =
        Proxy::start_with(doorman::Config::from_yaml(&yaml, std::path::Path::new("t.yaml")).expect("config")).await;
    let (mut c, _) = Client::connect(proxy.addr).await;
    let r = c.cmd("EHLO c.example.net").await;
    assert_eq!((r.code(), r.enhanced_code()), (421, Some("4.3.0")), "{r}");
    c.expect_closed().await;
    fake.wait_done().await;
    let sent = fake.received_text();
    assert!(!sent.contains("XCLIENT") && !sent.contains("c.example.net"), "{sent}");
}

/// The hostile review: the upstream answers MAIL with two replies. The
/// stray `250` must never become the reply to the pipelined RCPT: the client
/// gets `421 4.4.2`, and RCPT never reaches the upstream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stray_upstream_reply_is_never_handed_to_the_next_command() {
    let mut script = greeting_and_ehlo();
    script.extend([Step::Expect("MAIL FROM:<a@sender.example>"), Step::Send("250 Ok\r\n250 stray\r\n"), Step::Drain]);
    let fake = fake_upstream::start(script).await;
    let proxy = Proxy::start(&fake.addr.to_string(), "").await;
    let (mut c, _) = Client::connect(proxy.addr).await;
    assert_code(&c.cmd("EHLO c.example.net").await, 250);
    c.send(b"MAIL FROM:<a@sender.example>\r\nRCPT TO:<b@example.test>\r\nDATA\r\n").await;
    assert_code(&c.reply().await, 250);
    let r = c.reply().await;
    assert_eq!((r.code(), r.enhanced_code()), (421, Some("4.4.2")), "{r}");
    c.expect_closed().await;
    fake.wait_done().await;
    assert!(!fake.received_text().contains("RCPT"), "{}", fake.received_text());
}

/// The upstream answers DATA with `354` and a stray `250`, then would refuse
/// the message: the client must not get that `250` as the final reply (a
/// false acceptance), and no content reaches the upstream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stray_reply_after_354_is_never_the_final_reply() {
    let mut script = until_data();
    script.extend([Step::Expect("DATA"), Step::Send("354 go\r\n250 2.0.0 stray\r\n"), Step::Drain]);
    let fake = fake_upstream::start(script).await;
    let proxy = Proxy::start(&fake.addr.to_string(), "").await;
    let (mut c, _) = Client::connect(proxy.addr).await;
    let r = send_message(&mut c).await;
    assert_eq!((r.code(), r.enhanced_code()), (421, Some("4.4.2")), "{r}");
    c.expect_closed().await;
    fake.wait_done().await;
    assert!(!fake.received_text().contains("0123456789"), "content reached the upstream");
}

/// An upstream that says 354 and then stops reading: doorman's writes of
/// the message block, and `data_timeout` ends them. The client gets a 4xx,
/// never a hang.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_that_stops_reading_cannot_hold_the_session() {
    let mut script = until_data();
    script.extend([Step::Expect("DATA"), Step::Send("354 go\r\n"), Step::Hang]);
    let fake = fake_upstream::start(script).await;
    let yaml = crate::support::proxy::config_yaml(&fake.addr.to_string(), "limits:\n  max_message_size: 64MiB")
        .replace("connect_timeout: 2s", "connect_timeout: 2s\n  data_timeout: 1s");
    let proxy =
        Proxy::start_with(doorman::Config::from_yaml(&yaml, std::path::Path::new("t.yaml")).expect("config")).await;
    let (mut c, _) = Client::connect(proxy.addr).await;
    assert_code(&c.cmd("EHLO c.example.net").await, 250);
    assert_code(&c.cmd("MAIL FROM:<a@sender.example>").await, 250);
    assert_code(&c.cmd("RCPT TO:<b@example.test>").await, 250);
    assert_code(&c.cmd("DATA").await, 354);
    // 16 MB: far more than the kernel buffers between doorman and the fake.
    let chunk = format!("{}\r\n", "0123456789".repeat(10)).repeat(10_000);
    for _ in 0..16 {
        c.send(chunk.as_bytes()).await;
    }
    c.send(b".\r\n").await;
    let r = c.reply().await;
    assert!(r.is_transient(), "expected a 4xx, got {r}");
}

/// One time budget from the final dot to doorman's reply
/// (`limits.final_reply_timeout`): an upstream that never answers DATA (its
/// reply timeout is a minute) cannot keep the client waiting past it. The
/// client gets `451 4.4.1`, and the upstream never sees a final dot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_final_reply_comes_within_its_budget() {
    let mut script = until_data();
    script.extend([Step::Expect("DATA"), Step::Drain]);
    let fake = fake_upstream::start(script).await;
    let yaml = crate::support::proxy::config_yaml(&fake.addr.to_string(), "limits:\n  final_reply_timeout: 2s")
        .replace("connect_timeout: 2s", "connect_timeout: 2s\n  reply_timeout: 60s\n  data_timeout: 1s");
    let proxy =
        Proxy::start_with(doorman::Config::from_yaml(&yaml, std::path::Path::new("t.yaml")).expect("config")).await;
    let (mut c, _) = Client::connect(proxy.addr).await;
    let started = std::time::Instant::now();
    let r = send_message(&mut c).await;
    assert_eq!((r.code(), r.enhanced_code()), (451, Some("4.4.1")), "{r}");
    assert!(started.elapsed() < std::time::Duration::from_secs(12), "{:?}", started.elapsed());
    c.expect_closed().await;
    fake.wait_done().await;
    let sent = fake.received_text();
    assert!(!sent.contains("0123456789") && !sent.contains("\r\n.\r\n"), "{sent}");
}

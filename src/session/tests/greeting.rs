//! The greeting: banner modes, an upstream that is down, slow or refusing,
//! and early talkers under `banner.greet_delay`.

use std::time::Duration;

use tokio::time::Instant;

use super::harness::{Harness, assert_code, assert_reply};
use super::upstream::{Mta, Step, Upstream};

#[tokio::test(start_paused = true)]
async fn rewrite_hides_the_upstream_software() {
    let mut s = Harness::new().start();
    assert_eq!(s.client.reply().await.to_bytes().as_ref(), b"220 mx.example.test ESMTP\r\n");
}

#[tokio::test(start_paused = true)]
async fn pass_relays_the_upstream_greeting() {
    let mut s = Harness::new().yaml("banner:\n  mode: pass").start();
    assert_eq!(s.client.reply().await.lines(), ["backend.test ESMTP Postfix"]);
}

#[tokio::test(start_paused = true)]
async fn text_mode_sends_every_line_of_the_template() {
    let text = "banner:\n  mode: text\n  text: |\n    {hostname} ESMTP NO UCE\n    No unsolicited mail.\n";
    let mut s = Harness::new().yaml(text).start();
    let greeting = s.client.reply().await;
    assert_eq!(greeting.lines(), ["mx.example.test ESMTP NO UCE", "No unsolicited mail."]);
    assert_code(&greeting, 220);
}

/// With the late connect, the upstream's state shows at the first MAIL.
#[tokio::test(start_paused = true)]
async fn upstream_greeting_421_becomes_our_421_at_mail() {
    let script = vec![Step::Send("421 4.3.2 backend.internal overloaded\r\n"), Step::Close];
    let mut s = Harness::new().upstreams(vec![Upstream::Script(script)]).ready().await;
    assert_eq!(
        s.client.cmd("MAIL FROM:<a@example.net>").await.to_bytes().as_ref(),
        b"421 4.3.0 mx.example.test Service not available, try again later\r\n"
    );
    s.client.closed().await;
}

#[tokio::test(start_paused = true)]
async fn refused_upstream_gets_421_at_mail() {
    let mut s = Harness::new().upstreams(Vec::new()).ready().await;
    assert_reply(&s.client.cmd("MAIL FROM:<a@example.net>").await, 421, "4.3.0");
    s.client.closed().await;
}

/// Under `banner.mode: pass` the upstream is needed for the greeting: a
/// refused connection is a 421 greeting.
#[tokio::test(start_paused = true)]
async fn refused_upstream_under_pass_gets_a_421_greeting() {
    let mut s = Harness::new().yaml("banner:\n  mode: pass").upstreams(Vec::new()).start();
    assert_reply(&s.client.reply().await, 421, "4.3.0");
    s.client.closed().await;
}

/// The upstream accepts and says nothing: the client hears within
/// `upstream.connect_timeout`, not never.
#[tokio::test(start_paused = true)]
async fn silent_upstream_gets_421_within_connect_timeout() {
    let mut s = Harness::new()
        .upstream_keys("connect_timeout: 7s")
        .upstreams(vec![Upstream::Script(vec![Step::Hang])])
        .ready()
        .await;
    let started = Instant::now();
    assert_reply(&s.client.cmd("MAIL FROM:<a@example.net>").await, 421, "4.3.0");
    assert_eq!(started.elapsed(), Duration::from_secs(7));
}

const EARLY_REJECT: &str = "helo:\n  rules:\n    early_talker: reject";

#[tokio::test(start_paused = true)]
async fn early_talker_is_refused_and_the_upstream_never_hears_it() {
    let mut s = Harness::new().yaml(&format!("{EARLY_REJECT}\nbanner:\n  greet_delay: 5s")).start();
    s.client.send(b"EHLO bot.example\r\n").await;
    assert_reply(&s.client.reply().await, 554, "5.5.1");
    s.client.closed().await;
    let up = s.finished().await;
    assert!(!up.all().contains("bot.example"), "{}", up.all());
}

/// Without a greeting delay, bytes already waiting at the greeting are
/// still an early talker.
#[tokio::test(start_paused = true)]
async fn early_talker_without_a_delay_is_still_caught() {
    let mut s = Harness::new().yaml(EARLY_REJECT).start();
    s.client.send(b"EHLO bot.example\r\n").await;
    assert_reply(&s.client.reply().await, 554, "5.5.1");
}

/// `tempfail`: a 421 instead of the greeting (a greeting may only be 220,
/// 554 or 421), and the connection closes.
#[tokio::test(start_paused = true)]
async fn early_talker_under_tempfail_gets_421() {
    let mut s = Harness::new().yaml("helo:\n  rules:\n    early_talker: tempfail").start();
    s.client.send(b"EHLO bot.example\r\n").await;
    assert_reply(&s.client.reply().await, 421, "4.7.0");
    s.client.closed().await;
}

/// The default (`monitor`, as postscreen's `pregreet` action): the early
/// talker is greeted and served, as the MTA alone would; the finding is
/// counted (as every finding, it keeps the client out of the pass cache).
#[tokio::test(start_paused = true)]
async fn early_talker_is_served_by_default_and_counted() {
    let labels = crate::metrics::HeloRuleLabels { rule: "early_talker", action: "would_reject" };
    let counted = || crate::metrics::metrics().helo_rules.get_or_create(&labels).get();
    let before = counted();
    let mut s = Harness::new().yaml("banner:\n  greet_delay: 5s").start();
    s.client.send(b"EHLO bot.example\r\n").await;
    assert_code(&s.client.reply().await, 220);
    assert_code(&s.client.reply().await, 250);
    assert_code(&s.client.cmd("QUIT").await, 221);
    assert!(counted() > before);
}

#[tokio::test(start_paused = true)]
async fn a_patient_client_is_greeted_after_the_delay() {
    let started = Instant::now();
    let mut s = Harness::new().yaml("banner:\n  greet_delay: 5s").start();
    assert_code(&s.client.reply().await, 220);
    assert_eq!(started.elapsed(), Duration::from_secs(5));
}

#[tokio::test(start_paused = true)]
async fn an_exempt_client_is_not_delayed() {
    let started = Instant::now();
    let mut s = Harness::new()
        .yaml("banner:\n  greet_delay: 5s\nhelo:\n  exempt: [198.51.100.0/24]")
        .peer("198.51.100.5:4000")
        .start();
    assert_code(&s.client.reply().await, 220);
    assert_eq!(started.elapsed(), Duration::ZERO);
}

/// The multi-line greeting of an Exim or Sendmail upstream is read whole:
/// no continuation line is left to be taken for a later reply.
#[tokio::test(start_paused = true)]
async fn a_multi_line_upstream_greeting_is_consumed_whole() {
    let mta = Mta { greeting: "220-fake.test ESMTP Exim 4.44\r\n220-second\r\n220 third\r\n", ..Mta::default() };
    let mut s = Harness::new().mta(mta).greeted().await;
    let ehlo = s.client.cmd("EHLO client.example.net").await;
    assert_eq!(ehlo.lines()[0], "mx.example.test");
}

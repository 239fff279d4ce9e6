//! Hostile servers. Every server here is a hand-written fake, for fault
//! injection only (a 10 MB banner, silence, a line without CRLF, a drip,
//! a stalled TLS handshake): no real MTA misbehaves on demand. The audit
//! must end each with a finding or a clear error, within its limits.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use doorman::audit::finding::{Check, Severity};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use super::run::{audit_plan, finding, plan, severity};

const STEP: Duration = Duration::from_secs(1);
const DEADLINE: Duration = Duration::from_secs(20);

/// A fake server running `behaviour` on every connection.
pub(crate) async fn fake<F, Fut>(behaviour: F) -> SocketAddr
where
    F: Fn(TcpStream) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let behaviour = Arc::new(behaviour);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(behaviour(stream));
        }
    });
    addr
}

/// Holds the connection open, silent.
pub(crate) async fn hold(stream: TcpStream) {
    tokio::time::sleep(Duration::from_secs(3600)).await;
    drop(stream);
}

/// What the fake does after its 220 to STARTTLS.
#[derive(Clone, Copy)]
enum AfterStarttls {
    Silence,
    Garbage,
}

/// A minimal dialogue: greeting, EHLO with STARTTLS, 250 to the rest.
async fn dialogue(mut stream: TcpStream, greeting: &'static [&'static [u8]], tls: AfterStarttls) {
    for (i, part) in greeting.iter().enumerate() {
        if i > 0 {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let _ = stream.write_all(part).await;
    }
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let reply: &[u8] = match line.to_ascii_uppercase().as_str() {
            l if l.starts_with("EHLO") => b"250-fake.test\r\n250-SIZE 1000000\r\n250 STARTTLS\r\n",
            "STARTTLS" => b"220 2.0.0 go ahead\r\n",
            "QUIT" => b"221 bye\r\n",
            _ => b"250 2.0.0 ok\r\n",
        };
        let _ = write.write_all(reply).await;
        if line.eq_ignore_ascii_case("STARTTLS") {
            match tls {
                AfterStarttls::Silence => tokio::time::sleep(Duration::from_secs(3600)).await,
                AfterStarttls::Garbage => drop(write.write_all(b"this is not TLS\r\n").await),
            }
            return;
        }
    }
}

#[tokio::test]
async fn a_10_mb_banner_is_cut_off_at_64_kib() {
    let addr = fake(|mut s: TcpStream| async move {
        let _ = s.write_all(b"220-").await;
        let chunk = vec![b'x'; 1 << 20];
        for _ in 0..10 {
            if s.write_all(&chunk).await.is_err() {
                return;
            }
        }
    })
    .await;
    let start = Instant::now();
    let r = audit_plan(plan(&addr.to_string(), STEP, DEADLINE), None).await;
    let f = finding(&r.direct, Check::BannerIncomplete);
    assert_eq!(f.severity, Severity::High);
    assert!(f.title.contains("too big"), "{f:?}");
    assert!(f.evidence.starts_with("65536 bytes"), "read no more than 64 KiB: {f:?}");
    assert!(start.elapsed() < Duration::from_secs(5), "{:?}", start.elapsed());
    assert_eq!(r.exit_code, 2);
}

#[tokio::test]
async fn a_server_that_never_greets_is_an_error_within_the_step_limit() {
    let addr = fake(hold).await;
    let start = Instant::now();
    let r = audit_plan(plan(&addr.to_string(), STEP, DEADLINE), None).await;
    assert_eq!(r.direct.error.as_deref(), Some(format!("{addr}: no greeting within 1s").as_str()));
    assert!(start.elapsed() < Duration::from_secs(3), "{:?}", start.elapsed());
    assert_eq!(r.exit_code, 3);
}

#[tokio::test]
async fn a_greeting_without_crlf_is_a_finding() {
    let addr = fake(|mut s: TcpStream| async move {
        let _ = s.write_all(b"220 fake.test ESMTP ready").await;
        hold(s).await;
    })
    .await;
    let r = audit_plan(plan(&addr.to_string(), STEP, DEADLINE), None).await;
    let f = finding(&r.direct, Check::BannerIncomplete);
    assert!(f.title.starts_with("no complete greeting before the time limit"), "{f:?}");
    assert_eq!(f.evidence, "25 bytes: 220 fake.test ESMTP ready (+1 lines)");
    assert_eq!(r.direct.surface[0].lines, ["220 fake.test ESMTP ready", "(no complete reply: timed out)"]);
    assert_eq!(r.exit_code, 2);
}

#[tokio::test]
async fn a_drip_fed_greeting_is_bounded_by_the_step_limit() {
    let addr = fake(|mut s: TcpStream| async move {
        let _ = s.write_all(b"220 fake.test ").await;
        for _ in 0..36_000 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if s.write_all(b"x").await.is_err() {
                return;
            }
        }
    })
    .await;
    let start = Instant::now();
    let r = audit_plan(plan(&addr.to_string(), STEP, DEADLINE), None).await;
    assert_eq!(severity(&r.direct, Check::BannerIncomplete), Some(Severity::High));
    assert!(start.elapsed() < Duration::from_secs(3), "{:?}", start.elapsed());
}

#[tokio::test]
async fn a_greeting_sent_in_pieces_is_flagged() {
    let addr = fake(|s| dialogue(s, &[b"220-fake.test ESMTP\r\n", b"220 ready\r\n"], AfterStarttls::Garbage)).await;
    let r = audit_plan(plan(&addr.to_string(), STEP, DEADLINE), None).await;
    let split = finding(&r.direct, Check::BannerSplit);
    assert_eq!(
        (split.severity, split.title.as_str()),
        (Severity::Low, "the greeting came in 2 reads: a client that reads once sees part of it")
    );
}

#[tokio::test]
async fn tls_that_never_starts_or_is_garbage_fails_within_the_limit() {
    for (tls, error) in
        [(AfterStarttls::Silence, "no handshake within 1s"), (AfterStarttls::Garbage, "handshake failed")]
    {
        let addr = fake(move |s| dialogue(s, &[b"220 fake.test ESMTP\r\n"], tls)).await;
        let start = Instant::now();
        let r = audit_plan(plan(&addr.to_string(), STEP, DEADLINE), None).await;
        let f = finding(&r.direct, Check::TlsFailed);
        assert_eq!((f.severity, f.title.as_str()), (Severity::High, "STARTTLS fails at the handshake"));
        assert!(f.evidence.starts_with(error), "{f:?}");
        assert!(start.elapsed() < Duration::from_secs(8), "{:?}", start.elapsed());
    }
}

#[tokio::test]
async fn a_server_that_stops_answering_after_the_greeting() {
    let addr = fake(|mut s: TcpStream| async move {
        let _ = s.write_all(b"220 fake.test ESMTP\r\n").await;
        hold(s).await;
    })
    .await;
    let start = Instant::now();
    let r = audit_plan(plan(&addr.to_string(), STEP, DEADLINE), None).await;
    let f = finding(&r.direct, Check::ProbeIncomplete);
    assert_eq!(f.evidence, "EHLO doorman-audit.invalid: no complete reply in time");
    for unclear in [Check::SyncEarlyTalker, Check::SyncPipelining] {
        assert!(finding(&r.direct, unclear).title.ends_with("inconclusive"), "{unclear:?}");
    }
    assert!(start.elapsed() < Duration::from_secs(8), "{:?}", start.elapsed());
}

#[tokio::test]
async fn the_deadline_ends_the_whole_audit() {
    let addr = fake(|mut s: TcpStream| async move {
        let _ = s.write_all(b"220 fake.test ESMTP\r\n").await;
        hold(s).await;
    })
    .await;
    let start = Instant::now();
    let r = audit_plan(plan(&addr.to_string(), Duration::from_secs(30), Duration::from_secs(2)), None).await;
    assert!(start.elapsed() < Duration::from_secs(5), "{:?}", start.elapsed());
    assert_eq!(severity(&r.direct, Check::ProbeIncomplete), Some(Severity::Low), "{:#?}", r.direct);
}

#[tokio::test]
async fn refusals_and_closed_ports_are_errors() {
    let addr = fake(|mut s: TcpStream| async move {
        let _ = s.write_all(b"554 5.7.1 fake.test no service for you\r\n").await;
    })
    .await;
    let r = audit_plan(plan(&addr.to_string(), STEP, DEADLINE), None).await;
    assert_eq!(r.direct.error, Some(format!("{addr} refused the session: 554 5.7.1 fake.test no service for you")));
    assert_eq!(r.exit_code, 3);
    let closed = TcpListener::bind("127.0.0.1:0").await.expect("bind").local_addr().expect("addr");
    let r = audit_plan(plan(&closed.to_string(), STEP, DEADLINE), None).await;
    assert!(r.direct.error.as_deref().is_some_and(|e| e.starts_with(&format!("cannot connect to {closed}"))), "{r:?}");
}

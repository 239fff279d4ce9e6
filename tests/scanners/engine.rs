//! The engine: failure policies, endpoint pools, concurrency and
//! cancellation. Faults come from the scripted fake (fault injection only);
//! verdicts from the real daemons.

use std::time::Duration;

use doorman::scan::{ScanAction, ScanContext, ScanEngine};
use doorman::spool::Spool;

use crate::support::eventually;
use crate::support::fake_scanner::{self, Behaviour, Protocol};
use crate::support::scanners::{clamd, spamd};
use crate::{clean_message, closed_port, ctx, eicar, engine, refusal, result, scan, scan_with};

const SPAMD_HAM: &[u8] = b"SPAMD/1.1 0 EX_OK\r\nContent-length: 9\r\nSpam: False ; 0.1 / 5.0\r\n\r\nNO_RELAYS";

fn clamav_at(addr: &str, extra: &str) -> String {
    format!("clamav:\n  addresses: [\"{addr}\"]\n{extra}")
}

fn spamd_at(addr: &str, extra: &str) -> String {
    format!("spamassassin:\n  addresses: [\"{addr}\"]\n{extra}")
}

#[tokio::test]
async fn clamd_not_listening_applies_on_error() {
    let dead = closed_port();
    let msg = clean_message("down");
    for (policy, want) in [
        ("", Some("451 4.7.1 ")),
        ("  on_error: tempfail\n", Some("451 4.7.1 ")),
        ("  on_error: reject\n", Some("554 5.7.1 ")),
        ("  on_error: accept\n", None),
    ] {
        let e = engine(&clamav_at(&dead, policy));
        let (o, _) = scan(&e, msg.as_bytes()).await;
        assert_eq!(result(&o, "clamav").outcome, "error_connect", "{policy}");
        match want {
            Some(prefix) => assert!(refusal(&o).starts_with(prefix), "{policy}: {o:?}"),
            None => {
                assert_eq!(o.action, ScanAction::Deliver);
                assert_eq!(o.headers, "X-Doorman-Scan: clamav=unscanned(connect)\r\n");
            }
        }
    }
    let e = engine("clamav:\n  addresses: [\"unix:/nonexistent/clamd.sock\"]\n");
    let (o, _) = scan(&e, msg.as_bytes()).await;
    assert_eq!(result(&o, "clamav").outcome, "error_connect");
    let text = refusal(&o);
    assert!(text.starts_with("451 4.7.1 Error: message could not be scanned, try again later (id T"), "{text}");
}

/// Security checklist item 89: garbage and error replies are errors, never
/// clean and never a virus.
#[tokio::test]
async fn clamd_garbage_replies_are_errors() {
    let cases: [(&[u8], &str); 7] = [
        (b"", "error_protocol"),
        (b"stream: OK", "error_protocol"),
        (b"stream: OK\n", "error_protocol"),
        (b"\xff\xfe\x00\x01", "error_protocol"),
        (b"UNKNOWN COMMAND\0", "error_protocol"),
        (b"Something failed ERROR\0", "error_scanner"),
        (b"stream: Eicar FOUND", "error_protocol"),
    ];
    for (reply, outcome) in cases {
        let fake =
            fake_scanner::start(Protocol::Clamd, Behaviour::Reply { delay: Duration::ZERO, reply: reply.to_vec() })
                .await;
        let e = engine(&clamav_at(&fake.address(), ""));
        let (o, _) = scan(&e, clean_message("garbage").as_bytes()).await;
        assert_eq!(result(&o, "clamav").outcome, outcome, "{reply:?}");
        assert!(refusal(&o).starts_with("451 4.7.1 "), "{reply:?}");
        // A broken stream or garbage gets one more try from the spool.
        let tries = if outcome == "error_protocol" { 2 } else { 1 };
        assert_eq!(fake.requests(), tries, "{reply:?}");
    }
}

/// Security checklist item 90: a reset in the middle of INSTREAM.
#[tokio::test]
async fn clamd_reset_mid_stream_is_an_error() {
    let fake = fake_scanner::start(Protocol::Clamd, Behaviour::ResetAfter { after: 100 }).await;
    let e = engine(&clamav_at(&fake.address(), ""));
    let mut msg = clean_message("reset");
    while msg.len() < 300 * 1024 {
        msg.push_str(&("r".repeat(200) + "\r\n"));
    }
    let (o, _) = scan_with(&e, ctx(), msg.as_bytes(), 8 * 1024).await;
    let outcome = result(&o, "clamav").outcome;
    assert!(outcome == "error_io" || outcome == "error_protocol", "{o:?}");
    assert!(refusal(&o).starts_with("451 "));
}

/// A stream that breaks (clamd restarted, clamd's own ReadTimeout while
/// the client paused) is scanned again from the spool on the next endpoint.
#[tokio::test]
async fn broken_stream_is_replayed_on_the_next_endpoint() {
    let fake = fake_scanner::start(Protocol::Clamd, Behaviour::ResetAfter { after: 100 }).await;
    let e =
        engine(&format!("clamav:\n  addresses: [\"{}\", \"{}\"]\n  backoff: 30s\n", fake.address(), clamd().addr()));
    let mut msg = clean_message("replay").replace("Alice", &eicar());
    while msg.len() < 300 * 1024 {
        msg.push_str(&("p".repeat(200) + "\r\n"));
    }
    let (o, _) = scan_with(&e, ctx(), msg.as_bytes(), 8 * 1024).await;
    assert_eq!(fake.connections(), 1);
    assert_eq!(result(&o, "clamav").outcome, "infected", "{o:?}");
}

/// Security checklist item 88: clamd accepts, then never answers.
#[tokio::test]
async fn clamd_stalled_verdict_times_out() {
    let fake = fake_scanner::start(Protocol::Clamd, Behaviour::Silent).await;
    let e = engine(&clamav_at(&fake.address(), "  timeout: 300ms\n"));
    let (o, took) = scan(&e, clean_message("stall").as_bytes()).await;
    assert_eq!(result(&o, "clamav").outcome, "error_timeout");
    assert!(refusal(&o).starts_with("451 4.7.1 "));
    assert!(took >= Duration::from_millis(290) && took < Duration::from_secs(10), "{took:?}");
}

/// Security checklist item 92: spamd too slow.
#[tokio::test]
async fn spamd_too_slow_applies_on_error() {
    let fake = fake_scanner::start(Protocol::Spamd, Behaviour::Silent).await;
    let e = engine(&spamd_at(&fake.address(), "  timeout: 300ms\n"));
    let (o, took) = scan(&e, clean_message("slow").as_bytes()).await;
    assert_eq!(result(&o, "spamassassin").outcome, "error_timeout");
    assert!(refusal(&o).starts_with("451 4.7.1 "), "{o:?}");
    assert!(took >= Duration::from_millis(290) && took < Duration::from_secs(10), "{took:?}");
    // Under accept: relayed, marked, never a silent "score 0".
    let e = engine(&spamd_at(&fake.address(), "  timeout: 300ms\n  on_error: accept\n"));
    let (o, _) = scan(&e, clean_message("slow2").as_bytes()).await;
    assert_eq!(o.action, ScanAction::Deliver);
    assert_eq!(o.headers, "X-Doorman-Scan: spamassassin=unscanned(timeout)\r\n");
}

#[tokio::test]
async fn spamd_garbage_replies_are_errors() {
    let cases: [(&[u8], &str); 4] = [
        (
            b"SPAMD/1.0 76 Bad header line: (Content-Length mismatch: Expected 265 bytes, got 165 bytes)\r\n",
            "error_scanner",
        ),
        (b"SPAMD/1.1 0 EX_OK\r\n", "error_protocol"),
        (b"SPAMD/1.1 0 EX_OK\r\nSpam: True ; 1000.0", "error_protocol"),
        (b"", "error_protocol"),
    ];
    for (reply, outcome) in cases {
        let fake =
            fake_scanner::start(Protocol::Spamd, Behaviour::Reply { delay: Duration::ZERO, reply: reply.to_vec() })
                .await;
        let e = engine(&spamd_at(&fake.address(), ""));
        let (o, _) = scan(&e, clean_message("sgarbage").as_bytes()).await;
        assert_eq!(result(&o, "spamassassin").outcome, outcome, "{reply:?}");
        assert!(refusal(&o).starts_with("451 4.7.1 "), "{reply:?}");
    }
}

/// One of two clamd endpoints is down: every message is still scanned,
/// and the dead endpoint is tried once, then skipped during its backoff.
#[tokio::test]
async fn one_of_two_clamd_endpoints_down_still_scans() {
    let e = engine(&format!("clamav:\n  addresses: [\"{}\", \"{}\"]\n  backoff: 30s\n", closed_port(), clamd().addr()));
    for i in 0..6 {
        let (o, _) = scan(&e, clean_message(&format!("pool{i}")).as_bytes()).await;
        assert_eq!(result(&o, "clamav").outcome, "clean", "message {i}: {o:?}");
    }
    let msg = clean_message("pool-virus").replace("Alice", &eicar());
    let (o, _) = scan(&e, msg.as_bytes()).await;
    assert_eq!(result(&o, "clamav").outcome, "infected");
}

/// A virus verdict does not wait for a slow spamd: the spam check is
/// cancelled (had it been awaited, its outcome would be `ham`, after 60 s).
#[tokio::test]
async fn virus_verdict_does_not_wait_for_slow_spamd() {
    let slow = fake_scanner::start(
        Protocol::Spamd,
        Behaviour::Reply { delay: Duration::from_secs(60), reply: SPAMD_HAM.to_vec() },
    )
    .await;
    let e = engine(&format!("{}{}", clamav_at(&clamd().addr(), ""), spamd_at(&slow.address(), "  timeout: 120s\n")));
    let msg = clean_message("fast-virus").replace("Alice", &eicar());
    let (o, _) = scan(&e, msg.as_bytes()).await;
    assert!(refusal(&o).contains("Doorman.Eicar-Test-Signature"), "{o:?}");
    assert_eq!(result(&o, "spamassassin").outcome, "cancelled");
}

/// clamd and spamd each answer only once the other has the whole message:
/// scanners asked one after the other would both time out.
#[tokio::test]
async fn scanners_run_concurrently() {
    let all = std::sync::Arc::new(tokio::sync::Barrier::new(2));
    let clam = fake_scanner::start(
        Protocol::Clamd,
        Behaviour::ReplyTogether { all: all.clone(), reply: b"stream: OK\0".to_vec() },
    )
    .await;
    let sa = fake_scanner::start(Protocol::Spamd, Behaviour::ReplyTogether { all, reply: SPAMD_HAM.to_vec() }).await;
    let e = engine(&format!(
        "{}{}",
        clamav_at(&clam.address(), "  timeout: 10s\n"),
        spamd_at(&sa.address(), "  timeout: 10s\n")
    ));
    let (o, _) = scan(&e, clean_message("both").as_bytes()).await;
    assert_eq!(o.action, ScanAction::Deliver, "{o:?}");
    assert_eq!(
        o.headers,
        "X-Virus-Scanned: clamav (doorman)\r\nX-Spam-Score: 0.1\r\nX-Spam-Status: No, score=0.1 required=5.0 tests=NO_RELAYS\r\n"
    );
}

/// Security checklist item 95: one scanner clean, the other failing: 451.
#[tokio::test]
async fn one_clean_one_failing_tempfails() {
    let e = engine(&format!("{}{}", clamav_at(&clamd().addr(), ""), spamd_at(&closed_port(), "")));
    let (o, _) = scan(&e, clean_message("mixed").as_bytes()).await;
    assert_eq!(result(&o, "clamav").outcome, "clean");
    assert_eq!(result(&o, "spamassassin").outcome, "error_connect");
    assert!(refusal(&o).starts_with("451 4.7.1 "));
}

/// Real clamd and real spamd on the same clean message.
#[tokio::test]
async fn clean_message_through_both_real_scanners() {
    let e = engine(&format!("{}{}", clamav_at(&clamd().addr(), ""), spamd_at(&spamd().addr(), "  timeout: 20s\n")));
    let (o, took) = scan(&e, clean_message("both-real").as_bytes()).await;
    assert_eq!(o.action, ScanAction::Deliver, "{o:?}");
    assert!(o.headers.starts_with("X-Virus-Scanned: clamav (doorman)\r\nX-Spam-Score: "), "{}", o.headers);
    eprintln!("clamd + spamd on a clean message: {took:?}");
}

#[tokio::test]
async fn authenticated_sessions_may_skip_a_scanner() {
    let e = engine(&format!(
        "{}{}",
        clamav_at(&clamd().addr(), ""),
        spamd_at(&closed_port(), "  skip_authenticated: true\n")
    ));
    let authed = ScanContext { authenticated: true, ..ctx() };
    let (o, _) = scan_with(&e, authed, clean_message("authed").as_bytes(), 4096).await;
    assert_eq!(o.action, ScanAction::Deliver, "{o:?}");
    assert_eq!(result(&o, "spamassassin").outcome, "skipped");
    assert_eq!(
        o.headers,
        "X-Virus-Scanned: clamav (doorman)\r\nX-Doorman-Scan: spamassassin=skipped(authenticated)\r\n"
    );
}

/// `abort` closes clamd's stream before its end marker: nothing keeps running.
#[tokio::test]
async fn abort_cancels_the_stream() {
    let fake = fake_scanner::start(
        Protocol::Clamd,
        Behaviour::Reply { delay: Duration::ZERO, reply: b"stream: OK\0".to_vec() },
    )
    .await;
    let e = engine(&clamav_at(&fake.address(), ""));
    let mut scan = e.start(ctx());
    scan.feed(b"Subject: x\r\n\r\nbody\r\n").await;
    eventually("clamd connected", || fake.connections() == 1).await;
    scan.abort();
    eventually("the stream was cut short", || fake.cut_short() == 1).await;
    assert_eq!((fake.cut_short(), fake.requests()), (1, 0));
}

#[tokio::test]
async fn no_scanners_configured_delivers_unchanged() {
    let e = ScanEngine::default();
    assert!(!e.is_enabled());
    let mut spool = Spool::new(1024, None);
    let o = e.start(ctx()).finish(&mut spool).await;
    assert_eq!(o.action, ScanAction::Deliver);
    assert!(o.headers.is_empty() && o.results.is_empty());
}

/// Reply templates with the operator URL and the session id.
#[tokio::test]
async fn reply_templates_name_url_and_session() {
    let fake = fake_scanner::start(
        Protocol::Spamd,
        Behaviour::Reply {
            delay: Duration::ZERO,
            reply: b"SPAMD/1.1 0 EX_OK\r\nSpam: True ; 1000.0 / 5.0\r\n\r\n".to_vec(),
        },
    )
    .await;
    let e = engine(&format!(
        "{}url: https://help.example/unblock\nreplies:\n  spam: \"Spam (score {{score}}); if this is wrong see {{url}}?id={{session_id}}\"\n",
        spamd_at(&fake.address(), "")
    ));
    let c = ScanContext { session_id: "abc123".into(), ..Default::default() };
    let (o, _) = scan_with(&e, c, clean_message("tmpl").as_bytes(), 1024).await;
    assert_eq!(
        refusal(&o),
        "554 5.7.1 Spam (score 1000.0); if this is wrong see https://help.example/unblock?id=abc123"
    );
}

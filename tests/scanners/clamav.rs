//! clamd: verdicts from the real daemon with the project's signatures, over
//! TCP and the unix socket, streamed in pieces; the size limits.

use doorman::config::Clamav;
use doorman::scan::clamav::ClamdClient;
use doorman::scan::{ScanAction, Scanner, Verdict};

use crate::support::scanners::{CLAMD_STREAM_MAX, clamd};
use crate::{clean_message, ctx, eicar, engine, refusal, result, scan, scan_with, with_attachment};

fn config(extra: &str) -> String {
    format!("clamav:\n  addresses: [\"{}\"]\n  timeout: 10s\n{extra}", clamd().addr())
}

#[tokio::test]
async fn clean_message_is_delivered_with_virus_scanned_header() {
    let e = engine(&config(""));
    let (o, _) = scan(&e, clean_message("clamclean").as_bytes()).await;
    assert_eq!(o.action, ScanAction::Deliver, "{o:?}");
    assert_eq!(o.headers, "X-Virus-Scanned: clamav (doorman)\r\n");
    let r = result(&o, "clamav");
    assert_eq!(r.outcome, "clean");
}

#[tokio::test]
async fn eicar_in_the_body_is_refused_with_the_signature_name() {
    let e = engine(&config(""));
    let msg = clean_message("eicar").replace("Alice", &eicar());
    // 7-byte pieces: the signature straddles many INSTREAM chunks.
    let (o, _) = scan_with(&e, ctx(), msg.as_bytes(), 7).await;
    let text = refusal(&o);
    assert!(text.starts_with("554 5.7.1 ") && text.contains("Doorman.Eicar-Test-Signature.UNOFFICIAL"), "{text}");
    assert_eq!(result(&o, "clamav").outcome, "infected");
    assert_eq!(result(&o, "clamav").detail.as_deref(), Some("Doorman.Eicar-Test-Signature.UNOFFICIAL"));
    assert!(o.headers.is_empty());
}

#[tokio::test]
async fn eicar_as_a_base64_attachment_is_refused() {
    let e = engine(&config(""));
    let msg = with_attachment("bob@example.test", "report", eicar().as_bytes());
    assert!(!msg.contains("EICAR-STANDARD"), "the attachment is encoded");
    let (o, _) = scan(&e, msg.as_bytes()).await;
    let text = refusal(&o);
    assert!(text.contains("Doorman.Eicar-Test-Signature.UNOFFICIAL"), "{text}");
}

#[tokio::test]
async fn project_marker_over_the_unix_socket() {
    let sock = clamd().unix_socket();
    let e = engine(&format!("clamav:\n  addresses: [\"unix:{}\"]\n", sock.display()));
    let msg = clean_message("marker").replace("Alice", "DOORMAN-TEST-VIRUS-7f3a9c");
    let (o, _) = scan(&e, msg.as_bytes()).await;
    let text = refusal(&o);
    assert!(text.contains("Doorman.TestVirus.UNOFFICIAL"), "{text}");
    assert!(text.contains("(id T"), "{text}");
}

/// Over clamd's StreamMaxLength (1M here) clamd answers `INSTREAM size
/// limit exceeded. ERROR` and closes: that is "too big" (default on_too_big:
/// reject, 552), never clean and never a virus.
#[tokio::test]
async fn over_clamd_stream_max_length_is_too_big() {
    let e = engine(&config("  max_size: 8MiB\n"));
    let mut msg = clean_message("huge");
    let line = "y".repeat(998) + "\r\n";
    while msg.len() <= CLAMD_STREAM_MAX + 512 * 1024 {
        msg.push_str(&line);
    }
    let (o, _) = scan_with(&e, ctx(), msg.as_bytes(), 64 * 1024).await;
    assert_eq!(result(&o, "clamav").outcome, "too_big", "{o:?}");
    assert!(refusal(&o).starts_with("552 5.3.4 "), "{o:?}");
}

/// doorman's own `max_size` stops streaming without relying on clamd (whose
/// limit here is 1 MiB: had the 200 KiB gone to clamd, it would say clean);
/// under `on_too_big: accept` the message goes on, marked unscanned.
#[tokio::test]
async fn over_own_max_size_stops_streaming() {
    let e = engine(&config("  max_size: 64KiB\n  on_too_big: accept\n"));
    let mut msg = clean_message("big");
    while msg.len() <= 200 * 1024 {
        msg.push_str(&("z".repeat(78) + "\r\n"));
    }
    let (o, _) = scan(&e, msg.as_bytes()).await;
    assert_eq!(o.action, ScanAction::Deliver);
    assert_eq!(result(&o, "clamav").outcome, "too_big");
    assert_eq!(o.headers, "X-Doorman-Scan: clamav=unscanned(too_big)\r\n");
}

#[tokio::test]
async fn client_ping_and_whole_message_scan() {
    let cfg: Clamav = serde_saphyr::from_str(&format!("addresses: [\"{}\"]\n", clamd().addr())).expect("config");
    let client = ClamdClient::new(&cfg);
    client.ping().await.expect("PING");
    let v = client.scan(clean_message("whole").into(), &ctx()).await.expect("scan");
    assert_eq!(v, Verdict::Clean);
    let v = client.scan(format!("x{}x", eicar()).into(), &ctx()).await.expect("scan");
    assert_eq!(v, Verdict::Infected { signature: "Doorman.Eicar-Test-Signature.UNOFFICIAL".into() });
}

/// Connections are reused (IDSESSION): five messages, one after the other,
/// including a virus, travel over one clamd connection.
#[tokio::test]
async fn sessions_are_reused_across_messages() {
    let cfg: Clamav = serde_saphyr::from_str(&format!("addresses: [\"{}\"]\n", clamd().addr())).expect("config");
    let client = ClamdClient::new(&cfg);
    for i in 0..5 {
        let body = if i == 2 { clean_message("reuse").replace("Alice", &eicar()) } else { clean_message("reuse") };
        let verdict = client.scan(bytes::Bytes::from(body), &ctx()).await.expect("a verdict");
        assert_eq!(matches!(verdict, Verdict::Infected { .. }), i == 2, "{verdict:?}");
        assert_eq!(client.idle_sessions(), 1, "message {i} did not reuse the session");
    }
    assert_eq!(client.connections_opened(), 1);
}

/// A slow client gives its clamd stream back (`MessageScan::release_stream`,
/// called by the session once the message is slower than 500 B/s past
/// `upstream.release_after`): the stream is closed at once, and the spooled
/// message is streamed again after the final dot, so a virus that arrives
/// after the release is still found, and a clean message still passes.
#[tokio::test]
async fn a_released_stream_scans_the_spool_after_the_final_dot() {
    let e = engine(&config(""));
    for (body, infected) in
        [(clean_message("released").replace("Alice", &eicar()), true), (clean_message("released"), false)]
    {
        let (head, tail) = body.as_bytes().split_at(40);
        let mut spool = doorman::spool::Spool::new(256 * 1024, None);
        let mut scan = e.start(ctx());
        spool.append(head).await.expect("spool write");
        scan.feed(head).await;
        assert!(scan.holds_stream());
        scan.release_stream();
        assert!(!scan.holds_stream(), "the stream is given back");
        spool.append(tail).await.expect("spool write");
        scan.feed(tail).await;
        let outcome = scan.finish(&mut spool).await;
        assert_eq!(result(&outcome, "clamav").outcome, if infected { "infected" } else { "clean" }, "{outcome:?}");
    }
}

//! BDAT (RFC 3030): chunks are read by their size and never run as
//! commands, relayed by DATA (stuffed) or by one BDAT, and a chunk that
//! cannot be taken is still read to its end.

use super::harness::{Harness, assert_code, assert_reply};
use super::upstream::Mta;

const NO_CHUNKING: &str = "250-backend.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE 10240000\r\n";
const BINARY: &str = "250-backend.test\r\n250-8BITMIME\r\n250-CHUNKING\r\n250 BINARYMIME\r\n";
/// A chunk whose octets hold a fake end of data and a second transaction.
const SMUGGLED: &[u8] =
    b"Subject: one\r\n\r\nbody\r\n.\r\nMAIL FROM:<evil@example.net>\r\nRCPT TO:<victim@example.test>\r\n";

fn bdat(chunk: &[u8], last: bool) -> Vec<u8> {
    let mut out = format!("BDAT {}{}\r\n", chunk.len(), if last { " LAST" } else { "" }).into_bytes();
    out.extend_from_slice(chunk);
    out
}

async fn open_transaction(s: &mut super::harness::Running) {
    assert_code(&s.client.cmd("EHLO client.example.net").await, 250);
    assert_code(&s.client.cmd("MAIL FROM:<alice@sender.example>").await, 250);
    assert_code(&s.client.cmd("RCPT TO:<bob@example.test>").await, 250);
}

/// An upstream without CHUNKING gets DATA: the dot line in the chunk is
/// stuffed, and the only end of data is the one doorman writes.
#[tokio::test(start_paused = true)]
async fn chunks_go_by_data_stuffed_to_an_upstream_without_chunking() {
    let mta = Mta { ehlo: NO_CHUNKING, ..Mta::default() };
    let mut s = Harness::new().known(Some(NO_CHUNKING)).mta(mta).greeted().await;
    open_transaction(&mut s).await;
    s.client.send(&bdat(SMUGGLED, false)).await;
    assert_reply(&s.client.reply().await, 250, "2.0.0");
    s.client.send(&bdat(b"tail\r\n", true)).await;
    assert_code(&s.client.reply().await, 250);
    let up = s.upstream().all();
    assert!(up.contains("\r\nDATA\r\n"), "{up}");
    assert!(
        up.contains("body\r\n..\r\nMAIL FROM:<evil@example.net>\r\nRCPT TO:<victim@example.test>\r\ntail\r\n.\r\n"),
        "{up}"
    );
    assert_eq!(up.matches("\r\n.\r\n").count(), 1, "{up}");
    assert_eq!(up.matches("MAIL FROM:").count(), 2, "the client's and the content line: {up}");
}

/// An upstream that offers CHUNKING gets one `BDAT <size> LAST` with the
/// octets as they came (doorman's own header in front).
#[tokio::test(start_paused = true)]
async fn chunks_go_as_one_bdat_to_an_upstream_with_chunking() {
    let mut s = Harness::new().ready().await;
    open_transaction(&mut s).await;
    s.client.send(&[bdat(SMUGGLED, false), bdat(b"tail\r\n", false), bdat(b"", true)].concat()).await;
    for _ in 0..3 {
        assert_code(&s.client.reply().await, 250);
    }
    let up = s.upstream().all();
    let at = up.find("BDAT ").expect("a BDAT");
    let (line, rest) = up[at..].split_once("\r\n").expect("a line");
    let size: usize = line["BDAT ".len()..].trim_end_matches(" LAST").parse().expect("a size");
    assert!(line.ends_with(" LAST") && rest.len() >= size, "{up}");
    assert!(
        rest[..size]
            .ends_with("body\r\n.\r\nMAIL FROM:<evil@example.net>\r\nRCPT TO:<victim@example.test>\r\ntail\r\n")
    );
    assert!(!up.contains("DATA\r\n"), "{up}");
}

/// BDAT before MAIL: the chunk is read to its end and dropped, then 503;
/// none of its lines runs.
#[tokio::test(start_paused = true)]
async fn a_chunk_that_cannot_be_taken_is_read_and_dropped() {
    let mut s = Harness::new().ready().await;
    s.client.send(&bdat(SMUGGLED, true)).await;
    assert_reply(&s.client.reply().await, 503, "5.5.1");
    assert_code(&s.client.cmd("NOOP").await, 250);
    assert!(!s.upstream().all().contains("evil"), "{}", s.upstream().all());
}

/// RCPT or DATA after a chunk is refused; RSET drops the chunks.
#[tokio::test(start_paused = true)]
async fn one_way_per_message_and_rset_drops_the_chunks() {
    let mut s = Harness::new().ready().await;
    open_transaction(&mut s).await;
    s.client.send(&bdat(b"Subject: x\r\n", false)).await;
    assert_code(&s.client.reply().await, 250);
    assert_reply(&s.client.cmd("DATA").await, 503, "5.5.1");
    assert_reply(&s.client.cmd("RCPT TO:<carol@example.test>").await, 503, "5.5.1");
    assert_code(&s.client.cmd("RSET").await, 250);
    s.client.send(&bdat(b"x\r\n", true)).await;
    assert_reply(&s.client.reply().await, 503, "5.5.1");
}

/// A chunk that would take the message over the size limit cannot be
/// skipped within bounds: 552, and the session ends.
#[tokio::test(start_paused = true)]
async fn a_chunk_over_the_size_limit_ends_the_session() {
    let mut s = Harness::new().yaml("limits:\n  max_message_size: 100").ready().await;
    open_transaction(&mut s).await;
    s.client.send(b"BDAT 1000000000 LAST\r\nMAIL FROM:<evil@example.net>\r\n").await;
    assert_reply(&s.client.reply().await, 552, "5.3.4");
    s.client.closed().await;
    assert!(!s.finished().await.all().contains("evil"));
}

/// BINARYMIME only with an upstream that takes BDAT and BINARYMIME; the
/// octets (NUL, bare LF, a dot line) reach it untouched.
#[tokio::test(start_paused = true)]
async fn binarymime_content_reaches_the_upstream_untouched() {
    let mut s = Harness::new().known(Some(BINARY)).mta(Mta { ehlo: BINARY, ..Mta::default() }).greeted().await;
    let ehlo = s.client.cmd("EHLO client.example.net").await;
    assert!(ehlo.lines().iter().any(|l| l == "BINARYMIME"), "{ehlo}");
    assert_code(&s.client.cmd("MAIL FROM:<alice@sender.example> BODY=BINARYMIME").await, 250);
    assert_code(&s.client.cmd("RCPT TO:<bob@example.test>").await, 250);
    let octets = b"Subject: bin\r\n\r\n\x00\x01\n.\n\r\xff";
    s.client.send(&bdat(octets, true)).await;
    assert_code(&s.client.reply().await, 250);
    let up = s.upstream().bytes();
    assert!(up.windows(octets.len()).any(|w| w == octets), "{}", String::from_utf8_lossy(&up));
}

/// BDAT where CHUNKING was not offered (after HELO): 521 and the session
/// ends, the payload unread (checklist G47).
#[tokio::test(start_paused = true)]
async fn bdat_without_chunking_offered_ends_the_session() {
    let mut s = Harness::new().yaml("ehlo:\n  chunking: false").ready().await;
    assert_code(&s.client.cmd("MAIL FROM:<alice@sender.example>").await, 250);
    s.client.send(&bdat(SMUGGLED, true)).await;
    assert_reply(&s.client.reply().await, 521, "5.5.1");
    s.client.closed().await;
    assert!(!s.finished().await.all().contains("evil"));
}

/// Checklist G48: `BDAT 0` not last is refused, a bare LF in a chunk
/// refuses the message at its end (as in DATA), and a count that the
/// client does not keep (EOF mid-chunk) relays nothing.
#[tokio::test(start_paused = true)]
async fn null_chunks_bare_newlines_and_short_chunks() {
    let mut s = Harness::new().ready().await;
    open_transaction(&mut s).await;
    assert_reply(&s.client.cmd("BDAT 0").await, 501, "5.5.4");
    s.client.send(&bdat(b"Subject: x\r\n\r\na\n.\nb\r\n", true)).await;
    assert_reply(&s.client.reply().await, 550, "5.6.0");
    assert_code(&s.client.cmd("MAIL FROM:<alice@sender.example>").await, 250);
    assert_code(&s.client.cmd("RCPT TO:<bob@example.test>").await, 250);
    s.client.send(b"BDAT 100 LAST\r\nSubject: short\r\n").await;
    let up = s.hang_up().await;
    assert!(!up.all().contains("BDAT") && !up.all().contains("short"), "{}", up.all());
}

/// The whole chunked message is bounded by `limits.data_timeout`, however
/// its chunks are spaced (each within the idle timeout): 421, and nothing
/// reaches the upstream.
#[tokio::test(start_paused = true)]
async fn a_chunked_message_is_bounded_in_time() {
    let mut s = Harness::new().yaml("limits:\n  data_timeout: 60s\n  idle_timeout: 50s").ready().await;
    open_transaction(&mut s).await;
    for _ in 0..2 {
        s.client.send(&bdat(b"x\r\n", false)).await;
        assert_code(&s.client.reply().await, 250);
        tokio::time::sleep(std::time::Duration::from_secs(40)).await;
    }
    s.client.send(&bdat(b"x\r\n", true)).await;
    assert_reply(&s.client.reply().await, 421, "4.4.2");
    s.client.closed().await;
    assert!(!s.finished().await.all().contains("BDAT"));
}

/// Dropped octets count too: bare LFs a `reject` policy keeps out of the
/// spool still take the message over the size limit.
#[tokio::test(start_paused = true)]
async fn dropped_octets_count_against_the_size_limit() {
    let mut s = Harness::new().yaml("limits:\n  max_message_size: 1000").ready().await;
    open_transaction(&mut s).await;
    s.client.send(&bdat(&[b'\n'; 800], false)).await;
    assert_code(&s.client.reply().await, 250);
    s.client.send(&bdat(&[b'\n'; 800], false)).await;
    assert_reply(&s.client.reply().await, 552, "5.3.4");
    s.client.closed().await;
}

/// A message declared BINARYMIME can only come by BDAT: DATA gets 503
/// before any 354; and a bad BDAT line (here 8-bit) ends the session, so
/// the payload after it never runs.
#[tokio::test(start_paused = true)]
async fn binarymime_needs_bdat_and_a_bad_bdat_line_closes() {
    let mut s = Harness::new().known(Some(BINARY)).mta(Mta { ehlo: BINARY, ..Mta::default() }).greeted().await;
    assert_code(&s.client.cmd("EHLO client.example.net").await, 250);
    assert_code(&s.client.cmd("MAIL FROM:<alice@sender.example> BODY=BINARYMIME").await, 250);
    assert_code(&s.client.cmd("RCPT TO:<bob@example.test>").await, 250);
    assert_reply(&s.client.cmd("DATA").await, 503, "5.5.1");
    s.client.send("BDAT 30 é\r\nMAIL FROM:<evil@example.net>\r\n".as_bytes()).await;
    assert_reply(&s.client.reply().await, 554, "5.5.4");
    s.client.closed().await;
    assert!(!s.finished().await.all().contains("evil"));
}

/// A CR that ends the last chunk ends no line: a bare CR, refused under
/// the default `reject`.
#[tokio::test(start_paused = true)]
async fn a_cr_at_the_end_of_the_last_chunk_is_a_bare_cr() {
    let mut s = Harness::new().ready().await;
    open_transaction(&mut s).await;
    s.client.send(&bdat(b"Subject: x\r\n\r\nbody\r", true)).await;
    assert_reply(&s.client.reply().await, 550, "5.6.0");
}

//! The whole-session target: a scripted client stream through one doorman
//! session (`doorman::fuzzing::serve_session`, the server's session code)
//! to the scripted upstream of [`crate::upstream`], under paused time (a
//! timeout elapses as soon as nothing else can happen).
//!
//! Input: a configuration byte (client identity, bare line endings,
//! pipelining check, banner mode, AUTH, message size), a seed for the
//! upstream's replies, a chunk size for the client's writes (0: line by
//! line, 255: all at once), then the client's bytes, sent after the
//! greeting.

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use bytes::BytesMut;
use doorman::Config;
use doorman::wire::ReplyParser;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

use crate::upstream::{Preamble, Seen, play};

/// The client's address: public, so every HELO rule applies.
const PEER: ([u8; 4], u16) = ([198, 51, 100, 7], 40000);

/// Upstream connections available to one session.
const UPSTREAMS: usize = 3;

const IDENTITIES: [&str; 5] = ["none", "xclient", "xforward", "proxy-v1", "proxy-v2"];

static CONFIGS: [OnceLock<Config>; 160] = [const { OnceLock::new() }; 160];

/// The configuration of variant `v` (`v % 160`), parsed once.
fn config(v: u8) -> &'static Config {
    let v = usize::from(v) % 160;
    CONFIGS[v].get_or_init(|| {
        let (identity, flags) = (IDENTITIES[v % 5], v / 5);
        let pick = |bit: usize, yes: &'static str, no: &'static str| if flags & bit == 0 { no } else { yes };
        let yaml = format!(
            "hostname: mx.example.test\nlisten:\n  - address: 127.0.0.1:2525\n    forbid_unauth_pipelining: {}\n\
             upstream:\n  address: upstream.test:25\n  client_identity: {identity}\n\
             dns:\n  nameservers: [\"127.0.0.1:9\"]\n\
             helo:\n  rules: {{unresolvable: off, no_ptr: off, fcrdns_mismatch: off, dnsbl: off}}\n\
             data:\n  bare_line_endings: {}\nbanner:\n  mode: {}\nauth:\n  allow_plaintext: {}\n\
             limits:\n  max_message_size: {}\n",
            pick(2, "off", "reject"),
            pick(1, "normalize", "reject"),
            pick(4, "pass", "rewrite"),
            pick(8, "true", "false"),
            pick(16, "1KiB", "1MiB"),
        );
        doorman::fuzzing::config(&yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"))
    })
}

/// What the client saw, and what was wrong with it.
struct ClientSide {
    replies: Vec<u8>,
    problems: Vec<String>,
}

/// Waits for the greeting, writes `bytes` in chunks of `chunk` (letting the
/// session act between them), closes its side and reads to the end.
async fn client(io: DuplexStream, bytes: &[u8], chunk: u8) -> ClientSide {
    let (mut rd, mut wr) = tokio::io::split(io);
    let mut replies = Vec::new();
    while !replies.windows(2).any(|w| w == b"\r\n") {
        if !matches!(rd.read_buf(&mut replies).await, Ok(1..)) {
            return check_replies(replies);
        }
    }
    let write = async {
        for piece in client_pieces(bytes, chunk) {
            if wr.write_all(piece).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let _ = wr.shutdown().await;
    };
    let read = rd.read_to_end(&mut replies);
    let ((), _) = tokio::join!(write, read);
    check_replies(replies)
}

/// The client's writes: line by line (`chunk` 0: a client that waits for
/// each reply), all at once (255), or `chunk` octets at a time.
fn client_pieces(bytes: &[u8], chunk: u8) -> Vec<&[u8]> {
    match chunk {
        0 => bytes.split_inclusive(|&b| b == b'\n').collect(),
        255 => vec![bytes],
        n => crate::pieces(bytes, &[n]),
    }
}

/// Everything doorman says to a client is a well-formed reply.
fn check_replies(replies: Vec<u8>) -> ClientSide {
    let mut buf = BytesMut::from(&replies[..]);
    let mut problems = Vec::new();
    loop {
        match ReplyParser::parse_greeting(&mut buf) {
            Ok(Some(_)) => {}
            Ok(None) if buf.is_empty() => break,
            Ok(None) => {
                problems.push(format!("a partial reply to the client: {buf:?}"));
                break;
            }
            Err(e) => {
                problems.push(format!("a bad reply to the client ({e}): {buf:?}"));
                break;
            }
        }
    }
    ClientSide { replies, problems }
}

/// Runs one session; `Err` describes every oracle violation, with the
/// transcripts.
pub fn run(input: &[u8]) -> Result<(), String> {
    let ([variant, seed, chunk], bytes) = crate::header::<3>(input);
    let config = config(variant);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .map_err(|e| e.to_string())?;
    let peer = SocketAddr::from(PEER);
    let preamble = if usize::from(variant) % 160 % 5 >= 3 { Preamble::Proxy(peer) } else { Preamble::None };
    let (client_side, upstreams) = runtime.block_on(async {
        let (ours, theirs) = tokio::io::duplex(64 * 1024);
        let mut dialled = Vec::new();
        let mut tasks = Vec::new();
        for i in 0..UPSTREAMS {
            let (doorman_end, mta_end) = tokio::io::duplex(64 * 1024);
            dialled.push(doorman_end);
            tasks.push(tokio::spawn(play(mta_end, u64::from(seed) << 8 | i as u64, preamble)));
        }
        let session = doorman::fuzzing::serve_session(config, theirs, peer, dialled);
        let (served, client_side) = tokio::join!(session, client(ours, bytes, chunk));
        let mut seen = Vec::new();
        for task in tasks {
            seen.push(task.await.unwrap_or_default());
        }
        (served.map(|()| client_side), seen)
    });
    verdict(client_side?, &upstreams)
}

/// `Err` with the problems and transcripts, if any; with
/// `DOORMAN_FUZZ_SHOW` set, the transcripts are printed in any case.
fn verdict(client: ClientSide, upstreams: &[Seen]) -> Result<(), String> {
    let problems: Vec<&String> = client.problems.iter().chain(upstreams.iter().flat_map(|s| &s.problems)).collect();
    let show = std::env::var_os("DOORMAN_FUZZ_SHOW").is_some();
    if problems.is_empty() && !show {
        return Ok(());
    }
    let mut report = format!("{problems:#?}\n-- to the client:\n{}", String::from_utf8_lossy(&client.replies));
    for (i, seen) in upstreams.iter().enumerate() {
        report.push_str(&format!("\n-- upstream {i}:\n{}", String::from_utf8_lossy(&seen.bytes)));
    }
    if problems.is_empty() {
        eprintln!("{report}");
        return Ok(());
    }
    Err(report)
}

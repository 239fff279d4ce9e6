//! FAULT INJECTION ONLY: a scripted fake clamd or spamd for the failures the
//! real daemons will not produce on demand (hanging, slow verdicts, garbage
//! replies, resets mid-stream). Every verdict test runs against the real
//! daemons in `support/scanners.rs`. The fake serves any number of
//! connections with the same behaviour and counts what it saw.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Which protocol's request the fake reads before it answers.
#[derive(Debug, Clone, Copy)]
pub enum Protocol {
    /// `zINSTREAM\0`, then length-prefixed chunks up to the zero length.
    Clamd,
    /// Everything up to the client's half-close.
    Spamd,
    /// One HTTP request with a `Content-Length` body (rspamd's `/checkv2`).
    Http,
}

/// What the fake does with each connection.
#[derive(Debug, Clone)]
pub enum Behaviour {
    /// Read the whole request, wait `delay`, send `reply`, close.
    Reply { delay: Duration, reply: Vec<u8> },
    /// Read the whole request, then never answer (the connection stays open).
    Silent,
    /// Read `after` bytes of the request, then reset the connection.
    ResetAfter { after: usize },
    /// Read the whole request, then wait until every fake sharing `all`
    /// has read its own before sending `reply`: fakes that are asked one
    /// after the other never answer (the caller's timeout ends it), fakes
    /// asked side by side answer at once. A concurrency test without a clock.
    ReplyTogether { all: Arc<tokio::sync::Barrier>, reply: Vec<u8> },
}

/// A running fake.
pub struct FakeScanner {
    pub addr: SocketAddr,
    /// Connections accepted.
    pub connections: Arc<AtomicUsize>,
    /// Requests read completely.
    pub requests: Arc<AtomicUsize>,
    /// Connections the client closed before its request was complete.
    pub cut_short: Arc<AtomicUsize>,
    /// Every complete spamd request, as received (head and message).
    pub spamd_requests: Arc<std::sync::Mutex<Vec<Vec<u8>>>>,
}

impl FakeScanner {
    /// `127.0.0.1:port`.
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    pub fn cut_short(&self) -> usize {
        self.cut_short.load(Ordering::SeqCst)
    }

    /// The messages of the spamd requests received so far (the part after
    /// the request head).
    pub fn spamd_messages(&self) -> Vec<Vec<u8>> {
        let requests = self.spamd_requests.lock().expect("requests");
        requests
            .iter()
            .map(|r| r.windows(4).position(|w| w == b"\r\n\r\n").map_or_else(Vec::new, |i| r[i + 4..].to_vec()))
            .collect()
    }
}

/// Starts a fake on a free loopback port.
pub async fn start(protocol: Protocol, behaviour: Behaviour) -> FakeScanner {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind fake scanner");
    let fake = FakeScanner {
        addr: listener.local_addr().expect("addr"),
        connections: Arc::default(),
        requests: Arc::default(),
        cut_short: Arc::default(),
        spamd_requests: Arc::default(),
    };
    let (connections, requests, cut_short) = (fake.connections.clone(), fake.requests.clone(), fake.cut_short.clone());
    let recorded = fake.spamd_requests.clone();
    tokio::spawn(async move {
        loop {
            let Ok((sock, _)) = listener.accept().await else {
                return;
            };
            connections.fetch_add(1, Ordering::SeqCst);
            let (behaviour, requests, cut_short) = (behaviour.clone(), requests.clone(), cut_short.clone());
            let recorded = recorded.clone();
            tokio::spawn(async move {
                serve(sock, protocol, behaviour, &requests, &cut_short, &recorded).await;
            });
        }
    });
    fake
}

async fn serve(
    mut sock: TcpStream,
    protocol: Protocol,
    behaviour: Behaviour,
    requests: &AtomicUsize,
    cut_short: &AtomicUsize,
    recorded: &std::sync::Mutex<Vec<Vec<u8>>>,
) {
    if let Behaviour::ResetAfter { after } = behaviour {
        let mut buf = vec![0u8; after];
        let _ = sock.read_exact(&mut buf).await;
        // SO_LINGER 0: close with RST instead of FIN.
        let _ = sock.set_zero_linger();
        drop(sock);
        return;
    }
    let complete = match protocol {
        Protocol::Clamd => read_instream(&mut sock).await,
        Protocol::Spamd => {
            let mut request = Vec::new();
            let complete = sock.read_to_end(&mut request).await.is_ok();
            recorded.lock().expect("requests").push(request);
            complete
        }
        Protocol::Http => read_http(&mut sock).await,
    };
    if !complete {
        cut_short.fetch_add(1, Ordering::SeqCst);
        return;
    }
    requests.fetch_add(1, Ordering::SeqCst);
    match behaviour {
        Behaviour::Reply { delay, reply } => {
            tokio::time::sleep(delay).await;
            let _ = sock.write_all(&reply).await;
            let _ = sock.shutdown().await;
        }
        Behaviour::Silent => {
            // Hold the connection until the client gives up (a spamd client
            // has half-closed already: its EOF cannot be seen, so wait).
            match protocol {
                Protocol::Clamd | Protocol::Http => {
                    let mut b = [0u8; 1];
                    let _ = sock.read(&mut b).await;
                }
                Protocol::Spamd => tokio::time::sleep(Duration::from_secs(60)).await,
            }
        }
        Behaviour::ReplyTogether { all, reply } => {
            all.wait().await;
            let _ = sock.write_all(&reply).await;
            let _ = sock.shutdown().await;
        }
        Behaviour::ResetAfter { .. } => {}
    }
}

/// Reads one HTTP request: its head, then `Content-Length` octets; false
/// if the client went away first.
async fn read_http(sock: &mut TcpStream) -> bool {
    let mut buf = Vec::new();
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let mut chunk = [0u8; 4096];
        match sock.read(&mut chunk).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let length: usize =
        head.lines().find_map(|l| l.strip_prefix("content-length:")).and_then(|v| v.trim().parse().ok()).unwrap_or(0);
    let mut rest = vec![0u8; (head_end + length).saturating_sub(buf.len())];
    sock.read_exact(&mut rest).await.is_ok()
}

/// Reads one INSTREAM request; false if the client went away before the
/// zero-length chunk.
async fn read_instream(sock: &mut TcpStream) -> bool {
    let mut cmd = [0u8; 10];
    if sock.read_exact(&mut cmd).await.is_err() {
        return false;
    }
    // doorman opens an IDSESSION first on a new connection.
    if &cmd == b"zIDSESSION" {
        let mut rest = [0u8; 1];
        if sock.read_exact(&mut rest).await.is_err() || sock.read_exact(&mut cmd).await.is_err() {
            return false;
        }
    }
    if &cmd != b"zINSTREAM\0" {
        return false;
    }
    loop {
        let mut len = [0u8; 4];
        if sock.read_exact(&mut len).await.is_err() {
            return false;
        }
        let len = u32::from_be_bytes(len) as usize;
        if len == 0 {
            return true;
        }
        let mut chunk = vec![0u8; len];
        if sock.read_exact(&mut chunk).await.is_err() {
            return false;
        }
    }
}

//! FAULT INJECTION ONLY: a scripted fake upstream for the failures a real MTA
//! will not produce on demand (dying mid-DATA, garbage replies, a greeting
//! shape Postfix cannot be configured to send). Everything else is tested
//! against the real Postfix. It serves one connection and records every byte
//! it received, so tests can assert what reached "the upstream".

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// One step of the fake's script.
#[derive(Debug, Clone)]
pub enum Step {
    /// Write these bytes.
    Send(&'static str),
    /// Read one line; the test fails unless it starts with this prefix.
    Expect(&'static str),
    /// Read message content up to and including `\r\n.\r\n`.
    ExpectDataEnd,
    /// Read exactly this many bytes of message content, then go on.
    ReadBytes(usize),
    /// Close the connection.
    Close,
    /// Stop responding but keep the connection open.
    Hang,
    /// Stop responding, keep recording what arrives, until doorman closes.
    Drain,
}

/// A running fake.
pub struct FakeUpstream {
    pub addr: SocketAddr,
    pub received: Arc<Mutex<Vec<u8>>>,
    /// Becomes true when the scripted connection is over.
    done: tokio::sync::watch::Receiver<bool>,
    /// A line that did not match the script's `Expect`: the test fails
    /// when the fake is dropped (a panic in the fake's task would be lost).
    mismatch: Arc<Mutex<Option<String>>>,
}

/// The usual start: greeting and an EHLO reply.
pub fn greeting_and_ehlo() -> Vec<Step> {
    vec![
        Step::Send("220 fake.test ESMTP\r\n"),
        Step::Expect("EHLO"),
        Step::Send("250-fake.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n"),
    ]
}

/// Starts the fake with `script` for its first connection.
pub async fn start(script: Vec<Step>) -> FakeUpstream {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind fake upstream");
    let addr = listener.local_addr().expect("addr");
    let received = Arc::new(Mutex::new(Vec::new()));
    let log = received.clone();
    let (done_tx, done) = tokio::sync::watch::channel(false);
    let mismatch = Arc::new(Mutex::new(None));
    let found = mismatch.clone();
    tokio::spawn(async move {
        if let Ok((sock, _)) = listener.accept().await {
            serve(sock, script, &log, &found).await;
        }
        let _ = done_tx.send(true);
    });
    FakeUpstream { addr, received, done, mismatch }
}

/// Plays `script` on one connection.
async fn serve(
    mut sock: tokio::net::TcpStream,
    script: Vec<Step>,
    log: &Arc<Mutex<Vec<u8>>>,
    mismatch: &Mutex<Option<String>>,
) {
    {
        let mut buf = Vec::new();
        for step in script {
            match step {
                Step::Send(s) => {
                    if sock.write_all(s.as_bytes()).await.is_err() {
                        return;
                    }
                }
                Step::Expect(prefix) => {
                    let Some(line) = read_until(&mut sock, &mut buf, b"\n", log).await else {
                        return;
                    };
                    let line = String::from_utf8_lossy(&line).into_owned();
                    if !line.starts_with(prefix) {
                        *mismatch.lock().expect("mismatch") = Some(format!("expected {prefix:?}, got {line:?}"));
                        return;
                    }
                }
                Step::ExpectDataEnd => {
                    if read_until(&mut sock, &mut buf, b"\r\n.\r\n", log).await.is_none() {
                        return;
                    }
                }
                Step::ReadBytes(n) => {
                    while buf.len() < n {
                        let mut chunk = [0u8; 4096];
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(k) => {
                                log.lock().expect("log").extend_from_slice(&chunk[..k]);
                                buf.extend_from_slice(&chunk[..k]);
                            }
                        }
                    }
                    buf.drain(..n);
                }
                Step::Close => return,
                Step::Hang => {
                    tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
                    return;
                }
                Step::Drain => {
                    let mut chunk = [0u8; 4096];
                    while let Ok(n @ 1..) = sock.read(&mut chunk).await {
                        log.lock().expect("log").extend_from_slice(&chunk[..n]);
                    }
                    return;
                }
            }
        }
    }
}

/// Reads until `delim`; returns the bytes up to and including it.
async fn read_until(
    sock: &mut tokio::net::TcpStream,
    buf: &mut Vec<u8>,
    delim: &[u8],
    log: &Arc<Mutex<Vec<u8>>>,
) -> Option<Vec<u8>> {
    loop {
        if let Some(pos) = buf.windows(delim.len()).position(|w| w == delim) {
            return Some(buf.drain(..pos + delim.len()).collect());
        }
        let mut chunk = [0u8; 4096];
        match sock.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => {
                log.lock().expect("log").extend_from_slice(&chunk[..n]);
                buf.extend_from_slice(&chunk[..n]);
            }
        }
    }
}

impl FakeUpstream {
    /// Waits until the scripted connection is over (doorman closed it, or
    /// the script ended); fails the test after [`super::PATIENCE`].
    pub async fn wait_done(&self) {
        let mut done = self.done.clone();
        let waited = tokio::time::timeout(super::PATIENCE, done.wait_for(|d| *d)).await;
        assert!(waited.is_ok(), "the fake upstream's connection was still open after {:?}", super::PATIENCE);
    }

    /// Everything the fake received, as text.
    pub fn received_text(&self) -> String {
        String::from_utf8_lossy(&self.received.lock().expect("log")).into_owned()
    }
}

impl Drop for FakeUpstream {
    fn drop(&mut self) {
        let mismatch = self.mismatch.lock().map(|m| m.clone()).unwrap_or_default();
        if let Some(m) = mismatch
            && !std::thread::panicking()
        {
            panic!("the fake upstream's script was not followed: {m}");
        }
    }
}

//! The oracle's tap: a relay on plain threads (so it records and closes
//! whatever the test's runtime is doing) that keeps, per connection, both
//! directions: what doorman sent and what the upstream answered. Each chunk
//! is recorded before it is forwarded.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One relayed connection.
#[derive(Default)]
pub struct Conn {
    /// doorman → upstream.
    pub sent: Mutex<Vec<u8>>,
    /// upstream → doorman.
    pub received: Mutex<Vec<u8>>,
    /// Directions still open (2, then 1, then 0: closed).
    open: AtomicUsize,
}

impl Conn {
    /// Both directions have ended.
    pub fn closed(&self) -> bool {
        self.open.load(Ordering::SeqCst) == 0
    }
}

/// A running tap; stops accepting when dropped (open connections go on).
pub struct WireTap {
    pub addr: SocketAddr,
    pub conns: Arc<Mutex<Vec<Arc<Conn>>>>,
    stop: Arc<AtomicBool>,
}

impl WireTap {
    /// Listens on a free loopback port and relays each connection to `upstream`.
    pub fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the oracle's tap");
        let addr = listener.local_addr().expect("tap address");
        let conns: Arc<Mutex<Vec<Arc<Conn>>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (list, stopping) = (conns.clone(), stop.clone());
        std::thread::spawn(move || {
            for down in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(down) = down else { continue };
                let conn = Arc::new(Conn { open: AtomicUsize::new(2), ..Conn::default() });
                list.lock().expect("tap list").push(conn.clone());
                std::thread::spawn(move || relay(down, upstream, &conn));
            }
        });
        Self { addr, conns, stop }
    }

    /// Waits up to `limit` for every connection to close; returns whether
    /// they did. Blocking on purpose: called from a `Drop`, in place of the
    /// runtime's worker (`oracle::blocking`).
    #[allow(clippy::disallowed_methods)]
    pub fn wait_closed(&self, limit: Duration) -> bool {
        let start = Instant::now();
        loop {
            if self.conns.lock().expect("tap list").iter().all(|c| c.closed()) {
                return true;
            }
            if start.elapsed() > limit {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for WireTap {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr); // wakes the accept loop
    }
}

/// Connects to the upstream and copies both ways until both are done.
fn relay(down: TcpStream, upstream: SocketAddr, conn: &Arc<Conn>) {
    let Ok(up) = TcpStream::connect_timeout(&upstream, Duration::from_secs(5)) else {
        let _ = down.shutdown(Shutdown::Both);
        conn.open.store(0, Ordering::SeqCst);
        return;
    };
    let _ = (down.set_nodelay(true), up.set_nodelay(true));
    let (Ok(down2), Ok(up2)) = (down.try_clone(), up.try_clone()) else {
        conn.open.store(0, Ordering::SeqCst);
        return;
    };
    let back = conn.clone();
    let reply_thread = std::thread::spawn(move || copy(up2, down2, &back.received, &back.open));
    copy(down, up, &conn.sent, &conn.open);
    let _ = reply_thread.join();
}

/// Copies `from` to `to`, recording each chunk first; at the end shuts
/// down `to`'s write side (or both sides of both on an error).
fn copy(mut from: TcpStream, mut to: TcpStream, record: &Mutex<Vec<u8>>, open: &AtomicUsize) {
    let mut buf = vec![0u8; 64 * 1024];
    let clean = loop {
        match from.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => {
                record.lock().expect("tap record").extend_from_slice(&buf[..n]);
                if to.write_all(&buf[..n]).is_err() {
                    break false;
                }
            }
            Err(_) => break false,
        }
    };
    if clean {
        let _ = to.shutdown(Shutdown::Write);
    } else {
        let _ = (to.shutdown(Shutdown::Both), from.shutdown(Shutdown::Both));
    }
    open.fetch_sub(1, Ordering::SeqCst);
}

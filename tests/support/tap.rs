//! A recording relay between doorman and the real upstream (Postfix): it
//! forwards every byte both ways unchanged and keeps, per connection, what
//! doorman sent. It is not a fake peer; the upstream's replies are the real
//! ones. Tests use it for "this never reached the upstream": they wait for
//! the positive signal that every upstream connection has closed, then look
//! at the record, instead of sleeping and hoping.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// One relayed connection.
#[derive(Default)]
struct Connection {
    /// Bytes doorman sent towards the upstream.
    sent: Mutex<Vec<u8>>,
}

/// A running tap in front of one upstream.
pub struct Tap {
    addr: SocketAddr,
    connections: Arc<Mutex<Vec<Arc<Connection>>>>,
    /// Connections accepted and connections closed (both directions ended).
    counts: watch::Receiver<(usize, usize)>,
}

impl Tap {
    /// Starts a tap on a free loopback port that relays to `upstream`.
    pub async fn start(upstream: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind tap");
        let addr = listener.local_addr().expect("tap addr");
        let upstream: SocketAddr = upstream.parse().expect("upstream address");
        let connections: Arc<Mutex<Vec<Arc<Connection>>>> = Arc::default();
        let (counts_tx, counts) = watch::channel((0, 0));
        let list = connections.clone();
        tokio::spawn(async move {
            while let Ok((down, _)) = listener.accept().await {
                let conn = Arc::new(Connection::default());
                list.lock().expect("tap list").push(conn.clone());
                counts_tx.send_modify(|c| c.0 += 1);
                let counts_tx = counts_tx.clone();
                tokio::spawn(async move {
                    if let Ok(up) = TcpStream::connect(upstream).await {
                        relay(down, up, &conn).await;
                    }
                    counts_tx.send_modify(|c| c.1 += 1);
                });
            }
        });
        Self { addr, connections, counts }
    }

    /// `127.0.0.1:port`, for `upstream.address`.
    pub fn addr(&self) -> String {
        self.addr.to_string()
    }

    /// Waits until every connection accepted so far has closed (at most
    /// [`super::PATIENCE`]); returns how many there were.
    pub async fn wait_all_closed(&self) -> usize {
        let mut counts = self.counts.clone();
        let waited = tokio::time::timeout(super::PATIENCE, counts.wait_for(|(opened, closed)| opened == closed)).await;
        let (opened, closed) = *self.counts.borrow();
        assert!(
            waited.is_ok(),
            "upstream connections still open after {:?}: {closed} of {opened} closed",
            super::PATIENCE
        );
        opened
    }

    /// Everything doorman sent to the upstream, all connections, as text.
    pub fn sent_text(&self) -> String {
        let list = self.connections.lock().expect("tap list");
        list.iter().map(|c| String::from_utf8_lossy(&c.sent.lock().expect("tap record")).into_owned()).collect()
    }
}

/// Copies both ways until both sides are done, recording doorman's side.
async fn relay(down: TcpStream, up: TcpStream, conn: &Connection) {
    let (mut down_r, mut down_w) = down.into_split();
    let (mut up_r, mut up_w) = up.into_split();
    let to_upstream = async {
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n @ 1..) = down_r.read(&mut buf).await {
            conn.sent.lock().expect("tap record").extend_from_slice(&buf[..n]);
            if up_w.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = up_w.shutdown().await;
    };
    let to_doorman = async {
        let _ = tokio::io::copy(&mut up_r, &mut down_w).await;
        let _ = down_w.shutdown().await;
    };
    tokio::join!(to_upstream, to_doorman);
}

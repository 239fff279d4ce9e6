//! The accept loop: binds the listeners, enforces the connection limit, and
//! runs one task per client connection inside its own tracing span. `run`
//! returns once shutdown was requested and the sessions have finished (or the
//! grace period ran out).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, info, info_span, warn};

use crate::config::Config;
use crate::{replies, session};

/// Bound listeners, ready to serve.
#[derive(Debug)]
pub struct Server {
    listeners: Vec<TcpListener>,
    config: Arc<Config>,
}

impl Server {
    /// Binds every `listen` address.
    ///
    /// # Errors
    /// An address could not be bound.
    pub async fn bind(config: Arc<Config>) -> std::io::Result<Self> {
        let mut listeners = Vec::new();
        for l in &config.listen {
            let listener = TcpListener::bind(l.address).await.map_err(|e| {
                std::io::Error::new(e.kind(), format!("cannot listen on {}: {e}", l.address))
            })?;
            listeners.push(listener);
        }
        Ok(Self { listeners, config })
    }

    /// The bound addresses (port 0 resolved), for tests and logs.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect()
    }

    /// Serves until `shutdown` is cancelled, then waits up to the grace period
    /// for sessions to finish.
    pub async fn run(self, shutdown: CancellationToken) {
        let tracker = TaskTracker::new();
        let limit = Arc::new(Semaphore::new(self.config.limits.max_connections));
        let ids = Arc::new(AtomicU64::new(0));
        for listener in self.listeners {
            if let Ok(addr) = listener.local_addr() {
                info!(%addr, "listening");
            }
            let accept = AcceptLoop {
                listener,
                config: self.config.clone(),
                limit: limit.clone(),
                tracker: tracker.clone(),
                shutdown: shutdown.clone(),
                ids: ids.clone(),
            };
            tracker.spawn(accept.run());
        }
        shutdown.cancelled().await;
        tracker.close();
        let grace = self.config.shutdown.grace_period.0;
        info!(
            ?grace,
            "shutting down: no new connections; waiting for sessions"
        );
        if tokio::time::timeout(grace, tracker.wait()).await.is_err() {
            warn!(
                ?grace,
                "sessions still open at the end of the grace period; exiting"
            );
        }
    }
}

struct AcceptLoop {
    listener: TcpListener,
    config: Arc<Config>,
    /// One permit per client connection (`limits.max_connections`).
    limit: Arc<Semaphore>,
    tracker: TaskTracker,
    shutdown: CancellationToken,
    ids: Arc<AtomicU64>,
}

impl AcceptLoop {
    async fn run(self) {
        loop {
            let accepted = tokio::select! {
                accepted = self.listener.accept() => accepted,
                () = self.shutdown.cancelled() => return,
            };
            match accepted {
                Ok((stream, peer)) => self.start(stream, peer),
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    fn start(&self, stream: TcpStream, peer: SocketAddr) {
        let _ = stream.set_nodelay(true);
        let id = self.ids.fetch_add(1, Ordering::Relaxed);
        let span = info_span!("session", id = %format_args!("{id:08x}"), client = %peer);
        let config = self.config.clone();
        match self.limit.clone().try_acquire_owned() {
            Ok(permit) => {
                let shutdown = self.shutdown.clone();
                self.tracker.spawn(
                    async move {
                        session::serve(stream, peer, config, shutdown).await;
                        drop(permit);
                    }
                    .instrument(span),
                );
            }
            Err(_) => {
                self.tracker.spawn(
                    async move {
                        warn!("connection limit reached; refusing");
                        refuse(stream, &config).await;
                    }
                    .instrument(span),
                );
            }
        }
    }
}

async fn refuse(mut stream: TcpStream, config: &Config) {
    let reply = replies::too_many_connections(config.hostname.as_str()).to_bytes();
    let _ = stream.write_all(&reply).await;
    let _ = stream.shutdown().await;
}

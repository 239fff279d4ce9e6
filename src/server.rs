//! The accept loop: binds the listeners (and the admin endpoint), enforces the
//! global and per-IP connection limits, and runs one task per client
//! connection inside its own tracing span. `run` returns once shutdown was
//! requested and the sessions have finished, or the grace period ran out.
//! [`Reloader`] swaps the shared state for new sessions (SIGHUP).

pub(crate) mod inbound;
mod per_ip;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, debug, info, info_span, warn};

use self::per_ip::PerIp;
use crate::admin;
use crate::config::{Config, Listener, ListenerKey, listener_for, listener_keys};
use crate::metrics::{ConnectionResult, metrics};
use crate::readiness::{Readiness, learn_upstream};
use crate::session::{ClientInfo, SessionEnv};
use crate::shield::Shield;
use crate::state::Shared;
use crate::upstream::TcpDialer;
use crate::{replies, session};

/// Bound listeners, ready to serve.
pub struct Server {
    listeners: Vec<TcpListener>,
    admin: Option<TcpListener>,
    shared: Arc<ArcSwap<Shared>>,
    ready: Arc<Readiness>,
    shield: Arc<Shield>,
}

/// Swaps in a new configuration for new sessions.
#[derive(Clone)]
pub struct Reloader {
    shared: Arc<ArcSwap<Shared>>,
}

impl Reloader {
    /// Installs `config` for sessions that start from now on. Listeners are
    /// matched by address: their TLS and PROXY settings may change, in any
    /// order. What needs new sockets or a new limit (a listen address added
    /// or removed, the admin address, `max_connections`) needs a restart:
    /// such a configuration is refused and the running one stays.
    ///
    /// # Errors
    /// What needs a restart, or what could not be built; the old
    /// configuration stays.
    pub fn reload(&self, config: Config) -> Result<(), String> {
        let old = self.shared.load();
        let mut before = listener_keys(&old.config.listen);
        let mut after = listener_keys(&config.listen);
        before.sort();
        after.sort();
        let restart_only = [
            ("listen addresses", before != after),
            ("admin.address", old.config.admin.address != config.admin.address),
            ("limits.max_connections", old.config.limits.max_connections != config.limits.max_connections),
            ("shield.store", old.config.shield.store != config.shield.store),
            ("shield.memory_entries", old.config.shield.memory_entries != config.shield.memory_entries),
        ];
        let changed: Vec<&str> = restart_only.iter().filter(|(_, c)| *c).map(|(key, _)| *key).collect();
        if !changed.is_empty() {
            return Err(format!("{} changed: restart doorman to apply them", changed.join(", ")));
        }
        let shared = Shared::new(config)?;
        self.shared.store(Arc::new(shared));
        Ok(())
    }
}

impl Server {
    /// Binds every `listen` address and the admin address.
    ///
    /// # Errors
    /// An address could not be bound, or the shared state could not be built.
    pub async fn bind(config: Config) -> std::io::Result<Self> {
        let mut listeners = Vec::new();
        for l in &config.listen {
            listeners.push(bind(l.address).await?);
        }
        let admin = match config.admin.address {
            Some(addr) => Some(bind(addr).await?),
            None => None,
        };
        let shield = Arc::new(Shield::new(&config).map_err(std::io::Error::other)?);
        let shared = Shared::new(config).map_err(std::io::Error::other)?;
        Ok(Self {
            listeners,
            admin,
            shared: Arc::new(ArcSwap::from_pointee(shared)),
            ready: Arc::new(Readiness::new(shield.clone())),
            shield,
        })
    }

    /// The bound client addresses (port 0 resolved), for tests and logs.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners.iter().filter_map(|l| l.local_addr().ok()).collect()
    }

    /// The bound admin address, if the endpoint is on.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// A handle to reload the configuration while running.
    pub fn reloader(&self) -> Reloader {
        Reloader { shared: self.shared.clone() }
    }

    /// Serves until `shutdown` is cancelled, then waits up to the grace period
    /// for sessions to finish.
    pub async fn run(self, shutdown: CancellationToken) {
        let tracker = TaskTracker::new();
        let max = self.shared.load().config.limits.max_connections;
        let limits = Arc::new(Limits {
            global: Semaphore::new(max),
            per_ip: Arc::new(PerIp::default()),
            spooled: Arc::new(AtomicU64::new(0)),
            shield: self.shield.clone(),
        });
        let ids = Arc::new(AtomicU64::new(0));
        // The upstream's extensions, for the clients' EHLO before any
        // upstream session exists. If it is down now, the first client's EHLO
        // opens a session and learns them.
        let (shared, shield) = (self.shared.load_full(), self.shield.clone());
        tokio::spawn(async move {
            let timeout = shared.config.upstream.connect_timeout + shared.config.upstream.reply_timeout;
            if let Err(e) = learn_upstream(&shared, &shield, timeout).await {
                warn!(error = %e, "could not learn the upstream's extensions at start-up");
            }
        });
        let admin_stop = CancellationToken::new();
        if let Some(listener) = self.admin {
            if let Ok(addr) = listener.local_addr() {
                info!(%addr, "admin endpoint listening");
            }
            tokio::spawn(admin::serve(listener, self.shared.clone(), self.ready.clone(), admin_stop.clone()));
        }
        let keys = listener_keys(&self.shared.load().config.listen);
        for (key, listener) in keys.into_iter().zip(self.listeners) {
            if let Ok(addr) = listener.local_addr() {
                info!(%addr, "listening");
            }
            let accept = AcceptLoop {
                listener,
                key,
                shared: self.shared.clone(),
                limits: limits.clone(),
                tracker: tracker.clone(),
                shutdown: shutdown.clone(),
                ids: ids.clone(),
            };
            tracker.spawn(accept.run());
        }
        shutdown.cancelled().await;
        self.ready.shutting_down();
        tracker.close();
        let grace = self.shared.load().config.shutdown.grace_period;
        info!(?grace, "shutting down: no new connections; waiting for sessions");
        if tokio::time::timeout(grace, tracker.wait()).await.is_err() {
            warn!(?grace, "sessions still open at the end of the grace period; exiting");
        }
        admin_stop.cancel();
    }
}

/// The accept queue: a burst of connections (a restart of a busy sender, a
/// flood) waits here instead of being dropped by the kernel; the kernel caps
/// it at `net.core.somaxconn`.
const LISTEN_BACKLOG: u32 = 4096;

async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let listen = || {
        let socket = if addr.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
        socket.set_reuseaddr(true)?;
        socket.bind(addr)?;
        socket.listen(LISTEN_BACKLOG)
    };
    listen().map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))
}

/// The connection limits shared by all listeners, and what every session's
/// spool counts against (they outlive a reload).
struct Limits {
    /// One permit per client connection (`limits.max_connections`).
    global: Semaphore,
    per_ip: Arc<PerIp>,
    /// Bytes spooled by all sessions (`data.spool_max_total`).
    spooled: Arc<AtomicU64>,
    /// What sessions remember across sessions and reloads.
    shield: Arc<Shield>,
}

struct AcceptLoop {
    listener: TcpListener,
    /// Which entry of `config.listen` this socket serves, whatever the
    /// configuration in force.
    key: ListenerKey,
    shared: Arc<ArcSwap<Shared>>,
    limits: Arc<Limits>,
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

    fn start(&self, mut stream: TcpStream, tcp_peer: SocketAddr) {
        let _ = stream.set_nodelay(true);
        let id = format!("{:08x}", self.ids.fetch_add(1, Ordering::Relaxed));
        let span = info_span!("session", id = %id, client = tracing::field::Empty);
        let shared = self.shared.load_full();
        let limits = self.limits.clone();
        let shutdown = self.shutdown.clone();
        let key = self.key;
        // Boxed: the session's state machine is kilobytes, and an unboxed
        // task is copied whole each time tokio moves it (spawn, completion).
        let session = Box::pin(async move {
            let config = &shared.config;
            let Some(listener) = listener_for(&config.listen, key).cloned() else {
                return;
            };
            let Some(peer) = real_client(&mut stream, tcp_peer, &listener, config).await else {
                return;
            };
            tracing::Span::current().record("client", tracing::field::display(peer));
            if let Some(original) = inbound::original_destination(&stream) {
                debug!(%original, "redirected connection");
            }
            let max_per_ip = config.limits.max_connections_per_ip;
            let permit = limits.global.try_acquire();
            let slot = limits.per_ip.try_acquire(peer.ip(), max_per_ip);
            let host = config.hostname.as_str();
            let refusal = match (&permit, &slot) {
                (Err(_), _) => Some((ConnectionResult::RefusedLimit, replies::too_many_connections(host))),
                (_, None) => {
                    Some((ConnectionResult::RefusedPerIp, replies::too_many_connections_from(host, peer.ip())))
                }
                _ => None,
            };
            if let Some((result, reply)) = refusal {
                warn!(result = result.as_str(), "connection limit reached; refusing");
                metrics().connection(result);
                refuse(stream, reply).await;
                return;
            }
            let local = stream.local_addr().unwrap_or(tcp_peer);
            let sync = listener.forbid_unauth_pipelining.unwrap_or(config.limits.forbid_unauth_pipelining);
            let client = ClientInfo { peer, local, tls: listener.tls_mode(config.tls.is_some()), sync };
            metrics().connection(ConnectionResult::Accepted);
            metrics().active_sessions.inc();
            let env = SessionEnv {
                shared: shared.clone(),
                spooled: limits.spooled.clone(),
                dialer: TcpDialer,
                shutdown,
                shield: limits.shield.clone(),
            };
            session::serve(stream, client, id, env).await;
            metrics().active_sessions.dec();
            drop((permit, slot));
        });
        self.tracker.spawn(session.instrument(span));
    }
}

/// The real client: from the PROXY header on a listener that takes one
/// (`None`: the header was refused, and the connection with it), else the
/// TCP peer.
async fn real_client(
    stream: &mut TcpStream,
    tcp_peer: SocketAddr,
    listener: &Listener,
    config: &Config,
) -> Option<SocketAddr> {
    if !listener.proxy_protocol {
        return Some(tcp_peer);
    }
    let timeout = config.limits.idle_timeout.min(Duration::from_secs(10));
    match inbound::read_proxy_header(stream, tcp_peer, &listener.trusted_proxies, timeout).await {
        Ok(client) => Some(client.unwrap_or(tcp_peer)),
        Err(e) => {
            warn!(proxy = %tcp_peer, error = %e, "PROXY header refused; closing");
            metrics().connection(ConnectionResult::RefusedProxy);
            None
        }
    }
}

/// Sends a refusal and closes, within a few seconds even if the client does
/// not read.
async fn refuse(mut stream: TcpStream, reply: crate::wire::Reply) {
    let send = async {
        let _ = stream.write_all(&reply.to_bytes()).await;
        let _ = stream.shutdown().await;
    };
    let _ = tokio::time::timeout(Duration::from_secs(5), send).await;
}

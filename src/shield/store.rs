//! The shared store (`shield.store`): Redis or Valkey, what mail operators
//! already run for rspamd. Every replica counts each client's connections
//! there and finds the clients another replica let pass. Each request is
//! bounded by `shield.store.timeout`; a failed one answers nothing, and the
//! caller uses this replica's memory instead: mail is never refused because
//! the store is down. Going down and coming back are logged once each.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tracing::{info, warn};

use super::key::ClientKey;
use crate::config;
use crate::metrics::metrics;

/// How long a rate counter lives: its minute, and one more for clock skew
/// between replicas.
const RATE_KEY_TTL_SECS: u64 = 120;

/// A connection to the shared store; see the module docs.
pub(crate) struct Store {
    conn: ConnectionManager,
    timeout: Duration,
    prefix: String,
    up: AtomicBool,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("prefix", &self.prefix).field("up", &self.up).finish_non_exhaustive()
    }
}

/// What the store said about a connecting client.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Seen {
    /// Connections this minute, this one included (when counted).
    pub(crate) count: Option<u32>,
    /// A pass: `Some(name)`, the name possibly empty (when asked).
    pub(crate) pass: Option<Option<String>>,
}

impl Store {
    /// A store for `cfg`; it connects at its first request (and again after
    /// a failure), so doorman starts while the store is down.
    ///
    /// # Errors
    /// The URL cannot be used.
    pub(crate) fn new(cfg: &config::Store) -> Result<Self, String> {
        let client = redis::Client::open(cfg.url.as_str()).map_err(|e| format!("shield.store.url: {e}"))?;
        let manager = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(cfg.timeout))
            .set_response_timeout(Some(cfg.timeout))
            .set_number_of_retries(1);
        let conn =
            ConnectionManager::new_lazy_with_config(client, manager).map_err(|e| format!("shield.store: {e}"))?;
        metrics().store_up.set(1);
        Ok(Self { conn, timeout: cfg.timeout, prefix: cfg.prefix.clone(), up: AtomicBool::new(true) })
    }

    /// One round trip for a connecting client: count it (`count`) and look
    /// up its pass (`pass`). `None`: the store did not answer in time.
    pub(crate) async fn seen(&self, key: ClientKey, count: bool, pass: bool) -> Option<Seen> {
        let minute = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() / 60);
        let rate_key = format!("{}rate:{key}:{minute}", self.prefix);
        let pass_key = format!("{}pass:{key}", self.prefix);
        let mut pipe = redis::pipe();
        if count {
            pipe.cmd("INCR").arg(&rate_key).cmd("EXPIRE").arg(&rate_key).arg(RATE_KEY_TTL_SECS).ignore();
        }
        if pass {
            pipe.cmd("GET").arg(&pass_key);
        }
        let mut conn = self.conn.clone();
        let answer = match (count, pass) {
            (true, true) => self.bounded(pipe.query_async::<(u32, Option<String>)>(&mut conn)).await,
            (true, false) => self.bounded(pipe.query_async::<(u32,)>(&mut conn)).await.map(|(c,)| (c, None)),
            (false, true) => self.bounded(pipe.query_async::<(Option<String>,)>(&mut conn)).await.map(|(p,)| (0, p)),
            (false, false) => return Some(Seen::default()),
        };
        let (n, name) = answer?;
        Some(Seen { count: count.then_some(n), pass: name.map(|n| Some(n).filter(|n| !n.is_empty())) })
    }

    /// Records that `key` passed, for `ttl`, with its verified PTR name.
    pub(crate) async fn remember(&self, key: ClientKey, name: Option<&str>, ttl: Duration) {
        let pass_key = format!("{}pass:{key}", self.prefix);
        let mut conn = self.conn.clone();
        let mut set = redis::cmd("SET");
        set.arg(&pass_key).arg(name.unwrap_or("")).arg("EX").arg(ttl.as_secs().max(1));
        let _ = self.bounded(set.query_async::<()>(&mut conn)).await;
    }

    /// Runs one request within the timeout, and keeps track of up and down.
    async fn bounded<T>(&self, request: impl Future<Output = redis::RedisResult<T>>) -> Option<T> {
        match tokio::time::timeout(self.timeout, request).await {
            Ok(Ok(value)) => {
                if !self.up.swap(true, Ordering::Relaxed) {
                    info!("shield store reachable again");
                    metrics().store_up.set(1);
                }
                Some(value)
            }
            failed => {
                let why = match failed {
                    Ok(Err(e)) => e.to_string(),
                    _ => format!("no answer within {:?}", self.timeout),
                };
                metrics().store_errors.inc();
                if self.up.swap(false, Ordering::Relaxed) {
                    warn!(error = %why, "shield store unreachable; this replica uses its own memory until it answers");
                    metrics().store_up.set(0);
                }
                None
            }
        }
    }
}

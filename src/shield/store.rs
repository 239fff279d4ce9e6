//! The shared store (`shield.store`): Redis or Valkey, what mail operators
//! already run for rspamd. Every replica counts each client's connections
//! there and finds the clients another replica let pass. Each request is
//! bounded by `shield.store.timeout`; a failed one answers nothing, and the
//! caller uses this replica's memory instead: mail is never refused because
//! the store is down. Going down and coming back are logged once each.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tracing::{info, warn};

use super::key::ClientKey;
use crate::config;
use crate::metrics::metrics;
use crate::wire::{Charset, is_domain};

/// How long a rate counter lives: its minute, and one more for clock skew
/// between replicas.
const RATE_KEY_TTL_SECS: u64 = 120;

/// A connection to the shared store; see the module docs.
pub(crate) struct Store {
    conn: ConnectionManager,
    timeout: Duration,
    prefix: String,
    up: AtomicBool,
    /// The last failure: for [`RETRY_AFTER`] after it, the store is not asked
    /// (each connection would wait `timeout` before its greeting).
    failed_at: std::sync::Mutex<Option<std::time::Instant>>,
}

/// How long a failed store is left alone before it is asked again.
const RETRY_AFTER: Duration = Duration::from_secs(5);

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
    /// Its pass, when asked and it has a valid one.
    pub(crate) pass: Option<StoredPass>,
}

/// A pass as the store keeps it: `<unix seconds>|<address>|<PTR name>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoredPass {
    /// How long ago it was granted.
    pub(crate) age: Duration,
    /// The exact address that passed.
    pub(crate) ip: IpAddr,
    /// Its verified PTR name (checked again as a host name: the store is
    /// shared, and the name goes into XCLIENT).
    pub(crate) name: Option<String>,
}

impl StoredPass {
    fn parse(value: &str, now: u64) -> Option<Self> {
        let mut parts = value.splitn(3, '|');
        let since: u64 = parts.next()?.parse().ok()?;
        let ip: IpAddr = parts.next()?.parse().ok()?;
        let name = parts.next()?;
        let name = (!name.is_empty()).then(|| name.to_owned());
        if name.as_deref().is_some_and(|n| !is_domain(n, Charset::Ldh)) {
            return None;
        }
        Some(Self { age: Duration::from_secs(now.saturating_sub(since)), ip, name })
    }

    fn format(since: u64, ip: IpAddr, name: Option<&str>) -> String {
        format!("{since}|{ip}|{}", name.unwrap_or(""))
    }
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
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
        Ok(Self {
            conn,
            timeout: cfg.timeout,
            prefix: cfg.prefix.clone(),
            up: AtomicBool::new(true),
            failed_at: std::sync::Mutex::new(None),
        })
    }

    /// One round trip for a connecting client: count it (`count`) and look
    /// up its pass (`pass`). `None`: the store did not answer in time.
    pub(crate) async fn seen(&self, key: ClientKey, count: bool, pass: bool) -> Option<Seen> {
        let now = unix_now();
        let minute = now / 60;
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
        Some(Seen { count: count.then_some(n), pass: name.and_then(|v| StoredPass::parse(&v, now)) })
    }

    /// Records that `ip` (as `key`) passed, for `ttl`, with its verified PTR name.
    pub(crate) async fn remember(&self, key: ClientKey, ip: IpAddr, name: Option<&str>, ttl: Duration) {
        let pass_key = format!("{}pass:{key}", self.prefix);
        let mut conn = self.conn.clone();
        let mut set = redis::cmd("SET");
        set.arg(&pass_key).arg(StoredPass::format(unix_now(), ip, name)).arg("EX").arg(ttl.as_secs().max(1));
        let _ = self.bounded(set.query_async::<()>(&mut conn)).await;
    }

    /// Runs one request within the timeout, and keeps track of up and down.
    async fn bounded<T>(&self, request: impl Future<Output = redis::RedisResult<T>>) -> Option<T> {
        let resting = self.failed_at.lock().ok().and_then(|f| *f).is_some_and(|at| at.elapsed() < RETRY_AFTER);
        if resting {
            return None;
        }
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
                if let Ok(mut f) = self.failed_at.lock() {
                    *f = Some(std::time::Instant::now());
                }
                if self.up.swap(false, Ordering::Relaxed) {
                    warn!(error = %why, "shield store unreachable; this replica uses its own memory until it answers");
                    metrics().store_up.set(0);
                }
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_pass_is_read_back_and_a_forged_one_is_not() {
        let value = StoredPass::format(1000, "2001:db8::7".parse().unwrap(), Some("mx.example.net"));
        let pass = StoredPass::parse(&value, 1060).expect("valid");
        assert_eq!(
            (pass.age, pass.ip.to_string(), pass.name.as_deref()),
            (Duration::from_secs(60), "2001:db8::7".into(), Some("mx.example.net"))
        );
        assert_eq!(StoredPass::parse("1000|192.0.2.1|", 1000).and_then(|p| p.name), None);
        for forged in ["1000|192.0.2.1|a b", "1000|192.0.2.1|x\r\nMAIL", "x|192.0.2.1|", "1000|nope|", "1000"] {
            assert_eq!(StoredPass::parse(forged, 1000), None, "{forged:?}");
        }
    }
}

//! The shield's memory in this process: the pass cache and the connection
//! rate counters, each bounded (least recently seen clients go first). With
//! a shared store this is the fallback, and it is written through so the
//! fallback knows what this replica saw.

use std::net::IpAddr;
use std::num::NonZeroUsize;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use lru::LruCache;

use super::key::ClientKey;

/// A client that passed: until when, since when, the exact address that
/// passed and its verified PTR name, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pass {
    pub(crate) until: Instant,
    pub(crate) since: Instant,
    pub(crate) ip: IpAddr,
    pub(crate) name: Option<String>,
}

/// Bounded memory of passes and connection counts; see the module docs.
#[derive(Debug)]
pub(crate) struct Memory {
    passes: Mutex<LruCache<ClientKey, Pass>>,
    /// Per client: the minute (since `epoch`) being counted, and the count.
    rates: Mutex<LruCache<ClientKey, (u64, u32)>>,
    epoch: Instant,
}

impl Memory {
    /// Memory for at most `entries` clients of each kind.
    pub(crate) fn new(entries: usize) -> Self {
        let cap = NonZeroUsize::new(entries).unwrap_or(NonZeroUsize::MIN);
        Self { passes: Mutex::new(LruCache::new(cap)), rates: Mutex::new(LruCache::new(cap)), epoch: Instant::now() }
    }

    /// The pass of `key`, if it has one that has not expired.
    pub(crate) fn pass(&self, key: ClientKey, now: Instant) -> Option<Pass> {
        let mut passes = self.passes.lock().ok()?;
        match passes.get(&key) {
            Some(p) if p.until > now => Some(p.clone()),
            Some(_) => {
                passes.pop(&key);
                None
            }
            None => None,
        }
    }

    /// Remembers that `ip` (as `key`) passed, for `ttl` from `now`.
    pub(crate) fn remember(&self, key: ClientKey, ip: IpAddr, name: Option<String>, now: Instant, ttl: Duration) {
        if let Ok(mut passes) = self.passes.lock() {
            passes.put(key, Pass { until: now + ttl, since: now, ip, name });
        }
    }

    /// Counts a connection of `key` at `now`: the connections of this
    /// client in the current minute, this one included.
    pub(crate) fn count(&self, key: ClientKey, now: Instant) -> u32 {
        let minute = now.saturating_duration_since(self.epoch).as_secs() / 60;
        let Ok(mut rates) = self.rates.lock() else {
            return 0;
        };
        let entry = rates.get_or_insert_mut(key, || (minute, 0));
        if entry.0 != minute {
            *entry = (minute, 0);
        }
        entry.1 = entry.1.saturating_add(1);
        entry.1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(ip: &str) -> ClientKey {
        ClientKey::new(ip.parse().unwrap(), 64)
    }

    #[test]
    fn passes_expire_and_the_oldest_go_first() {
        let m = Memory::new(2);
        let t0 = Instant::now();
        let ip = "192.0.2.1".parse().unwrap();
        m.remember(key("192.0.2.1"), ip, Some("mx.example.net".into()), t0, Duration::from_secs(60));
        assert_eq!(m.pass(key("192.0.2.1"), t0).and_then(|p| p.name).as_deref(), Some("mx.example.net"));
        assert!(m.pass(key("192.0.2.1"), t0 + Duration::from_secs(61)).is_none(), "expired");
        for ip in ["192.0.2.2", "192.0.2.3", "192.0.2.4"] {
            m.remember(key(ip), ip.parse().unwrap(), None, t0, Duration::from_secs(60));
        }
        assert!(m.pass(key("192.0.2.2"), t0).is_none(), "evicted: the memory is bounded");
        assert!(m.pass(key("192.0.2.4"), t0).is_some());
    }

    #[test]
    fn counts_per_minute() {
        let m = Memory::new(10);
        let t0 = m.epoch;
        for n in 1..=3 {
            assert_eq!(m.count(key("192.0.2.1"), t0 + Duration::from_secs(5)), n);
        }
        assert_eq!(m.count(key("192.0.2.2"), t0), 1, "per client");
        assert_eq!(m.count(key("192.0.2.1"), t0 + Duration::from_secs(65)), 1, "a new minute");
    }
}

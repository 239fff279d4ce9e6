//! The shield: what doorman remembers across sessions, and across reloads,
//! to spare the MTA (docs/shield.md). The upstream's extensions (so a
//! client's EHLO is answered before any upstream session exists); the pass
//! cache (a client that passed the connect-time tests is greeted at once
//! and its DNS results reused, for `shield.pass_ttl`); and the connection
//! rate per client (`limits.max_connection_rate_per_ip`). Kept in memory,
//! and with `shield.store` shared by every replica through Redis or Valkey;
//! when the store does not answer, this replica's memory does.

mod key;
mod memory;
mod store;

use std::net::IpAddr;

use tokio::time::Instant;

use self::key::ClientKey;
use self::memory::Memory;
use self::store::Store;
use crate::config::Config;
use crate::metrics::{ConnectionLabels, metrics};
use crate::upstream::known::KnownCapabilities;

/// The process-wide memory of the shield; see the module docs.
#[derive(Debug)]
pub(crate) struct Shield {
    /// The upstream's extensions as last seen.
    pub(crate) upstream_caps: KnownCapabilities,
    memory: Memory,
    store: Option<Store>,
}

/// What the shield says about a connecting client.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Admission {
    /// Over `limits.max_connection_rate_per_ip`: refused with `421 4.7.0`.
    pub(crate) over_rate: bool,
    /// It passed within `shield.pass_ttl`: greeted at once; its verified
    /// PTR name, if it had one, is reused.
    pub(crate) passed: Option<Option<String>>,
}

impl Default for Shield {
    fn default() -> Self {
        Self { upstream_caps: KnownCapabilities::default(), memory: Memory::new(1024), store: None }
    }
}

impl Shield {
    /// The shield for `config` (`shield.memory_entries`, `shield.store`).
    ///
    /// # Errors
    /// The store's URL cannot be used.
    pub(crate) fn new(config: &Config) -> Result<Self, String> {
        let store = config.shield.store.as_ref().map(Store::new).transpose()?;
        Ok(Self {
            upstream_caps: KnownCapabilities::default(),
            memory: Memory::new(config.shield.memory_entries),
            store,
        })
    }

    /// Counts a new connection from `ip` and looks up its pass: from memory
    /// first, then (one round trip) from the store.
    pub(crate) async fn admit(&self, ip: IpAddr, config: &Config) -> Admission {
        let key = ClientKey::new(ip, config.shield.ipv6_prefix);
        let now = Instant::now();
        let limit = config.limits.max_connection_rate_per_ip;
        let want_pass = !config.shield.pass_ttl.is_zero();
        let local_pass = if want_pass { self.memory.pass(key, now) } else { None };
        let local_count = if limit > 0 { self.memory.count(key, now) } else { 0 };
        let ask_pass = want_pass && local_pass.is_none();
        let seen = match &self.store {
            Some(store) if limit > 0 || ask_pass => store.seen(key, limit > 0, ask_pass).await,
            _ => None,
        };
        let count = seen.as_ref().and_then(|s| s.count).unwrap_or(local_count);
        let passed = local_pass.map(|p| p.name).or_else(|| seen.and_then(|s| s.pass));
        if want_pass {
            let result = if passed.is_some() { "hit" } else { "miss" };
            metrics().pass_cache.get_or_create(&ConnectionLabels { result }).inc();
        }
        Admission { over_rate: limit > 0 && count > limit, passed }
    }

    /// Remembers that `ip` passed (with its verified PTR name), for
    /// `shield.pass_ttl`, here and in the store.
    pub(crate) async fn remember_pass(&self, ip: IpAddr, name: Option<&str>, config: &Config) {
        let ttl = config.shield.pass_ttl;
        if ttl.is_zero() {
            return;
        }
        let key = ClientKey::new(ip, config.shield.ipv6_prefix);
        self.memory.remember(key, name.map(str::to_owned), Instant::now(), ttl);
        if let Some(store) = &self.store {
            store.remember(key, name, ttl).await;
        }
    }
}

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
use std::time::Duration;

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
    /// It passed within `shield.pass_ttl`: greeted at once.
    pub(crate) passed: Option<Passed>,
}

/// A pass found for a connecting client.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Passed {
    /// The connect-time DNS results are reused (not looked up again): the
    /// same address passed less than [`DNS_REUSE`] ago. Another address of
    /// its IPv6 network, or an older pass, is looked up again.
    pub(crate) reuse_dns: bool,
    /// Its verified PTR name, when reused.
    pub(crate) name: Option<String>,
}

/// How long a pass's DNS results (PTR, blocklists) are reused: a client
/// listed after it passed is caught within this (postscreen's
/// `postscreen_dnsbl_ttl` is 1 hour too).
pub(crate) const DNS_REUSE: Duration = Duration::from_secs(3600);

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
        let fresh = |age: Duration, passed_ip: IpAddr| age < DNS_REUSE && passed_ip == ip.to_canonical();
        let passed = match (local_pass, seen.and_then(|s| s.pass)) {
            (Some(p), _) => Some((fresh(now.saturating_duration_since(p.since), p.ip), p.name)),
            (None, Some(p)) => Some((fresh(p.age, p.ip), p.name)),
            (None, None) => None,
        }
        .map(|(reuse_dns, name)| Passed { reuse_dns, name: name.filter(|_| reuse_dns) });
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
        let ip = ip.to_canonical();
        self.memory.remember(key, ip, name.map(str::to_owned), Instant::now(), ttl);
        if let Some(store) = &self.store {
            store.remember(key, ip, name, ttl).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn config() -> Config {
        let yaml =
            "hostname: mx.example.test\nlisten:\n  - address: 127.0.0.1:2525\nupstream:\n  address: 127.0.0.1:25\n";
        Config::from_yaml(yaml, Path::new("t.yaml")).expect("config")
    }

    /// The DNS results of a pass are reused only for the exact address that
    /// passed, and only for an hour: a neighbour in the same /64 is greeted
    /// at once but looked up (it never inherits the name that goes into
    /// XCLIENT), and a client listed after it passed is caught.
    #[tokio::test(start_paused = true)]
    async fn dns_results_are_reused_for_the_same_address_and_an_hour() {
        let (shield, config) = (Shield::default(), config());
        let ip = |s: &str| -> IpAddr { s.parse().unwrap() };
        shield.remember_pass(ip("2001:db8:1:2::10"), Some("mx.example.net"), &config).await;
        let same = shield.admit(ip("2001:db8:1:2::10"), &config).await.passed;
        assert_eq!(same, Some(Passed { reuse_dns: true, name: Some("mx.example.net".into()) }));
        let neighbour = shield.admit(ip("2001:db8:1:2::99"), &config).await.passed;
        assert_eq!(neighbour, Some(Passed { reuse_dns: false, name: None }));
        assert_eq!(shield.admit(ip("2001:db8:1:3::10"), &config).await.passed, None, "another /64");
        tokio::time::advance(DNS_REUSE + Duration::from_secs(1)).await;
        let later = shield.admit(ip("2001:db8:1:2::10"), &config).await.passed;
        assert_eq!(later, Some(Passed { reuse_dns: false, name: None }), "still passed, looked up again");
    }
}

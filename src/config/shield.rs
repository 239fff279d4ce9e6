//! The shield's configuration (`shield:`): how long a client that passed
//! the connect-time tests is remembered, how clients are keyed, and the
//! shared store that lets several replicas remember together. The
//! connection rate limit is `limits.max_connection_rate_per_ip`;
//! `docs/shield.md` describes all of it.

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, de};

use super::types::{duration, positive};

/// `shield:`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Shield {
    /// A client that passed the greeting delay and the connect-time tests
    /// is greeted at once, and its DNS results reused, for this long
    /// (postscreen's `postscreen_greet_ttl` is 1d). `0s`: no pass cache.
    #[serde(default = "default_pass_ttl", with = "duration")]
    pub pass_ttl: Duration,
    /// The most clients the pass cache and the rate counters hold in memory
    /// (the least recently seen go first).
    #[serde(default = "default_memory_entries", deserialize_with = "positive")]
    pub memory_entries: usize,
    /// IPv6 clients are remembered and counted by this prefix: one site
    /// gets a /64 and could otherwise use a fresh address per connection.
    #[serde(default = "default_ipv6_prefix", deserialize_with = "ipv6_prefix")]
    pub ipv6_prefix: u8,
    /// Redis or Valkey, shared by every replica; absent: memory only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<Store>,
}

impl Default for Shield {
    fn default() -> Self {
        Self {
            pass_ttl: default_pass_ttl(),
            memory_entries: default_memory_entries(),
            ipv6_prefix: default_ipv6_prefix(),
            store: None,
        }
    }
}

/// `shield.store`: the shared store.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Store {
    /// `redis://[user:password@]host:port[/db]`.
    #[serde(deserialize_with = "redis_url")]
    pub url: String,
    /// Bound of one request; past it doorman uses its memory instead.
    #[serde(default = "default_store_timeout", with = "duration")]
    pub timeout: Duration,
    /// Prefix of every key doorman writes.
    #[serde(default = "default_store_prefix")]
    pub prefix: String,
}

fn default_pass_ttl() -> Duration {
    Duration::from_secs(86_400)
}
fn default_memory_entries() -> usize {
    100_000
}
fn default_ipv6_prefix() -> u8 {
    64
}
fn default_store_timeout() -> Duration {
    Duration::from_millis(250)
}
fn default_store_prefix() -> String {
    "doorman:".into()
}

fn ipv6_prefix<'de, D: Deserializer<'de>>(d: D) -> Result<u8, D::Error> {
    let n = u8::deserialize(d)?;
    if (32..=128).contains(&n) { Ok(n) } else { Err(de::Error::custom("must be 32 to 128")) }
}

fn redis_url<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    if s.starts_with("redis://") && s.len() > "redis://".len() {
        Ok(s)
    } else {
        Err(de::Error::custom("must be a redis:// URL, e.g. redis://127.0.0.1:6379/0"))
    }
}

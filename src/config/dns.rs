//! The DNS resolver's configuration (`dns:`): the servers to ask, the bound
//! of one lookup, the cache.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

use super::types::{duration, positive};

/// DNS resolver settings (`dns:`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Dns {
    /// Servers to ask (`ip` or `ip:port`, port 53 by default). Empty: the
    /// system's `/etc/resolv.conf` (and `/etc/hosts`).
    #[serde(default)]
    pub nameservers: Vec<Nameserver>,
    /// Limit for one lookup, retries included. A lookup that runs out is a
    /// temporary failure: never a hard reject.
    #[serde(
        default = "default_dns_timeout",
        deserialize_with = "lookup_timeout",
        serialize_with = "duration::serialize"
    )]
    pub timeout: Duration,
    /// Answers kept in the cache (positive and negative, for their TTL).
    #[serde(default = "default_cache_size", deserialize_with = "positive")]
    pub cache_size: u64,
}

impl Default for Dns {
    fn default() -> Self {
        Self { nameservers: Vec::new(), timeout: default_dns_timeout(), cache_size: default_cache_size() }
    }
}

fn default_dns_timeout() -> Duration {
    Duration::from_secs(3)
}
fn default_cache_size() -> u64 {
    4096
}

/// The longest `dns.timeout`: a session waits on lookups, so a larger value
/// only hides a broken resolver.
const DNS_TIMEOUT_MAX: Duration = Duration::from_secs(60);

fn lookup_timeout<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let t = duration::deserialize(d)?;
    if t.is_zero() || t > DNS_TIMEOUT_MAX {
        return Err(de::Error::custom(format!(
            "must be more than 0 and at most {}",
            humantime::format_duration(DNS_TIMEOUT_MAX)
        )));
    }
    Ok(t)
}

/// A DNS server: `192.0.2.53`, `192.0.2.53:5353`, `[2001:db8::53]:53`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Nameserver(pub SocketAddr);

impl Nameserver {
    /// Parses `ip` or `ip:port`.
    ///
    /// # Errors
    /// A message naming the bad value.
    pub fn parse(s: &str) -> Result<Self, String> {
        if let Ok(ip) = s.parse::<IpAddr>() {
            return Ok(Self(SocketAddr::new(ip, 53)));
        }
        s.parse::<SocketAddr>()
            .map(Self)
            .map_err(|_| format!("{s:?} is not a name server address (write 192.0.2.53 or 127.0.0.1:5353)"))
    }
}

impl fmt::Display for Nameserver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<'de> Deserialize<'de> for Nameserver {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::parse(&String::deserialize(d)?).map_err(de::Error::custom)
    }
}

impl Serialize for Nameserver {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_section() {
        let d: Dns =
            serde_saphyr::from_str("nameservers: [127.0.0.1:5353, 192.0.2.53, \"[::1]:53\"]\ntimeout: 500ms\n")
                .unwrap();
        assert_eq!(d.nameservers[0].0, "127.0.0.1:5353".parse().unwrap());
        assert_eq!(d.nameservers[1].0.port(), 53);
        assert_eq!(d.timeout, Duration::from_millis(500));
        for bad in ["timeout: 0s", "timeout: 2m", "cache_size: 0", "nameservers: [dns.example]", "bogus: 1"] {
            assert!(serde_saphyr::from_str::<Dns>(bad).is_err(), "{bad}");
        }
    }
}

//! What every scanner section shares: where a scanner listens
//! ([`ScannerAddress`]), what a failure does ([`OnError`]), and the default
//! timeouts and backoff.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

use crate::wire::{Charset, is_domain};

/// What a scanner failure (or a message too big for it) does to the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OnError {
    /// `451 4.7.1`: the client retries later.
    TempFail,
    /// Relay it, marked `X-Doorman-Scan: <scanner>=unscanned(<reason>)`.
    Accept,
    /// `554 5.7.1` (`552 5.3.4` for a message too big to scan).
    Reject,
}

/// Where a scanner listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScannerAddress {
    /// `host:port` (a name is resolved at each connection; IPv6 as `[::1]:3310`).
    Tcp(String),
    /// `unix:/path/to/socket`.
    Unix(PathBuf),
}

impl ScannerAddress {
    /// Parses `host:port` or `unix:/absolute/path`.
    ///
    /// # Errors
    /// A message saying what is wrong.
    pub fn parse(s: &str) -> Result<Self, String> {
        if let Some(path) = s.strip_prefix("unix:") {
            if !path.starts_with('/') {
                return Err(format!("{s:?}: a unix socket path must be absolute"));
            }
            // sun_path holds 108 bytes including the terminating NUL.
            if path.len() > 107 {
                return Err(format!("{s:?}: unix socket path longer than 107 bytes"));
            }
            return Ok(Self::Unix(PathBuf::from(path)));
        }
        let Some((host, port)) = s.rsplit_once(':') else {
            return Err(format!("{s:?}: expected host:port or unix:/path"));
        };
        let port_ok = port.parse::<u16>().is_ok_and(|p| p != 0);
        let host_ok = if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            v6.parse::<std::net::Ipv6Addr>().is_ok()
        } else {
            host.parse::<std::net::Ipv4Addr>().is_ok() || is_domain(host, Charset::Ldh)
        };
        if !port_ok || !host_ok {
            return Err(format!(
                "{s:?}: expected host:port (e.g. 127.0.0.1:3310, [::1]:783, clamd.svc:3310) or unix:/path"
            ));
        }
        Ok(Self::Tcp(s.to_owned()))
    }
}

impl fmt::Display for ScannerAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tcp(a) => f.write_str(a),
            Self::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

impl<'de> Deserialize<'de> for ScannerAddress {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(de::Error::custom)
    }
}

impl Serialize for ScannerAddress {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// clamd.
pub(super) fn default_connect_timeout() -> Duration {
    Duration::from_secs(5)
}
pub(super) fn default_timeout() -> Duration {
    Duration::from_secs(30)
}
pub(super) fn default_backoff() -> Duration {
    Duration::from_secs(2)
}
pub(super) fn default_max_backoff() -> Duration {
    Duration::from_secs(60)
}
pub(super) fn default_on_error() -> OnError {
    OnError::TempFail
}

//! The configuration schema: one struct per YAML mapping, with documented
//! defaults. `docs/configuration.md` describes the same keys for operators.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::banner::Banner;
use super::commands::Commands;
use super::limits::Limits;
use bytesize::ByteSize;
use serde::{Deserialize, Serialize};

use super::dns::Dns;
use super::helo::Helo;
use super::network::{Listener, TlsFiles, Upstream};
use super::scanners::Scanners;
use super::types::{Hostname, duration, non_empty};
use crate::wire::LineEndingPolicy;

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Schema version; only 1 exists.
    #[serde(default = "version_1", deserialize_with = "version")]
    pub version: u32,
    /// Our public host name: banner, EHLO reply, reply texts.
    pub hostname: Hostname,
    /// Where doorman accepts client connections.
    #[serde(deserialize_with = "non_empty")]
    pub listen: Vec<Listener>,
    /// The MTA behind doorman.
    pub upstream: Upstream,
    /// Certificate and key for TLS toward clients (STARTTLS, implicit TLS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsFiles>,
    /// The greeting.
    #[serde(default)]
    pub banner: Banner,
    /// What doorman's EHLO reply adds and keeps.
    #[serde(default)]
    pub ehlo: Ehlo,
    /// HELO/EHLO rules.
    #[serde(default)]
    pub helo: Helo,
    /// DNS resolver for the HELO and client checks.
    #[serde(default)]
    pub dns: Dns,
    /// Content scanners (clamd, spamd, rspamd).
    #[serde(default)]
    pub scanners: Scanners,
    /// Commands doorman answers itself or passes on.
    #[serde(default)]
    pub commands: Commands,
    /// Message handling.
    #[serde(default)]
    pub data: Data,
    /// Limits per message, session and process.
    #[serde(default)]
    pub limits: Limits,
    /// SMTP AUTH relay.
    #[serde(default)]
    pub auth: Auth,
    /// Logging.
    #[serde(default)]
    pub log: Log,
    /// Graceful shutdown.
    #[serde(default)]
    pub shutdown: Shutdown,
    /// The admin HTTP endpoint (metrics, health); off unless an address is set.
    #[serde(default)]
    pub admin: Admin,
    /// What doorman remembers about clients across connections.
    #[serde(default)]
    pub shield: super::shield::Shield,
}

/// The admin HTTP endpoint.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Admin {
    /// `ip:port` for `/metrics`, `/healthz`, `/readyz`; keep it off the
    /// public interface. Absent: no endpoint.
    #[serde(default)]
    pub address: Option<SocketAddr>,
    /// Limit for the upstream probe behind `/readyz`.
    #[serde(default = "default_probe_timeout", with = "duration")]
    pub probe_timeout: Duration,
    /// `/readyz` probes the upstream and scanners at most this often; in
    /// between, and while a probe runs, it answers from the last result.
    #[serde(default = "default_probe_interval", with = "duration")]
    pub probe_interval: Duration,
}

impl Default for Admin {
    fn default() -> Self {
        Self { address: None, probe_timeout: default_probe_timeout(), probe_interval: default_probe_interval() }
    }
}

fn default_probe_timeout() -> Duration {
    Duration::from_secs(2)
}
fn default_probe_interval() -> Duration {
    Duration::from_secs(5)
}

/// Graceful shutdown on SIGTERM/SIGINT.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Shutdown {
    /// How long sessions inside a transaction may run on after a shutdown
    /// signal. Keep it below Kubernetes' `terminationGracePeriodSeconds`.
    #[serde(default = "default_grace_period", with = "duration")]
    pub grace_period: Duration,
}

impl Default for Shutdown {
    fn default() -> Self {
        Self { grace_period: default_grace_period() }
    }
}

fn default_grace_period() -> Duration {
    Duration::from_secs(25)
}

fn version_1() -> u32 {
    1
}

fn version<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    match u32::deserialize(d)? {
        1 => Ok(1),
        v => Err(serde::de::Error::custom(format!("unsupported version {v}; this doorman reads version 1"))),
    }
}

/// EHLO reply options.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Ehlo {
    /// RFC 3865 NO-SOLICITING; `""` advertises the bare keyword.
    #[serde(default)]
    pub no_soliciting: Option<String>,
    /// Extra keywords to relay from the upstream (e.g. an X- extension the
    /// operator knows passes through a proxy unchanged).
    #[serde(default)]
    pub pass_keywords: Vec<String>,
    /// Offer CHUNKING (BDAT, RFC 3030) to clients, whatever the upstream
    /// offers; BINARYMIME too where the upstream carries it.
    #[serde(default = "yes")]
    pub chunking: bool,
}

impl Default for Ehlo {
    fn default() -> Self {
        Self { no_soliciting: None, pass_keywords: Vec::new(), chunking: true }
    }
}

fn yes() -> bool {
    true
}

/// Message handling.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Data {
    /// Bare CR, bare LF and NUL in a message: reject | normalize.
    #[serde(default, with = "policy_name")]
    pub bare_line_endings: LineEndingPolicy,
    /// A message stays in memory up to this size, then spills to a temp file.
    #[serde(default = "default_spool_memory")]
    pub spool_memory_limit: ByteSize,
    /// Directory for spilled messages; default the system temp dir.
    #[serde(default)]
    pub spool_dir: Option<PathBuf>,
    /// All sessions' spooled messages together (memory and disk) may take
    /// at most this much; a message that would go over gets `452 4.3.1`.
    #[serde(default = "default_spool_max_total")]
    pub spool_max_total: ByteSize,
    /// Free space kept on the spool directory's file system for the host's
    /// other services; a message that would eat into it gets `452 4.3.1`.
    #[serde(default = "default_spool_min_free")]
    pub spool_min_free: ByteSize,
}

impl Default for Data {
    fn default() -> Self {
        Self {
            bare_line_endings: LineEndingPolicy::Reject,
            spool_memory_limit: default_spool_memory(),
            spool_dir: None,
            spool_max_total: default_spool_max_total(),
            spool_min_free: default_spool_min_free(),
        }
    }
}

fn default_spool_memory() -> ByteSize {
    ByteSize::kib(256)
}
fn default_spool_max_total() -> ByteSize {
    ByteSize::gib(2)
}
fn default_spool_min_free() -> ByteSize {
    ByteSize::mib(256)
}

mod policy_name {
    use serde::{Deserialize, Deserializer, Serializer, de};

    use crate::wire::LineEndingPolicy;

    pub(super) fn serialize<S: Serializer>(p: &LineEndingPolicy, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(match p {
            LineEndingPolicy::Reject => "reject",
            LineEndingPolicy::Normalize => "normalize",
        })
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<LineEndingPolicy, D::Error> {
        match String::deserialize(d)?.as_str() {
            "reject" => Ok(LineEndingPolicy::Reject),
            "normalize" => Ok(LineEndingPolicy::Normalize),
            other => Err(de::Error::custom(format!("unknown policy {other:?}, expected reject or normalize"))),
        }
    }
}

/// SMTP AUTH.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Auth {
    /// Advertise and relay AUTH on connections without TLS. Off by default:
    /// credentials would cross the network in clear.
    #[serde(default)]
    pub allow_plaintext: bool,
}

/// Log output.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Log {
    /// plain | json.
    #[serde(default)]
    pub format: LogFormat,
    /// A tracing filter: `info`, `debug`, `doorman=debug,warn`.
    #[serde(default = "default_log_level")]
    pub level: String,
    /// Envelope addresses (MAIL FROM, RCPT TO) in the transaction log line.
    /// Off by default: they are personal data.
    #[serde(default)]
    pub addresses: bool,
}

impl Default for Log {
    fn default() -> Self {
        Self { format: LogFormat::Plain, level: default_log_level(), addresses: false }
    }
}

fn default_log_level() -> String {
    "info".into()
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Plain,
    /// One JSON object per line.
    Json,
}

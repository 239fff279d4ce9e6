//! The configuration schema: one struct per YAML mapping, with documented
//! defaults. `docs/configuration.md` describes the same keys for operators.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::banner::Banner;
use bytesize::ByteSize;
use serde::{Deserialize, Serialize};

use super::dns::Dns;
use super::helo::Helo;
use super::network::{Listener, TlsFiles, Upstream};
use super::rules::SyncCheck;
use super::scanners::Scanners;
use super::types::{Hostname, duration, non_empty, positive};
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
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Ehlo {
    /// RFC 3865 NO-SOLICITING; `""` advertises the bare keyword.
    #[serde(default)]
    pub no_soliciting: Option<String>,
    /// Extra keywords to relay from the upstream (e.g. an X- extension the
    /// operator knows passes through a proxy unchanged).
    #[serde(default)]
    pub pass_keywords: Vec<String>,
}

/// Whether doorman answers a command or passes it to the upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Handling {
    /// doorman answers; the upstream never sees it.
    #[default]
    Local,
    /// Relayed to the upstream.
    Pass,
}

/// Commands that reveal information about the upstream.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Commands {
    /// VRFY: local answers `252 2.5.2`.
    #[serde(default)]
    pub vrfy: Handling,
    /// EXPN: local answers `502 5.5.1`.
    #[serde(default)]
    pub expn: Handling,
    /// HELP: local answers a text without software names.
    #[serde(default)]
    pub help: Handling,
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

/// Limits.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Largest message accepted (also advertised as SIZE, capped by the upstream's).
    #[serde(default = "default_max_message_size")]
    pub max_message_size: ByteSize,
    /// Recipients per message; more get `452 4.5.3`.
    #[serde(default = "default_max_recipients", deserialize_with = "positive")]
    pub max_recipients: usize,
    /// Concurrent client connections; more get `421 4.7.0`.
    #[serde(default = "default_max_connections", deserialize_with = "positive")]
    pub max_connections: usize,
    /// Concurrent connections from one client IP; more get `421 4.7.0`
    /// (Postfix's smtpd_client_connection_count_limit is 50 too).
    #[serde(default = "default_max_connections_per_ip", deserialize_with = "positive")]
    pub max_connections_per_ip: usize,
    /// A client silent this long gets `421 4.4.2`.
    #[serde(default = "default_idle_timeout", with = "duration")]
    pub idle_timeout: Duration,
    /// Longest time one message's DATA transfer may take; then `421 4.4.2`.
    #[serde(default = "default_data_timeout_limit", with = "duration")]
    pub data_timeout: Duration,
    /// Longest time from the client's final dot to doorman's reply: the
    /// scanners' verdicts and the upstream's reply to its own final dot must
    /// fit in it, or the client gets `451 4.4.1` (and the upstream never
    /// sees the final dot if it was not sent yet). Well under the 10 minutes
    /// a client waits (RFC 5321 4.5.3.2.6), so a client never gives up
    /// first and sends the message again (duplicates, RFC 1047).
    #[serde(default = "default_final_reply_timeout", with = "duration")]
    pub final_reply_timeout: Duration,
    /// Longest time a whole session may last; then `421 4.4.2` at the next
    /// command (a transaction in progress is not cut).
    #[serde(default = "default_session_timeout", with = "duration")]
    pub session_timeout: Duration,
    /// Protocol errors before the session is closed with `421`.
    #[serde(default = "default_max_errors", deserialize_with = "positive")]
    pub max_errors: u32,
    /// Commands that move no mail (HELO/EHLO, NOOP, RSET, VRFY, EXPN, HELP)
    /// a session may send; beyond it each one also counts as an error, as
    /// Postfix's `smtpd_junk_command_limit` does. Reset when a message is
    /// delivered.
    #[serde(default = "default_max_junk_commands")]
    pub max_junk_commands: u32,
    /// A client that sends commands before their replies where that is not
    /// allowed (before the greeting, without PIPELINING, after a command
    /// that must end a pipelined group such as DATA or EHLO) gets `554 5.5.0`
    /// and the connection closes, as under Postfix's setting of the same
    /// name. A listener may override it; `helo.exempt` networks skip it.
    #[serde(default)]
    pub forbid_unauth_pipelining: SyncCheck,
    /// New connections per minute from one client (an IPv6 client counted
    /// by its `shield.ipv6_prefix`); more get `421 4.7.0`, as under Postfix's
    /// `smtpd_client_connection_rate_limit`. 0: no limit. Shared by the
    /// replicas through `shield.store`.
    #[serde(default)]
    pub max_connection_rate_per_ip: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message_size: default_max_message_size(),
            max_recipients: default_max_recipients(),
            max_connections: default_max_connections(),
            max_connections_per_ip: default_max_connections_per_ip(),
            data_timeout: default_data_timeout_limit(),
            final_reply_timeout: default_final_reply_timeout(),
            session_timeout: default_session_timeout(),
            idle_timeout: default_idle_timeout(),
            max_errors: default_max_errors(),
            max_junk_commands: default_max_junk_commands(),
            forbid_unauth_pipelining: SyncCheck::default(),
            max_connection_rate_per_ip: 0,
        }
    }
}

fn default_max_message_size() -> ByteSize {
    ByteSize::mib(25)
}
fn default_max_recipients() -> usize {
    100
}
fn default_max_connections() -> usize {
    1000
}
fn default_max_connections_per_ip() -> usize {
    50
}
fn default_data_timeout_limit() -> Duration {
    Duration::from_secs(600)
}
fn default_final_reply_timeout() -> Duration {
    Duration::from_secs(180)
}
fn default_session_timeout() -> Duration {
    Duration::from_secs(3600)
}
fn default_idle_timeout() -> Duration {
    Duration::from_secs(300)
}
fn default_max_errors() -> u32 {
    20
}
fn default_max_junk_commands() -> u32 {
    100
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

//! The `limits` section: sizes, counts, timeouts and rates that bound
//! what one client, one session or all of them together may take.

use std::time::Duration;

use bytesize::ByteSize;
use serde::{Deserialize, Serialize};

use super::rules::SyncCheck;
use super::types::{duration, positive};

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
    /// allowed (without PIPELINING, after a command that must end a
    /// pipelined group such as DATA or EHLO, before the greeting beyond a
    /// first command, which is the `early_talker` rule's) gets `554 5.5.0`
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
    /// Refused recipients (5xx to RCPT) a session may collect before each
    /// further RCPT reply waits `harvest_delay` (a tarpit, as Postfix's
    /// `smtpd_soft_error_limit` and Exchange's tarpitting). Each recipient of
    /// a delivered message takes one refusal off the count. 0: no tarpit.
    #[serde(default = "default_harvest_tarpit_after")]
    pub harvest_tarpit_after: u32,
    /// How long each RCPT reply waits in the tarpit.
    #[serde(default = "default_harvest_delay", with = "duration")]
    pub harvest_delay: Duration,
    /// Refused recipients after which the session is closed with `421
    /// 4.7.0` (Postfix's `smtpd_hard_error_limit`). 0: no limit.
    #[serde(default = "default_max_refused_recipients")]
    pub max_refused_recipients: u32,
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
            harvest_tarpit_after: default_harvest_tarpit_after(),
            harvest_delay: default_harvest_delay(),
            max_refused_recipients: default_max_refused_recipients(),
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
fn default_harvest_tarpit_after() -> u32 {
    5
}
fn default_harvest_delay() -> Duration {
    Duration::from_secs(2)
}
fn default_max_refused_recipients() -> u32 {
    20
}

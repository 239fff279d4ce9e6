//! The scanner sections: `scanners.clamav`, `scanners.spamassassin` and
//! `scanners.rspamd`, each checked as a whole while it is read (`try_from`
//! a raw struct), so errors carry the key path.

use std::time::Duration;

use bytesize::ByteSize;
use serde::{Deserialize, Serialize};

use super::endpoint::{
    OnError, ScannerAddress, default_backoff, default_connect_timeout, default_max_backoff, default_on_error,
    default_timeout,
};
use crate::config::types::{duration, non_empty};

/// clamd.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Clamav {
    /// The endpoint pool (round robin, failing endpoints skipped for a while).
    #[serde(deserialize_with = "non_empty")]
    pub addresses: Vec<ScannerAddress>,
    /// Limit for one TCP/unix connect; then the next endpoint is tried.
    #[serde(default = "default_connect_timeout", with = "duration")]
    pub connect_timeout: Duration,
    /// Limit for the verdict after the final dot, and for any single write
    /// while the message streams.
    #[serde(default = "default_timeout", with = "duration")]
    pub timeout: Duration,
    /// Largest message streamed; keep it ≤ clamd's `StreamMaxLength`.
    #[serde(default = "default_clamav_max_size")]
    pub max_size: ByteSize,
    /// Connection refused, timeout, garbage reply.
    #[serde(default = "default_on_error")]
    pub on_error: OnError,
    /// A message over `max_size` (or over clamd's StreamMaxLength).
    #[serde(default = "default_clamav_on_too_big")]
    pub on_too_big: OnError,
    /// Skip this scanner for authenticated (AUTH) sessions.
    #[serde(default)]
    pub skip_authenticated: bool,
    /// First pause before a failed endpoint is tried again; doubles with each
    /// further failure up to `max_backoff`.
    #[serde(default = "default_backoff", with = "duration")]
    pub backoff: Duration,
    /// Longest pause before a failed endpoint is tried again.
    #[serde(default = "default_max_backoff", with = "duration")]
    pub max_backoff: Duration,
}

/// spamd.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, try_from = "RawSpamAssassin")]
pub struct SpamAssassin {
    /// The endpoint pool.
    pub addresses: Vec<ScannerAddress>,
    /// Limit for one connect.
    #[serde(with = "duration")]
    pub connect_timeout: Duration,
    /// Limit for the whole check after the final dot.
    #[serde(with = "duration")]
    pub timeout: Duration,
    /// Largest message sent to spamd (spamd has no limit of its own; spamc's
    /// default is 500 KB).
    pub max_size: ByteSize,
    /// At or above: `X-Spam-Flag: YES` and `X-Spam-Status: Yes`.
    pub tag_score: f64,
    /// At or above: refused with `554 5.7.1`; `null` never refuses.
    pub reject_score: Option<f64>,
    /// spamd's `User:` header (per-user preferences), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Connection refused, timeout, garbage reply.
    pub on_error: OnError,
    /// A message over `max_size`.
    pub on_too_big: OnError,
    /// Skip this scanner for authenticated (AUTH) sessions.
    pub skip_authenticated: bool,
    /// See [`Clamav::backoff`].
    #[serde(with = "duration")]
    pub backoff: Duration,
    /// See [`Clamav::max_backoff`].
    #[serde(with = "duration")]
    pub max_backoff: Duration,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpamAssassin {
    #[serde(deserialize_with = "non_empty")]
    addresses: Vec<ScannerAddress>,
    #[serde(default = "default_connect_timeout", with = "duration")]
    connect_timeout: Duration,
    #[serde(default = "default_timeout", with = "duration")]
    timeout: Duration,
    #[serde(default = "default_spam_max_size")]
    max_size: ByteSize,
    #[serde(default = "default_tag_score")]
    tag_score: f64,
    #[serde(default = "default_reject_score")]
    reject_score: Option<f64>,
    #[serde(default)]
    user: Option<String>,
    #[serde(default = "default_on_error")]
    on_error: OnError,
    #[serde(default = "default_spam_on_too_big")]
    on_too_big: OnError,
    #[serde(default)]
    skip_authenticated: bool,
    #[serde(default = "default_backoff", with = "duration")]
    backoff: Duration,
    #[serde(default = "default_max_backoff", with = "duration")]
    max_backoff: Duration,
}

impl TryFrom<RawSpamAssassin> for SpamAssassin {
    type Error = String;

    fn try_from(r: RawSpamAssassin) -> Result<Self, String> {
        if !r.tag_score.is_finite() {
            return Err("tag_score must be a finite number".into());
        }
        if let Some(reject) = r.reject_score {
            if !reject.is_finite() {
                return Err("reject_score must be a finite number or null".into());
            }
            if reject < r.tag_score {
                return Err(format!(
                    "reject_score ({reject}) is below tag_score ({}): refused mail would never be tagged",
                    r.tag_score
                ));
            }
        }
        if let Some(user) = &r.user {
            let ok = !user.is_empty()
                && user.len() <= 64
                && user.bytes().all(|b| b.is_ascii_graphic() && b != b':' && b != b'/');
            if !ok {
                return Err(format!(
                    "user {user:?} must be 1 to 64 printable ASCII characters without spaces, ':' or '/'"
                ));
            }
        }
        Ok(Self {
            addresses: r.addresses,
            connect_timeout: r.connect_timeout,
            timeout: r.timeout,
            max_size: r.max_size,
            tag_score: r.tag_score,
            reject_score: r.reject_score,
            user: r.user,
            on_error: r.on_error,
            on_too_big: r.on_too_big,
            skip_authenticated: r.skip_authenticated,
            backoff: r.backoff,
            max_backoff: r.max_backoff,
        })
    }
}

/// rspamd's normal worker (HTTP, `/checkv2`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, try_from = "RawRspamd")]
pub struct Rspamd {
    /// The endpoint pool: `host:port` of rspamd's normal worker (HTTP).
    pub addresses: Vec<ScannerAddress>,
    /// Limit for one connect.
    #[serde(with = "duration")]
    pub connect_timeout: Duration,
    /// Limit for the whole check after the final dot.
    #[serde(with = "duration")]
    pub timeout: Duration,
    /// Largest message sent to rspamd (held in memory while it is checked).
    pub max_size: ByteSize,
    /// rspamd's `Password:` header, if its worker wants one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// Connection refused, timeout, garbage reply.
    pub on_error: OnError,
    /// A message over `max_size`.
    pub on_too_big: OnError,
    /// Skip this scanner for authenticated (AUTH) sessions.
    pub skip_authenticated: bool,
    /// See [`Clamav::backoff`].
    #[serde(with = "duration")]
    pub backoff: Duration,
    /// See [`Clamav::max_backoff`].
    #[serde(with = "duration")]
    pub max_backoff: Duration,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRspamd {
    #[serde(deserialize_with = "non_empty")]
    addresses: Vec<ScannerAddress>,
    #[serde(default = "default_connect_timeout", with = "duration")]
    connect_timeout: Duration,
    #[serde(default = "default_timeout", with = "duration")]
    timeout: Duration,
    #[serde(default = "default_rspamd_max_size")]
    max_size: ByteSize,
    #[serde(default)]
    password: Option<String>,
    #[serde(default = "default_on_error")]
    on_error: OnError,
    #[serde(default = "default_spam_on_too_big")]
    on_too_big: OnError,
    #[serde(default)]
    skip_authenticated: bool,
    #[serde(default = "default_backoff", with = "duration")]
    backoff: Duration,
    #[serde(default = "default_max_backoff", with = "duration")]
    max_backoff: Duration,
}

impl TryFrom<RawRspamd> for Rspamd {
    type Error = String;

    fn try_from(r: RawRspamd) -> Result<Self, String> {
        if let Some(a) = r.addresses.iter().find(|a| matches!(a, ScannerAddress::Unix(_))) {
            return Err(format!("addresses: {a}: rspamd is reached over HTTP; give host:port"));
        }
        if let Some(p) = &r.password
            && (p.is_empty() || !p.bytes().all(|b| b.is_ascii_graphic()))
        {
            return Err("password must be printable ASCII without spaces".into());
        }
        Ok(Self {
            addresses: r.addresses,
            connect_timeout: r.connect_timeout,
            timeout: r.timeout,
            max_size: r.max_size,
            password: r.password,
            on_error: r.on_error,
            on_too_big: r.on_too_big,
            skip_authenticated: r.skip_authenticated,
            backoff: r.backoff,
            max_backoff: r.max_backoff,
        })
    }
}

/// A virus scanner that cannot see the whole message must not pass it:
/// retrying cannot make it smaller, so refuse with `552 5.3.4`.
fn default_clamav_on_too_big() -> OnError {
    OnError::Reject
}
/// Spam scanners conventionally skip big messages (spamc: 500 KB); refusing
/// every large attachment would be worse. The message is marked unscanned.
fn default_spam_on_too_big() -> OnError {
    OnError::Accept
}
/// Debian's shipped clamd.conf sets `StreamMaxLength 25M` (clamd's built-in
/// default is 100M), and doorman's default `max_message_size` is 25 MiB.
fn default_clamav_max_size() -> ByteSize {
    ByteSize::mib(25)
}
/// spamc's default (`-s 512000`, "500K").
fn default_spam_max_size() -> ByteSize {
    ByteSize::kib(500)
}
fn default_rspamd_max_size() -> ByteSize {
    ByteSize::mib(2)
}
fn default_tag_score() -> f64 {
    5.0
}
#[allow(clippy::unnecessary_wraps)]
fn default_reject_score() -> Option<f64> {
    Some(10.0)
}

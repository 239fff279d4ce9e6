//! The settings of each scanner section under `scanners:` (the section
//! itself is [`crate::config::Scanners`]). Every struct refuses unknown keys;
//! `docs/scanning.md` describes each key for operators.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use bytesize::ByteSize;
use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

use crate::config::is_domain;
use crate::config::types::duration;
use crate::replies;

/// Deserializes a list that must not be empty.
fn non_empty<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    let v = Vec::<T>::deserialize(d)?;
    if v.is_empty() { Err(de::Error::custom("must list at least one entry")) } else { Ok(v) }
}

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
            host.parse::<std::net::Ipv4Addr>().is_ok() || is_domain(host)
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

/// A reply text: what follows the code and enhanced code. Placeholders:
/// `{virus}`, `{score}`, `{session_id}`, `{url}`. One line of printable
/// ASCII, at most 300 characters before substitution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(into = "String")]
pub struct ReplyTemplate(String);

/// The placeholders a reply template may use.
pub const TEMPLATE_PLACEHOLDERS: [&str; 4] = ["virus", "score", "session_id", "url"];

impl ReplyTemplate {
    /// Validates a template.
    ///
    /// # Errors
    /// A message naming the problem (unknown placeholder, control characters, length).
    pub fn parse(s: &str) -> Result<Self, String> {
        if s.is_empty() || s.len() > 300 {
            return Err("a reply text must have 1 to 300 characters".into());
        }
        if !s.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            return Err(format!("reply text {s:?} must be one line of printable ASCII"));
        }
        let mut rest = s;
        while let Some(open) = rest.find('{') {
            let after = &rest[open + 1..];
            let Some(close) = after.find('}') else {
                return Err(format!("reply text {s:?}: unclosed '{{'"));
            };
            let name = &after[..close];
            if !TEMPLATE_PLACEHOLDERS.contains(&name) {
                return Err(format!(
                    "reply text {s:?}: unknown placeholder {{{name}}}; known: {{virus}} {{score}} {{session_id}} {{url}}"
                ));
            }
            rest = &after[close + 1..];
        }
        Ok(Self(s.to_owned()))
    }

    /// The template text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<ReplyTemplate> for String {
    fn from(t: ReplyTemplate) -> Self {
        t.0
    }
}

impl<'de> Deserialize<'de> for ReplyTemplate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(de::Error::custom)
    }
}

/// Reply texts for scanning verdicts; the codes are fixed.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ScanReplies {
    /// `554 5.7.1` for a virus.
    #[serde(default = "default_virus_text")]
    pub virus: ReplyTemplate,
    /// `554 5.7.1` for spam at or above `reject_score` (or rspamd `reject`).
    #[serde(default = "default_spam_text")]
    pub spam: ReplyTemplate,
    /// `451 4.7.1` when a scanner failed under `on_error: tempfail`.
    #[serde(default = "default_tempfail_text")]
    pub tempfail: ReplyTemplate,
    /// `554 5.7.1` when a scanner failed under `on_error: reject`.
    #[serde(default = "default_unscanned_text")]
    pub unscanned: ReplyTemplate,
    /// `552 5.3.4` for a message too big to scan under `on_too_big: reject`.
    #[serde(default = "default_too_big_text")]
    pub too_big: ReplyTemplate,
    /// `451 4.7.1` for rspamd's `soft reject` and `greylist` actions.
    #[serde(default = "default_deferred_text")]
    pub deferred: ReplyTemplate,
}

impl ScanReplies {
    pub(crate) fn all(&self) -> [(&'static str, &ReplyTemplate); 6] {
        [
            ("virus", &self.virus),
            ("spam", &self.spam),
            ("tempfail", &self.tempfail),
            ("unscanned", &self.unscanned),
            ("too_big", &self.too_big),
            ("deferred", &self.deferred),
        ]
    }
}

impl Default for ScanReplies {
    fn default() -> Self {
        Self {
            virus: default_virus_text(),
            spam: default_spam_text(),
            tempfail: default_tempfail_text(),
            unscanned: default_unscanned_text(),
            too_big: default_too_big_text(),
            deferred: default_deferred_text(),
        }
    }
}

fn builtin(text: &str) -> ReplyTemplate {
    ReplyTemplate(text.to_owned())
}
fn default_virus_text() -> ReplyTemplate {
    builtin(replies::SCAN_VIRUS_TEXT)
}
fn default_spam_text() -> ReplyTemplate {
    builtin(replies::SCAN_SPAM_TEXT)
}
fn default_tempfail_text() -> ReplyTemplate {
    builtin(replies::SCAN_TEMPFAIL_TEXT)
}
fn default_unscanned_text() -> ReplyTemplate {
    builtin(replies::SCAN_UNSCANNED_TEXT)
}
fn default_too_big_text() -> ReplyTemplate {
    builtin(replies::SCAN_TOO_BIG_TEXT)
}
fn default_deferred_text() -> ReplyTemplate {
    builtin(replies::SCAN_DEFERRED_TEXT)
}

fn default_connect_timeout() -> Duration {
    Duration::from_secs(5)
}
fn default_timeout() -> Duration {
    Duration::from_secs(30)
}
fn default_backoff() -> Duration {
    Duration::from_secs(2)
}
fn default_max_backoff() -> Duration {
    Duration::from_secs(60)
}
fn default_on_error() -> OnError {
    OnError::TempFail
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

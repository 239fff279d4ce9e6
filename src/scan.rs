//! Content scanning at SMTP time: clamd (viruses), spamd and rspamd (spam).
//!
//! The session builds one [`ScanEngine`] from the configuration and shares it
//! across sessions. For each message it calls [`ScanEngine::start`] after its
//! 354, [`MessageScan::feed`] with each decoded chunk while the message
//! arrives, and [`MessageScan::finish`] after the final dot (or
//! [`MessageScan::abort`] when the message is refused for other reasons or the
//! client goes away). The result is one [`ScanOutcome`]: deliver (with
//! headers to prepend), reject or tempfail.
//!
//! How the scanners run:
//! - clamd gets the message over INSTREAM *while it arrives*: a background
//!   task per message holds the connection and writes the chunks it receives
//!   over a bounded channel. After the final dot only the end-of-stream
//!   marker and clamd's reply remain.
//! - spamd and rspamd need the complete message and its length: they start
//!   at the final dot, concurrently with clamd's reply.
//! - The first *refusal* (virus, spam over the reject score, or a failure
//!   under `on_error: reject`) ends the scan at once: the other scanners are
//!   cancelled. Otherwise the outcome waits for every scanner, and the most
//!   severe action wins (reject, then tempfail, then deliver).
//!
//! # Layout
//! - [`clamav`]: the clamd INSTREAM client and its strict reply parser.
//! - [`spamassassin`]: the spamd SPAMC/1.5 client and its response parser.
//! - [`rspamd`]: the rspamd `/checkv2` client and its action mapping.
//! - `pool`: endpoint pools (round robin, failed endpoints skipped with backoff).
//! - `endpoint`: TCP or unix connections to a scanner.
//! - `verdict`: scanner results and failure policies → outcome, reply, headers.
//! - `headers`: the headers doorman adds (spoofed copies are removed as the
//!   message arrives, by [`crate::wire::OwnHeaderFilter`]).

pub mod clamav;
mod endpoint;
mod engine;
mod headers;
mod message;
mod pool;
pub mod rspamd;
pub mod spamassassin;
mod verdict;

use std::future::Future;
use std::net::IpAddr;
use std::time::Duration;

use bytes::Bytes;

pub use self::engine::ScanEngine;
pub use self::message::MessageScan;
pub use self::pool::Pool;
use crate::wire::Reply;

/// Chunks queued between [`MessageScan::feed`] and a streaming scanner.
/// Small on purpose: memory per session stays bounded, and a slow scanner
/// slows the client down (backpressure) instead of filling memory.
const STREAM_QUEUE: usize = 4;

/// What one scanner found in a message.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// A virus scanner found nothing.
    Clean,
    /// A virus scanner found a virus.
    Infected {
        /// The signature name as the scanner reported it.
        signature: String,
    },
    /// spamd's score; doorman applies its own `tag_score` / `reject_score`.
    Score(SpamReport),
    /// rspamd's action and score.
    Action {
        /// What rspamd wants done.
        action: rspamd::Action,
        /// Score, threshold and symbols.
        report: SpamReport,
    },
}

/// A spam scanner's report.
#[derive(Debug, Clone, PartialEq)]
pub struct SpamReport {
    /// The message's score.
    pub score: f64,
    /// The scanner's own threshold (informational; doorman applies its own).
    pub required: f64,
    /// Names of the rules (symbols) that fired.
    pub rules: Vec<String>,
}

/// Why a scanner gave no verdict. Each variant names the endpoint and the
/// stage where it failed.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// No endpoint accepted a connection.
    #[error("connecting to {endpoint}: {source}")]
    Connect {
        /// The last endpoint tried.
        endpoint: String,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
    /// A step took longer than its limit.
    #[error("{endpoint}: timed out {stage} after {after:?}")]
    Timeout {
        /// The endpoint.
        endpoint: String,
        /// What doorman was doing.
        stage: &'static str,
        /// The limit.
        after: Duration,
    },
    /// The connection failed (reset, closed) mid-request.
    #[error("{endpoint}: i/o error {stage}: {source}")]
    Io {
        /// The endpoint.
        endpoint: String,
        /// What doorman was doing.
        stage: &'static str,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The scanner's reply did not follow the protocol (garbage, truncated).
    #[error("{endpoint}: unexpected reply: {detail}")]
    Protocol {
        /// The endpoint.
        endpoint: String,
        /// What was wrong, with the reply escaped.
        detail: String,
    },
    /// The scanner answered with an error of its own.
    #[error("{endpoint}: scanner error: {detail}")]
    Scanner {
        /// The endpoint.
        endpoint: String,
        /// The scanner's error text, escaped.
        detail: String,
    },
    /// The message is bigger than the scanner takes (doorman's `max_size`,
    /// or the scanner's own limit such as clamd's StreamMaxLength).
    #[error("message too big to scan ({detail})")]
    TooBig {
        /// Which limit.
        detail: String,
    },
    /// A failure inside doorman (spool read error, task failure).
    #[error("internal error: {0}")]
    Internal(String),
}

impl ScanError {
    /// The outcome this error counts as.
    pub fn outcome(&self) -> Outcome {
        match self {
            Self::Connect { .. } => Outcome::ErrorConnect,
            Self::Timeout { .. } => Outcome::ErrorTimeout,
            Self::Io { .. } => Outcome::ErrorIo,
            Self::Protocol { .. } => Outcome::ErrorProtocol,
            Self::Scanner { .. } => Outcome::ErrorScanner,
            Self::TooBig { .. } => Outcome::TooBig,
            Self::Internal(_) => Outcome::ErrorInternal,
        }
    }

    /// Whether the endpoint is to blame (it is then skipped for a while).
    fn blames_endpoint(&self) -> bool {
        matches!(
            self,
            Self::Connect { .. }
                | Self::Timeout { .. }
                | Self::Io { .. }
                | Self::Protocol { .. }
                | Self::Scanner { .. }
        )
    }
}

/// The fixed set of per-scanner outcomes, for logs and metric labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Virus scanner: nothing found.
    Clean,
    /// Virus scanner: a virus.
    Infected,
    /// Spam scanner: below the tag score (rspamd: `no action`).
    Ham,
    /// Spam scanner: tagged, not refused (rspamd: `add header`, `rewrite subject`).
    Tagged,
    /// Spam scanner: refused (at or above `reject_score`; rspamd: `reject`).
    Spam,
    /// rspamd: `soft reject` or `greylist`.
    Deferred,
    /// The message is bigger than the scanner takes.
    TooBig,
    /// No endpoint accepted a connection.
    ErrorConnect,
    /// A step timed out.
    ErrorTimeout,
    /// The connection failed mid-request.
    ErrorIo,
    /// A reply that does not follow the protocol.
    ErrorProtocol,
    /// The scanner reported an error of its own.
    ErrorScanner,
    /// A failure inside doorman.
    ErrorInternal,
    /// Not run: `skip_authenticated` and the session is authenticated.
    Skipped,
    /// Cancelled because another scanner refused the message first.
    Cancelled,
}

impl Outcome {
    /// Every outcome, so metrics can register all label values up front.
    pub const ALL: [Self; 15] = [
        Self::Clean,
        Self::Infected,
        Self::Ham,
        Self::Tagged,
        Self::Spam,
        Self::Deferred,
        Self::TooBig,
        Self::ErrorConnect,
        Self::ErrorTimeout,
        Self::ErrorIo,
        Self::ErrorProtocol,
        Self::ErrorScanner,
        Self::ErrorInternal,
        Self::Skipped,
        Self::Cancelled,
    ];

    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Clean => "clean",
            Self::Infected => "infected",
            Self::Ham => "ham",
            Self::Tagged => "tagged",
            Self::Spam => "spam",
            Self::Deferred => "deferred",
            Self::TooBig => "too_big",
            Self::ErrorConnect => "error_connect",
            Self::ErrorTimeout => "error_timeout",
            Self::ErrorIo => "error_io",
            Self::ErrorProtocol => "error_protocol",
            Self::ErrorScanner => "error_scanner",
            Self::ErrorInternal => "error_internal",
            Self::Skipped => "skipped",
            Self::Cancelled => "cancelled",
        }
    }

    /// The reason word in `X-Doorman-Scan: <scanner>=unscanned(<reason>)`.
    fn unscanned_reason(self) -> &'static str {
        match self {
            Self::TooBig => "too_big",
            Self::ErrorConnect => "connect",
            Self::ErrorTimeout => "timeout",
            Self::ErrorIo => "io",
            Self::ErrorProtocol => "protocol",
            Self::ErrorScanner => "scanner",
            _ => "error",
        }
    }
}

/// A scanner that takes the complete message. `scan` returns a `Send`
/// future so the engine can spawn it.
pub trait Scanner: Send + Sync + 'static {
    /// The scanner's name: log field and metric label.
    fn name(&self) -> &'static str;

    /// Scans one complete message.
    fn scan(&self, message: Bytes, ctx: &ScanContext) -> impl Future<Output = Result<Verdict, ScanError>> + Send;
}

/// What the scanners may know about the message's session. Build it with
/// `..Default::default()` so new optional fields do not break callers.
#[derive(Debug, Clone, Default)]
pub struct ScanContext {
    /// The session id, for `{session_id}` in replies and rspamd's `Queue-Id`.
    pub session_id: String,
    /// The session authenticated (SMTP AUTH): scanners with
    /// `skip_authenticated` do not run.
    pub authenticated: bool,
    /// The client's address (rspamd `IP:`), if known.
    pub client_ip: Option<IpAddr>,
    /// The HELO/EHLO name (rspamd `Helo:`), if known.
    pub helo: Option<String>,
    /// The envelope sender without brackets (rspamd `From:`), if known.
    pub mail_from: Option<String>,
    /// The envelope recipients (rspamd `Rcpt:`).
    pub rcpt_to: Vec<String>,
}

/// What to do with the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanAction {
    /// Relay it, with [`ScanOutcome::headers`] prepended.
    Deliver,
    /// Refuse it with this 5xx reply; RSET the upstream.
    Reject(Reply),
    /// Refuse it with this 4xx reply; RSET the upstream.
    TempFail(Reply),
}

/// One scanner's part in the outcome.
#[derive(Debug, Clone)]
pub struct ScannerResult {
    /// `clamav`, `spamassassin` or `rspamd`.
    pub name: &'static str,
    /// One of [`Outcome::ALL`]'s labels.
    pub outcome: &'static str,
    /// Time from [`MessageScan::finish`] until this scanner's verdict was
    /// known: what it added after the final dot (zero if it was known before).
    pub duration: Duration,
    /// The signature, score or error, for the transaction log line.
    pub detail: Option<String>,
}

/// The scan's outcome for one message.
#[derive(Debug, Clone)]
pub struct ScanOutcome {
    /// Deliver, reject or tempfail.
    pub action: ScanAction,
    /// Header lines to prepend to the relayed message, each ending in CRLF;
    /// empty unless the action is [`ScanAction::Deliver`].
    pub headers: String,
    /// Per scanner, in configuration order (clamav, spamassassin, rspamd).
    pub results: Vec<ScannerResult>,
}

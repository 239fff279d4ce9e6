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
//! - [`settings`]: the keys of each scanner section of the configuration.
//! - `pool`: endpoint pools (round robin, failed endpoints skipped with backoff).
//! - `endpoint`: TCP or unix connections to a scanner.
//! - `verdict`: scanner results and failure policies → outcome, reply, headers.
//! - `headers`: the headers doorman adds, and [`is_own_header`] /
//!   [`OwnHeaderFilter`] to remove spoofed copies before relaying.

pub mod clamav;
mod endpoint;
mod headers;
mod pool;
pub mod rspamd;
pub mod settings;
pub mod spamassassin;
mod verdict;

use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::task::{AbortHandle, Id, JoinSet};
use tokio::time::Instant;
use tracing::{debug, info, warn};

pub use self::headers::{OwnHeaderFilter, is_own_header};
pub use self::pool::Pool;
use self::verdict::{Act, Decision, Policy, Renderer};
use crate::config::Scanners;
use crate::spool::Spool;
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

/// The scanners, built once and shared by all sessions (it holds the
/// endpoint pools and their health).
#[derive(Debug, Clone, Default)]
pub struct ScanEngine {
    clamav: Option<Arc<Clamav>>,
    spamassassin: Option<Arc<SpamAssassin>>,
    rspamd: Option<Arc<Rspamd>>,
    render: Arc<Renderer>,
}

#[derive(Debug)]
struct Clamav {
    client: clamav::ClamdClient,
    policy: Policy,
    skip_authenticated: bool,
    max_size: u64,
    /// Limit for one chunk to be accepted by the streaming task.
    feed_timeout: Duration,
}

#[derive(Debug)]
struct SpamAssassin {
    client: spamassassin::SpamdClient,
    policy: Policy,
    skip_authenticated: bool,
    max_size: u64,
}

#[derive(Debug)]
struct Rspamd {
    client: rspamd::RspamdClient,
    policy: Policy,
    skip_authenticated: bool,
    max_size: u64,
}

/// Which scanner: also the order of results and headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Slot {
    Clamav,
    SpamAssassin,
    Rspamd,
}

impl Slot {
    const ALL: [Self; 3] = [Self::Clamav, Self::SpamAssassin, Self::Rspamd];

    fn name(self) -> &'static str {
        match self {
            Self::Clamav => clamav::NAME,
            Self::SpamAssassin => spamassassin::NAME,
            Self::Rspamd => rspamd::NAME,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl ScanEngine {
    /// Builds the scanners and their pools from `scanners:`.
    pub fn from_config(cfg: &Scanners) -> Self {
        let clamav = cfg.clamav.as_ref().map(|c| {
            Arc::new(Clamav {
                client: clamav::ClamdClient::new(c),
                policy: Policy::new(c.on_error, c.on_too_big),
                skip_authenticated: c.skip_authenticated,
                max_size: c.max_size.as_u64(),
                feed_timeout: c.timeout.0,
            })
        });
        let spamassassin = cfg.spamassassin.as_ref().map(|c| {
            Arc::new(SpamAssassin {
                client: spamassassin::SpamdClient::new(c),
                policy: Policy::new(c.on_error, c.on_too_big).with_scores(c.tag_score, c.reject_score),
                skip_authenticated: c.skip_authenticated,
                max_size: c.max_size.as_u64(),
            })
        });
        let rspamd = cfg.rspamd.as_ref().map(|c| {
            Arc::new(Rspamd {
                client: rspamd::RspamdClient::new(c),
                policy: Policy::new(c.on_error, c.on_too_big),
                skip_authenticated: c.skip_authenticated,
                max_size: c.max_size.as_u64(),
            })
        });
        Self { clamav, spamassassin, rspamd, render: Arc::new(Renderer::new(&cfg.replies, cfg.url.clone())) }
    }

    /// Readiness: clamd answers PING and spamd accepts a connection.
    ///
    /// # Errors
    /// The first scanner that does not answer.
    pub async fn probe(&self) -> Result<(), String> {
        if let Some(c) = &self.clamav {
            c.client.ping().await.map_err(|e| format!("clamd: {e}"))?;
        }
        if let Some(s) = &self.spamassassin {
            s.client.reachable().await.map_err(|e| format!("spamd: {e}"))?;
        }
        Ok(())
    }

    /// Any scanner is configured.
    pub fn is_enabled(&self) -> bool {
        self.clamav.is_some() || self.spamassassin.is_some() || self.rspamd.is_some()
    }

    /// Starts scanning one message: call it after the 354, inside the tokio
    /// runtime. Streaming scanners (clamd) connect in the background at once.
    pub fn start(&self, ctx: ScanContext) -> MessageScan {
        let skip = |skip_authenticated: bool| skip_authenticated && ctx.authenticated;
        let mut skipped = Vec::new();
        let mut tasks = JoinSet::new();
        let mut task_slots = Vec::new();
        let mut stream = None;
        if let Some(c) = &self.clamav {
            if skip(c.skip_authenticated) {
                skipped.push(Slot::Clamav);
            } else {
                let (tx, rx) = mpsc::channel(STREAM_QUEUE);
                let scanner = c.clone();
                let abort = tasks.spawn(async move { scanner.client.stream(rx).await });
                task_slots.push((abort.id(), Slot::Clamav));
                stream =
                    Some(Stream { tx: Some(tx), abort, fed: 0, max_size: c.max_size, feed_timeout: c.feed_timeout });
            }
        }
        if self.spamassassin.as_ref().is_some_and(|s| skip(s.skip_authenticated)) {
            skipped.push(Slot::SpamAssassin);
        }
        if self.rspamd.as_ref().is_some_and(|s| skip(s.skip_authenticated)) {
            skipped.push(Slot::Rspamd);
        }
        MessageScan { engine: self.clone(), ctx: Arc::new(ctx), stream, tasks, task_slots, early: Vec::new(), skipped }
    }
}

/// Whether a streaming scan failed in a way a fresh connection may fix:
/// the connection broke or answered garbage (not a timeout, a refused
/// connection or a size limit).
fn stream_broke(result: &Result<Verdict, ScanError>) -> bool {
    matches!(result, Err(ScanError::Io { .. } | ScanError::Protocol { .. }))
}

/// One message's scan in progress; see the module docs. Dropping it (or
/// [`MessageScan::abort`]) cancels every scanner task.
#[derive(Debug)]
pub struct MessageScan {
    engine: ScanEngine,
    ctx: Arc<ScanContext>,
    /// clamd's INSTREAM task, while the message arrives.
    stream: Option<Stream>,
    /// Every scanner task of this message; dropping the set aborts them.
    tasks: JoinSet<Result<Verdict, ScanError>>,
    /// Which scanner each task belongs to.
    task_slots: Vec<(Id, Slot)>,
    /// Results known before the final dot (too big, a stalled stream).
    early: Vec<(Slot, ScanError)>,
    /// Scanners not run for this session.
    skipped: Vec<Slot>,
}

#[derive(Debug)]
struct Stream {
    /// `None` once the stream ended (message complete, too big, or the task
    /// finished early); dropping the sender tells the task the message ended.
    tx: Option<mpsc::Sender<Bytes>>,
    abort: AbortHandle,
    fed: u64,
    max_size: u64,
    feed_timeout: Duration,
}

impl MessageScan {
    /// Feeds the next chunk of decoded message content to the streaming
    /// scanners. Waits only while the scanner's queue is full (backpressure),
    /// at most the scanner's `timeout`; never fails: problems are reported by
    /// [`MessageScan::finish`].
    pub async fn feed(&mut self, chunk: &[u8]) {
        let Some(s) = &mut self.stream else {
            return;
        };
        let Some(tx) = &s.tx else {
            return;
        };
        if chunk.is_empty() {
            return;
        }
        s.fed += chunk.len() as u64;
        if s.fed > s.max_size {
            // Never rely on clamd's own StreamMaxLength handling: stop here.
            s.tx = None;
            s.abort.abort();
            self.early.push((
                Slot::Clamav,
                ScanError::TooBig { detail: format!("over clamav.max_size of {} bytes", s.max_size) },
            ));
            return;
        }
        let chunk = match tx.try_send(Bytes::copy_from_slice(chunk)) {
            Ok(()) => return,
            Err(mpsc::error::TrySendError::Closed(_)) => {
                // The task ended early (connect failure, clamd closed); its
                // result is waiting in the join set.
                s.tx = None;
                return;
            }
            Err(mpsc::error::TrySendError::Full(chunk)) => chunk,
        };
        match tokio::time::timeout(s.feed_timeout, tx.send(chunk)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => s.tx = None,
            Err(_) => {
                s.tx = None;
                s.abort.abort();
                self.early.push((
                    Slot::Clamav,
                    ScanError::Timeout {
                        endpoint: "clamd".into(),
                        stage: "streaming the message",
                        after: s.feed_timeout,
                    },
                ));
            }
        }
    }

    /// Completes the scan after the final dot: ends the streams, runs the
    /// whole-message scanners on `spool` (concurrently with the streams'
    /// replies) and combines the verdicts. A refusal returns at once and
    /// cancels the scanners still running.
    pub async fn finish(mut self, spool: &mut Spool) -> ScanOutcome {
        let started = Instant::now();
        if let Some(s) = &mut self.stream {
            s.tx = None;
        }
        let mut decided: [Option<(Decision, Duration)>; 3] = [None, None, None];
        let early = std::mem::take(&mut self.early);
        for (slot, err) in early {
            if let Some(d) = self.decide(slot, Err(err)) {
                decided[slot.index()] = Some((d, Duration::ZERO));
            }
        }
        if let Some(outcome) = self.refusal_so_far(&decided) {
            return self.conclude(decided, Some(outcome), started);
        }
        self.start_whole_message_scanners(spool, &mut decided).await;
        if let Some(outcome) = self.refusal_so_far(&decided) {
            return self.conclude(decided, Some(outcome), started);
        }
        let mut replayed = false;
        while let Some(joined) = self.tasks.join_next_with_id().await {
            let (id, result) = match joined {
                Ok((id, r)) => (id, r),
                Err(e) => {
                    let detail = if e.is_panic() { "scanner task panicked" } else { "scanner task cancelled" };
                    (e.id(), Err(ScanError::Internal(detail.into())))
                }
            };
            let Some(slot) = self.slot_of(id) else {
                continue;
            };
            if decided[slot.index()].is_some() {
                // Decided early (aborted as too big or stalled).
                continue;
            }
            if slot == Slot::Clamav && !replayed && stream_broke(&result) {
                replayed = true;
                if self.replay_clamav(spool, &result).await {
                    continue;
                }
            }
            if let Some(d) = self.decide(slot, result) {
                decided[slot.index()] = Some((d, started.elapsed()));
            }
            if let Some(outcome) = self.refusal_so_far(&decided) {
                return self.conclude(decided, Some(outcome), started);
            }
        }
        self.conclude(decided, None, started)
    }

    /// Cancels every scanner of this message (the client went away or the
    /// message was refused for another reason). Nothing keeps running.
    pub fn abort(mut self) {
        self.tasks.abort_all();
    }

    /// clamd's stream broke before its verdict (reset, closed, garbage:
    /// e.g. clamd's own ReadTimeout during a long pause of the client, or a
    /// clamd restart): scan the spooled message once more, from the start,
    /// on the next endpoint. Returns whether a new scan was started.
    async fn replay_clamav(&mut self, spool: &mut Spool, failed: &Result<Verdict, ScanError>) -> bool {
        let Some(c) = self.engine.clamav.clone() else {
            return false;
        };
        let Ok(Some(message)) = spool.to_bytes(c.max_size).await else {
            return false;
        };
        if let Err(e) = failed {
            warn!(scanner = clamav::NAME, error = %e, "clamd stream broke; scanning the spooled message again");
        }
        let ctx = self.ctx.clone();
        let abort = self.tasks.spawn(async move { c.client.scan(message, &ctx).await });
        self.task_slots.push((abort.id(), Slot::Clamav));
        true
    }

    fn slot_of(&self, id: Id) -> Option<Slot> {
        self.task_slots.iter().find_map(|(i, s)| (*i == id).then_some(*s))
    }

    /// Spawns spamd/rspamd with the complete message, or records why not.
    async fn start_whole_message_scanners(
        &mut self,
        spool: &mut Spool,
        decided: &mut [Option<(Decision, Duration)>; 3],
    ) {
        let sa = self.engine.spamassassin.clone().filter(|_| !self.skipped.contains(&Slot::SpamAssassin));
        let rs = self.engine.rspamd.clone().filter(|_| !self.skipped.contains(&Slot::Rspamd));
        let limits: Vec<(Slot, u64)> =
            [sa.as_ref().map(|s| (Slot::SpamAssassin, s.max_size)), rs.as_ref().map(|s| (Slot::Rspamd, s.max_size))]
                .into_iter()
                .flatten()
                .collect();
        let Some(limit) = limits.iter().map(|(_, l)| *l).max() else {
            return;
        };
        let message = match spool.to_bytes(limit).await {
            Ok(m) => m,
            Err(e) => {
                for (slot, _) in &limits {
                    let err = ScanError::Internal(format!("reading the spool: {e}"));
                    if let Some(d) = self.decide(*slot, Err(err)) {
                        decided[slot.index()] = Some((d, Duration::ZERO));
                    }
                }
                return;
            }
        };
        for (slot, max) in limits {
            let msg = message.clone().filter(|m| m.len() as u64 <= max);
            let Some(msg) = msg else {
                let err = ScanError::TooBig {
                    detail: format!("{} bytes over {}.max_size of {max} bytes", spool.len(), slot.name()),
                };
                if let Some(d) = self.decide(slot, Err(err)) {
                    decided[slot.index()] = Some((d, Duration::ZERO));
                }
                continue;
            };
            let ctx = self.ctx.clone();
            let abort = match slot {
                Slot::SpamAssassin => {
                    let Some(s) = sa.clone() else { continue };
                    self.tasks.spawn(async move { s.client.scan(msg, &ctx).await })
                }
                Slot::Rspamd => {
                    let Some(s) = rs.clone() else { continue };
                    self.tasks.spawn(async move { s.client.scan(msg, &ctx).await })
                }
                Slot::Clamav => continue,
            };
            self.task_slots.push((abort.id(), slot));
        }
    }

    /// Applies the scanner's policy to its result, and logs it once.
    fn decide(&self, slot: Slot, result: Result<Verdict, ScanError>) -> Option<Decision> {
        let sid = &self.ctx.session_id;
        let render = &self.engine.render;
        let name = slot.name();
        let decision = match slot {
            Slot::Clamav => {
                let policy = &self.engine.clamav.as_ref()?.policy;
                verdict::decide(name, policy, &result, render, sid)
            }
            Slot::SpamAssassin => {
                let policy = &self.engine.spamassassin.as_ref()?.policy;
                verdict::decide(name, policy, &result, render, sid)
            }
            Slot::Rspamd => {
                let policy = &self.engine.rspamd.as_ref()?.policy;
                verdict::decide(name, policy, &result, render, sid)
            }
        };
        let outcome = decision.outcome.as_str();
        match &result {
            Err(ScanError::TooBig { detail }) => {
                info!(scanner = name, outcome, policy = decision.policy_word(), detail = %detail, "message too big to scan; applying on_too_big");
            }
            Err(e) => {
                warn!(scanner = name, outcome, policy = decision.policy_word(), error = %e, "scan failed; applying on_error");
            }
            Ok(Verdict::Infected { signature }) => {
                info!(scanner = name, signature = %signature, "virus found");
            }
            Ok(_) => debug!(scanner = name, outcome, detail = ?decision.detail, "scan verdict"),
        }
        Some(decision)
    }

    /// The first refusal among the decisions so far, if any.
    fn refusal_so_far(&self, decided: &[Option<(Decision, Duration)>; 3]) -> Option<ScanAction> {
        decided.iter().flatten().find_map(|(d, _)| match &d.act {
            Act::Reject(r) => Some(ScanAction::Reject(r.clone())),
            _ => None,
        })
    }

    /// Builds the outcome; scanners without a decision were cancelled.
    fn conclude(
        mut self,
        decided: [Option<(Decision, Duration)>; 3],
        refusal: Option<ScanAction>,
        started: Instant,
    ) -> ScanOutcome {
        self.tasks.abort_all();
        let cancelled_after = started.elapsed();
        let configured = |slot: Slot| match slot {
            Slot::Clamav => self.engine.clamav.is_some(),
            Slot::SpamAssassin => self.engine.spamassassin.is_some(),
            Slot::Rspamd => self.engine.rspamd.is_some(),
        };
        let mut results = Vec::new();
        let mut decisions = Vec::new();
        for (slot, entry) in Slot::ALL.into_iter().zip(decided) {
            if !configured(slot) {
                continue;
            }
            let (outcome, duration, detail) = match entry {
                Some((d, took)) => {
                    let r = (d.outcome, took, d.detail.clone());
                    decisions.push((slot, d));
                    r
                }
                None if self.skipped.contains(&slot) => {
                    (Outcome::Skipped, Duration::ZERO, Some("authenticated".into()))
                }
                None => (Outcome::Cancelled, cancelled_after, None),
            };
            results.push(ScannerResult { name: slot.name(), outcome: outcome.as_str(), duration, detail });
        }
        let action = refusal.unwrap_or_else(|| {
            decisions
                .iter()
                .find_map(|(_, d)| match &d.act {
                    Act::TempFail(r) => Some(ScanAction::TempFail(r.clone())),
                    _ => None,
                })
                .unwrap_or(ScanAction::Deliver)
        });
        let headers = if action == ScanAction::Deliver {
            let skipped: Vec<&'static str> = self.skipped.iter().map(|s| s.name()).collect();
            headers::compose(decisions.iter().map(|(s, d)| (s.name(), d)), &skipped)
        } else {
            String::new()
        };
        ScanOutcome { action, headers, results }
    }
}

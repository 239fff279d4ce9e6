//! One client session: greet, then read a command, decide, relay, reply,
//! until QUIT or a close on either side. The loop is short; each verb has its
//! own file (`helo`, `envelope`, `data`, `auth`, `query`). Handlers queue
//! replies and never write to the socket themselves.

mod auth;
mod chunking;
mod connection;
mod data;
mod envelope;
mod harvest;
mod helo;
mod identity;
mod input;
mod intake;
mod link;
mod policy;
mod query;
mod start;
mod starttls;
mod transaction;
mod waits;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use self::connection::Connection;
pub(crate) use self::start::{ClientInfo, SessionEnv, serve};
use self::transaction::Transaction;
use crate::config::Config;
use crate::metrics::{NoUpstream, Reason, metrics};
use crate::replies;
use crate::state::Shared;
use crate::timer::Timer;
use crate::tls::Io;
use crate::upstream::{Dialer, Stage, UpstreamClient, UpstreamError};
use crate::wire::Capabilities;
use crate::wire::ehlo::{Advertised, EhloPolicy};
use crate::wire::{Command, CommandError, Reply};

/// What the loop does after a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Continue,
    Close,
}

/// Why a handler stopped.
#[derive(Debug, thiserror::Error)]
enum SessionError {
    /// The client's connection failed; nothing more can be said to it.
    #[error("client connection: {0}")]
    Client(#[from] std::io::Error),
    /// The upstream failed; the client gets a 421.
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    /// The upstream connection was left mid-command (a time budget ran
    /// out): the client gets this reply, and the upstream no QUIT.
    #[error("upstream connection abandoned")]
    Abandoned(Reply),
}

type Step = Result<Flow, SessionError>;

/// The metric reason of a command error.
fn reason(e: &CommandError) -> Reason {
    match e {
        CommandError::LineTooLong => Reason::LineTooLong,
        CommandError::BadBytes => Reason::BadBytes,
        CommandError::NotAscii => Reason::NotAscii,
        CommandError::Unknown => Reason::UnknownCommand,
        CommandError::NotImplemented => Reason::NotImplemented,
        CommandError::Chunking => Reason::Bdat,
        CommandError::Forbidden => Reason::ForbiddenCommand,
        CommandError::NonSmtp => Reason::NonSmtp,
        CommandError::Syntax { .. } => Reason::Syntax,
        CommandError::BadSender => Reason::BadSender,
        CommandError::BadRecipient => Reason::BadRecipient,
        CommandError::BadParam => Reason::BadParameter,
    }
}

/// Commands that move no mail: a client may send `limits.max_junk_commands`
/// of them (Postfix's `smtpd_junk_command_limit` counts the same kind).
fn is_junk(cmd: &Command) -> bool {
    matches!(
        cmd,
        Command::Helo { .. }
            | Command::Ehlo { .. }
            | Command::Noop
            | Command::Rset
            | Command::Vrfy { .. }
            | Command::Expn { .. }
            | Command::Help { .. }
    )
}

/// Per-session state; see the module docs.
struct Session<S: Io, D: Dialer> {
    conn: Connection<S>,
    /// The upstream session, once opened (`link.rs`).
    upstream: Option<UpstreamClient<D::Stream>>,
    /// How the upstream is reached.
    dialer: D,
    /// An upstream session was opened (it may be closed again).
    opened_upstream: bool,
    /// Why the session is ending, once known (for sessions the MTA never saw).
    ended: Option<NoUpstream>,
    /// Breaks of command synchronization so far.
    sync_violations: u32,
    /// Recipients refused since the last delivery (`harvest.rs`).
    refused_rcpts: u32,
    /// The first command came before the greeting (`early_talker` judged it).
    talked_early: bool,
    /// When the upstream last did something for this client.
    upstream_used: Instant,
    /// Upstream sessions given back because the client was slow.
    releases: u32,
    /// What doorman remembers across sessions.
    shield: Arc<crate::shield::Shield>,
    /// The state this session started with (kept across a reload).
    shared: Arc<Shared>,
    config: Arc<Config>,
    /// Bytes spooled by all sessions (`data.spool_max_total`).
    spooled: Arc<std::sync::atomic::AtomicU64>,
    /// The session id, for logs and reply templates.
    id: String,
    /// Where the client came from (after any PROXY header) and the listener's TLS mode.
    client: ClientInfo,
    /// The upstream's extensions from the last EHLO relayed.
    upstream_caps: Capabilities,
    /// XCLIENT was sent (once per upstream connection).
    identity_sent: bool,
    /// The client said EHLO (not HELO).
    esmtp: bool,
    /// The client is on a `helo.exempt` network.
    helo_exempt: bool,
    /// HELO/EHLO and client rule findings, kept for the whole connection.
    findings: self::policy::Findings,
    /// Connect-time client checks still running.
    client_check: self::policy::ClientCheck,
    /// The client came from the pass cache, or passed in this session.
    passed: bool,
    /// The client's forward-confirmed PTR name, once known.
    client_name: Option<String>,
    ehlo_policy: EhloPolicy,
    /// The HELO/EHLO argument, once the upstream accepted it.
    helo: Option<String>,
    /// Extensions advertised to the client (none before EHLO).
    advertised: Advertised,
    txn: Transaction,
    /// A message arriving in BDAT chunks, until its last.
    chunks: Option<Box<self::chunking::Chunks>>,
    /// Protocol errors so far (closing at `limits.max_errors`).
    errors: u32,
    /// Commands that moved no mail since the last delivery (`limits.max_junk_commands`).
    junk: u32,
    authenticated: bool,
    /// Messages the upstream accepted.
    delivered: u32,
    /// Scanner verdicts of the current message, for the transaction log.
    verdicts: Vec<String>,
    /// Bounds the waits for the client: idle, session and DATA deadlines.
    timer: Timer,
    /// When a slow client's upstream session is given back.
    release_timer: Timer,
}

impl<S: Io, D: Dialer> Session<S, D> {
    fn host(&self) -> &str {
        self.config.hostname.as_str()
    }

    fn idle_timeout(&self) -> Duration {
        self.config.limits.idle_timeout
    }

    async fn run(mut self, shutdown: CancellationToken) {
        let outcome = self.command_loop(&shutdown).await;
        match &outcome {
            Ok(()) => {}
            Err(SessionError::Client(e)) => debug!(error = %e, "client connection failed"),
            Err(SessionError::Upstream(e)) => {
                warn!(error = %e, stage = %e.stage(), kind = e.kind(), "upstream failed; closing session");
                metrics().upstream_error(e.stage().as_str(), e.kind());
                // Without the client's identity the upstream would judge it
                // by doorman's address: nothing is relayed, the client retries.
                // A late connect that fails is the service being unavailable.
                let reply = match e.stage() {
                    Stage::Identity | Stage::Connect | Stage::Greeting | Stage::StartTls => {
                        replies::service_unavailable(self.host())
                    }
                    _ => replies::upstream_failed(self.host()),
                };
                self.conn.queue(&reply);
            }
            Err(SessionError::Abandoned(reply)) => self.conn.queue(reply),
        }
        if !self.opened_upstream {
            metrics().session_without_upstream(self.no_upstream_reason(&outcome));
        }
        self.conn.close().await;
        self.findings.log_repeats();
        info!(delivered = self.delivered, errors = self.errors, "session closed");
        if matches!(outcome, Err(SessionError::Upstream(_) | SessionError::Abandoned(_))) {
            self.upstream = None;
        }
        self.close_upstream().await;
    }

    async fn command_loop(&mut self, shutdown: &CancellationToken) -> Result<(), SessionError> {
        let session_deadline = Instant::now() + self.config.limits.session_timeout;
        loop {
            // A line already buffered was sent before the replies still
            // queued: it was pipelined.
            let (input, pipelined) = match self.conn.buffered_line() {
                Some(input) => (input, !std::mem::take(&mut self.talked_early)),
                None => {
                    if !self.flush_replies(session_deadline, shutdown).await? {
                        return Ok(());
                    }
                    self.talked_early = false;
                    match self.next_input(session_deadline, shutdown).await? {
                        Some(input) => (input, false),
                        None => return Ok(()),
                    }
                }
            };
            if self.on_input(input, pipelined).await? == Flow::Close {
                return Ok(());
            }
        }
    }

    async fn dispatch(&mut self, cmd: Command) -> Step {
        if is_junk(&cmd) && self.junk_over_limit() == Flow::Close {
            return Ok(Flow::Close);
        }
        let handling = self.config.commands.clone();
        match cmd {
            Command::Helo { domain } => self.on_helo(domain, false).await,
            Command::Ehlo { domain } => self.on_helo(domain, true).await,
            Command::Mail { path, params } => self.on_mail(path, params).await,
            Command::Rcpt { path, params } => self.on_rcpt(path, params).await,
            Command::Data => self.on_data().await,
            Command::Bdat { size, last } => self.on_bdat(size, last).await,
            Command::Rset => self.on_rset().await,
            Command::Noop => Ok(self.reply(replies::ok())),
            Command::Quit => {
                self.ended = Some(NoUpstream::Quit);
                let reply = replies::bye(self.host());
                self.conn.queue(&reply);
                Ok(Flow::Close)
            }
            cmd @ Command::Vrfy { .. } => self.on_query(&cmd, handling.vrfy, replies::vrfy()).await,
            cmd @ Command::Expn { .. } => self.on_query(&cmd, handling.expn, replies::expn()).await,
            cmd @ Command::Help { .. } => self.on_query(&cmd, handling.help, replies::help()).await,
            Command::Auth { mechanism, initial } => self.on_auth(mechanism, initial).await,
            Command::StartTls => self.on_starttls().await,
        }
    }

    /// Counts a command that moves no mail; beyond `limits.max_junk_commands`
    /// each one is also an error, and the session closes at `max_errors`.
    fn junk_over_limit(&mut self) -> Flow {
        self.junk = self.junk.saturating_add(1);
        if self.junk <= self.config.limits.max_junk_commands {
            return Flow::Continue;
        }
        self.count_error(Reason::JunkCommand)
    }

    /// Queues a reply and goes on.
    fn reply(&mut self, reply: Reply) -> Flow {
        self.conn.queue(&reply);
        Flow::Continue
    }

    /// Queues the reply to a client mistake, counted under `reason`; closes
    /// after `limits.max_errors`.
    fn protocol_error(&mut self, reason: Reason, reply: Reply) -> Flow {
        self.conn.queue(&reply);
        self.count_error(reason)
    }

    /// Counts an error under `reason`; at `limits.max_errors` queues the
    /// 421 and closes.
    fn count_error(&mut self, reason: Reason) -> Flow {
        metrics().reject(reason);
        self.errors += 1;
        if self.errors >= self.config.limits.max_errors {
            let reply = replies::too_many_errors(self.host());
            self.conn.queue(&reply);
            metrics().reject(Reason::TooManyErrors);
            self.ended = Some(NoUpstream::TooManyErrors);
            return Flow::Close;
        }
        Flow::Continue
    }

    /// Relays an upstream reply; a 421 closes the session.
    fn relay(&mut self, upstream_reply: Reply) -> Flow {
        let closing = upstream_reply.code() == 421;
        let reply = replies::relayed(upstream_reply, self.host());
        self.conn.queue(&reply);
        if closing { Flow::Close } else { Flow::Continue }
    }
}

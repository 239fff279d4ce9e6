//! The session's upstream connection, opened late: at the first command that
//! needs the MTA (MAIL from a client no rule refuses, AUTH, a VRFY passed
//! through), never for a client doorman refuses or that never gets that
//! far. Opening it is the whole start of an upstream session: the PROXY
//! header of the identity mode, the greeting, STARTTLS toward the upstream,
//! XCLIENT, and the client's own HELO/EHLO relayed.

use tracing::{debug, info, warn};

use super::start::connect_upstream;
use super::{Session, SessionError};
use crate::metrics::NoUpstream;
use crate::metrics::{Reason, metrics};
use crate::replies;
use crate::tls::Io;
use crate::upstream::{Dialer, Stage, UpstreamClient, UpstreamError};
use crate::wire::{Capabilities, Command, Reply};

/// How often one session may give its upstream session back.
const MAX_RELEASES: u32 = 3;

/// Below this average rate (Postfix's `smtpd_min_data_rate`) a message
/// that has taken `upstream.release_after` gives the upstream session back.
pub(super) const MIN_DATA_RATE: f64 = 500.0;

impl<S: Io, D: Dialer> Session<S, D> {
    /// The upstream connection, opened now if there is none yet.
    ///
    /// # Errors
    /// The upstream cannot be reached or refused the session's start (the
    /// client gets a 421), or the client's connection failed meanwhile.
    pub(super) async fn upstream(&mut self) -> Result<&mut UpstreamClient<D::Stream>, SessionError> {
        if self.upstream.is_none() {
            self.open_upstream(true).await?;
        }
        Ok(self.connected()?)
    }

    /// The upstream connection that is open.
    ///
    /// # Errors
    /// There is none: it failed earlier (treated as closed).
    pub(super) fn connected(&mut self) -> Result<&mut UpstreamClient<D::Stream>, UpstreamError> {
        self.upstream_used = tokio::time::Instant::now();
        self.upstream.as_mut().ok_or(UpstreamError::Closed { stage: Stage::Idle })
    }

    /// Opens the upstream session for this client: connection, identity
    /// (unless `identity` is false: the caller sends it with the HELO it
    /// relays next), and the client's HELO/EHLO (a refusal of it is logged;
    /// the upstream then answers MAIL as it sees fit).
    pub(super) async fn open_upstream(&mut self, identity: bool) -> Result<(), SessionError> {
        // XCLIENT's NAME and the rules need the connect-time checks' results.
        self.finish_client_check().await;
        let (client, _greeting) = connect_upstream(&self.dialer, &self.shared, self.client).await?;
        metrics().upstream_sessions.inc();
        debug!("upstream session opened");
        self.upstream = Some(client);
        self.opened_upstream = true;
        self.identity_sent = false;
        let helo = self.helo.clone();
        if identity {
            self.send_xclient(helo.as_deref(), self.esmtp).await?;
        }
        let Some(domain) = helo else {
            return Ok(());
        };
        let cmd = if self.esmtp { Command::Ehlo { domain } } else { Command::Helo { domain } };
        let reply = self.connected()?.command(&cmd, Stage::Helo).await?;
        if !reply.is_positive() {
            warn!(reply = %reply, "upstream refused the client's HELO/EHLO at the late connect");
        } else if self.esmtp {
            self.upstream_caps = Capabilities::from_ehlo(&reply);
            if self.shield.upstream_caps.get().is_none() {
                self.shield.upstream_caps.learn(&self.upstream_caps);
            }
        }
        self.replay_transaction().await
    }

    /// After a release: MAIL (after XFORWARD) and the accepted RCPTs again.
    /// An answer other than the first time's ends the session with a 4xx;
    /// nothing was delivered, and the client sends the message again later.
    async fn replay_transaction(&mut self) -> Result<(), SessionError> {
        let replay = self.txn.replay().to_vec();
        if replay.is_empty() {
            return Ok(());
        }
        debug!(commands = replay.len(), "building the transaction again at the upstream");
        self.send_xforward().await?;
        for cmd in &replay {
            let stage = if matches!(cmd, Command::Mail { .. }) { Stage::Mail } else { Stage::Rcpt };
            let reply = self.connected()?.command(cmd, stage).await?;
            if !reply.is_positive() {
                warn!(reply = %reply, "the upstream answered differently when the transaction was built again");
                return Err(UpstreamError::Unexpected { stage, reply }.into());
            }
        }
        Ok(())
    }

    /// The client is slow: its upstream session goes back to the MTA (QUIT).
    /// The transaction stays here, to be built again when the client next
    /// needs the upstream. A client slow [`MAX_RELEASES`] times already is
    /// not given another session: it gets `421 4.4.2` (each replay costs the
    /// MTA a connection and its recipient lookups again).
    ///
    /// # Errors
    /// [`SessionError::Abandoned`] for that client.
    pub(super) async fn release_upstream(&mut self) -> Result<(), SessionError> {
        let Some(upstream) = self.upstream.take() else {
            return Ok(());
        };
        metrics().upstream_releases.inc();
        self.releases += 1;
        if self.releases > MAX_RELEASES {
            info!(releases = MAX_RELEASES, "client too slow again; closing");
            metrics().reject(Reason::SlowClient);
            return Err(SessionError::Abandoned(replies::too_slow(self.host())));
        }
        info!(transaction = self.txn.is_open(), "client is slow; upstream session released");
        upstream.quit().await;
        Ok(())
    }

    /// When to give the upstream session back if the client does not use it
    /// again (`upstream.release_after` after its last use: commands that
    /// need no upstream, such as NOOP, do not count); `None`: there is none.
    pub(super) fn release_at(&self) -> Option<tokio::time::Instant> {
        let after = self.config.upstream.release_after;
        // An authenticated session cannot be built again without the credentials.
        (self.upstream.is_some() && !after.is_zero() && !self.authenticated).then(|| self.upstream_used + after)
    }

    /// Why a session that never opened an upstream session ended.
    pub(super) fn no_upstream_reason(&self, outcome: &Result<(), SessionError>) -> NoUpstream {
        match (outcome, self.ended) {
            (Err(SessionError::Upstream(_)), _) => NoUpstream::UpstreamDown,
            (_, Some(reason)) if reason != NoUpstream::Quit => reason,
            _ if self.findings.blocking() => NoUpstream::Refused,
            (_, ended) => ended.unwrap_or(NoUpstream::ClientClosed),
        }
    }

    /// Says QUIT to the upstream, if a session is open.
    pub(super) async fn close_upstream(&mut self) {
        if let Some(upstream) = self.upstream.take() {
            upstream.quit().await;
        }
    }
}

/// What the upstream says while no command is pending; never, without one.
pub(super) async fn unsolicited<U: Io>(upstream: Option<&mut UpstreamClient<U>>) -> Result<Reply, UpstreamError> {
    match upstream {
        Some(upstream) => upstream.unsolicited().await,
        None => std::future::pending().await,
    }
}

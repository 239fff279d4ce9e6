//! The command loop's waits: flushing the queued replies, and waiting for
//! the client's next line, bounded by the idle and session limits, watching
//! the upstream for a 421 or a close, and giving the upstream session back
//! when the client keeps doorman waiting (`upstream.release_after`).

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use super::connection::Input;
use super::{Session, SessionError, link};
use crate::metrics::{NoUpstream, Reason, metrics};
use crate::replies;
use crate::tls::Io;
use crate::upstream::Dialer;

impl<S: Io, D: Dialer> Session<S, D> {
    /// Sends the queued replies. A client that does not read: the write is
    /// bounded by the idle timeout, and the session limit and shutdown
    /// interrupt it too (a write that can finish, finishes). False: the
    /// session is over.
    pub(super) async fn flush_replies(
        &mut self,
        session_deadline: Instant,
        shutdown: &CancellationToken,
    ) -> Result<bool, SessionError> {
        tokio::select! {
            biased;
            flushed = self.conn.flush() => flushed.map(|()| true).map_err(SessionError::from),
            () = tokio::time::sleep_until(session_deadline) => {
                self.conn.abandon_output();
                metrics().reject(Reason::SessionTimeout);
                Ok(false)
            }
            () = shutdown.cancelled() => {
                self.conn.abandon_output();
                Ok(false)
            }
        }
    }

    /// Waits for the client's next line. `None`: the session is over (the
    /// reply saying why is queued): the upstream spoke or went away, the
    /// client was idle, the session limit passed, or doorman shuts down;
    /// the last two only between transactions.
    pub(super) async fn next_input(
        &mut self,
        session_deadline: Instant,
        shutdown: &CancellationToken,
    ) -> Result<Option<Input>, SessionError> {
        let idle_deadline = Instant::now() + self.idle_timeout();
        let between = !self.txn.is_open();
        let deadline = if between { idle_deadline.min(session_deadline) } else { idle_deadline };
        let mut release_at = self.release_at();
        let (reply, reason) = loop {
            tokio::select! {
                input = self.conn.next_line() => return Ok(Some(input?)),
                said = link::unsolicited(self.upstream.as_mut()) => {
                    match said {
                        Ok(r) => warn!(reply = %r, "upstream spoke out of turn; closing session"),
                        Err(e) => warn!(error = %e, "upstream went away; closing session"),
                    }
                    metrics().upstream_error("idle", "closed");
                    break (replies::upstream_failed(self.host()), None);
                }
                () = self.release_timer.until(release_at.unwrap_or(deadline)), if release_at.is_some() => {
                    self.release_upstream().await?;
                    release_at = None;
                }
                () = self.timer.until(deadline) => {
                    self.ended = Some(NoUpstream::Timeout);
                    break if deadline == idle_deadline {
                        (replies::idle_timeout(self.host()), Some(Reason::IdleTimeout))
                    } else {
                        (replies::session_too_long(self.host()), Some(Reason::SessionTimeout))
                    };
                }
                () = shutdown.cancelled(), if between => {
                    self.ended = Some(NoUpstream::Shutdown);
                    break (replies::shutting_down(self.host()), None);
                }
            }
        };
        if let Some(reason) = reason {
            metrics().reject(reason);
        }
        self.conn.queue(&reply);
        Ok(None)
    }
}

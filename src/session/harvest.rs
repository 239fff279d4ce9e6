//! The directory-harvest defence. A client that collects refused
//! recipients (5xx to RCPT: the MTA telling unknown users from real ones,
//! which is what smtp-user-enum reads) is slowed down, then cut off, as
//! Postfix's `smtpd_soft_error_limit`/`smtpd_hard_error_limit` and
//! Exchange's tarpitting do. Exempt and authenticated clients are not
//! counted; each recipient of a delivered message takes one refusal off.

use tracing::info;

use super::{Flow, Session};
use crate::metrics::{ActionLabels, metrics};
use crate::replies;
use crate::tls::Io;
use crate::upstream::Dialer;
use crate::wire::Reply;

impl<S: Io, D: Dialer> Session<S, D> {
    /// Relays the reply to a RCPT. A refusal is counted: beyond
    /// `limits.harvest_tarpit_after` it waits `limits.harvest_delay` first,
    /// and at `limits.max_refused_recipients` the session closes with
    /// `421 4.7.0` after it.
    pub(super) async fn relay_rcpt(&mut self, reply: Reply) -> Flow {
        if reply.code() < 500 || !self.policy_applies() {
            return self.relay(reply);
        }
        self.refused_rcpts += 1;
        let (refused, limits) = (self.refused_rcpts, &self.config.limits);
        let (tarpit_after, max, delay) =
            (limits.harvest_tarpit_after, limits.max_refused_recipients, limits.harvest_delay);
        if max > 0 && refused >= max {
            info!(refused, "too many refused recipients (a directory harvest?); closing");
            metrics().harvest.get_or_create(&ActionLabels { action: "closed" }).inc();
            self.relay(reply);
            self.conn.queue(&replies::too_many_refused_recipients(self.host()));
            return Flow::Close;
        }
        if tarpit_after > 0 && refused > tarpit_after {
            if refused == tarpit_after + 1 {
                info!(refused, delay = ?delay, "refused recipients: tarpit on");
                metrics().harvest.get_or_create(&ActionLabels { action: "tarpit" }).inc();
            }
            tokio::time::sleep(delay).await;
        }
        self.relay(reply)
    }
}

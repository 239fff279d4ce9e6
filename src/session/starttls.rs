//! STARTTLS toward the client (RFC 3207). Anything the client pipelined after
//! STARTTLS is discarded, never executed after the handshake
//! (CVE-2011-0411), and the session forgets everything it knew: HELO,
//! extensions, the transaction. A new EHLO is required.

use crate::tls::Io;
use crate::upstream::Dialer;
use tracing::{debug, warn};

use super::{Flow, Session, Step};
use crate::config::ListenerTls;
use crate::metrics::{Reason, TlsLabels, metrics};
use crate::replies;
use crate::wire::ehlo::Advertised;

impl<S: Io, D: Dialer> Session<S, D> {
    /// STARTTLS is offered on this connection now.
    pub(super) fn starttls_offered(&self) -> bool {
        self.shared.tls.is_some()
            && matches!(self.client.tls, ListenerTls::Starttls | ListenerTls::Required)
            && !self.conn.is_tls()
    }

    /// STARTTLS reset the session and no HELO/EHLO came since (RFC 3207 §4.2).
    pub(super) fn needs_ehlo(&self) -> bool {
        self.conn.is_tls() && self.client.tls != ListenerTls::Implicit && self.helo.is_none()
    }

    pub(super) async fn on_starttls(&mut self) -> Step {
        if self.conn.is_tls() {
            return Ok(self.protocol_error(Reason::Tls, replies::tls_already_active()));
        }
        let Some(acceptor) = self.shared.tls.clone().filter(|_| self.starttls_offered()) else {
            return Ok(self.protocol_error(Reason::NotOffered, replies::starttls_not_offered()));
        };
        if self.txn.is_open() {
            return Ok(self.protocol_error(Reason::Sequence, replies::transaction_in_progress()));
        }
        if self.authenticated {
            // The upstream holds the authenticated state; it cannot be reset
            // from here, so TLS after AUTH is refused rather than half-reset.
            return Ok(self.protocol_error(Reason::Tls, replies::starttls_after_auth()));
        }
        self.conn.queue(&replies::starttls_ready());
        self.conn.flush().await?;
        let handshake = tokio::time::timeout(self.idle_timeout(), self.conn.start_tls(&acceptor)).await;
        let side = "client_starttls";
        match handshake {
            Ok(Ok(discarded)) => {
                metrics().tls_handshakes.get_or_create(&TlsLabels { side, result: "ok" }).inc();
                if discarded > 0 {
                    warn!(discarded, "client pipelined plaintext after STARTTLS; discarded");
                    metrics().reject(Reason::StarttlsPipelining);
                }
            }
            Ok(Err(e)) => {
                metrics().tls_handshakes.get_or_create(&TlsLabels { side, result: "failed" }).inc();
                debug!(error = %e, "TLS handshake failed");
                return Ok(Flow::Close);
            }
            Err(_) => {
                metrics().tls_handshakes.get_or_create(&TlsLabels { side, result: "failed" }).inc();
                debug!("TLS handshake timed out");
                return Ok(Flow::Close);
            }
        }
        self.helo = None;
        self.esmtp = false;
        self.advertised = Advertised { size: self.ehlo_policy.max_message_size, keywords: Vec::new() };
        self.reset_transaction();
        Ok(Flow::Continue)
    }
}

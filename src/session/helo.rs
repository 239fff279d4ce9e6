//! HELO and EHLO: relayed to the upstream with the client's name (after
//! XCLIENT when that is the identity mode), answered with doorman's own name
//! and filtered extension list.

use super::{Session, Step};
use crate::metrics::Reason;
use crate::replies;
use crate::tls::Io;
use crate::upstream::Stage;
use crate::wire::Command;
use crate::wire::ehlo::{Advertised, Capabilities, advertise};

impl<S: Io, U: Io> Session<S, U> {
    pub(super) async fn on_helo(&mut self, domain: String, extended: bool) -> Step {
        if self.policy_applies() {
            let shared = self.shared.clone();
            let found = shared.helo.check_helo(self.client.peer.ip(), self.client.local.ip(), &domain).await;
            self.record(found);
            if let Some(refusal) = self.early_refusal().await {
                return Ok(self.protocol_error(Reason::Helo, refusal));
            }
        }
        self.send_xclient(Some(&domain), extended).await?;
        let cmd =
            if extended { Command::Ehlo { domain: domain.clone() } } else { Command::Helo { domain: domain.clone() } };
        let reply = self.upstream.command(&cmd, Stage::Helo).await?;
        if !reply.is_positive() {
            return Ok(self.relay(reply));
        }
        // A new HELO/EHLO ends any transaction, here as at the upstream (RFC 5321 §4.1.4).
        self.txn.reset();
        self.helo = Some(domain);
        self.esmtp = extended;
        if extended {
            self.upstream_caps = Capabilities::from_ehlo(&reply);
            self.ehlo_policy.starttls = self.starttls_offered();
            self.ehlo_policy.auth = self.conn.is_tls() || self.config.auth.allow_plaintext;
            let (ours, advertised) = advertise(self.host(), &self.upstream_caps, &self.ehlo_policy);
            self.advertised = advertised;
            Ok(self.reply(ours))
        } else {
            self.upstream_caps = Capabilities::default();
            self.advertised = Advertised { size: self.ehlo_policy.max_message_size, keywords: Vec::new() };
            Ok(self.reply(replies::helo(self.host())))
        }
    }
}

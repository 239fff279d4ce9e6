//! HELO and EHLO: answered with doorman's own name and filtered extension
//! list. Before the upstream session exists (the late connect), the list is
//! built from the upstream's extensions as last seen, and the name is
//! relayed when the session opens; once it is open, HELO/EHLO is relayed
//! (after XCLIENT when that is the identity mode).

use super::{Session, SessionError, Step};
use crate::metrics::Reason;
use crate::replies;
use crate::tls::Io;
use crate::upstream::Dialer;
use crate::upstream::Stage;
use crate::wire::ehlo::{Advertised, Capabilities, advertise};
use crate::wire::{Command, Reply};

impl<S: Io, D: Dialer> Session<S, D> {
    pub(super) async fn on_helo(&mut self, domain: String, extended: bool) -> Step {
        if self.policy_applies() {
            let shared = self.shared.clone();
            let found = shared.helo.check_helo(self.client.peer.ip(), self.client.local.ip(), &domain).await;
            self.record(found);
            if let Some(refusal) = self.early_refusal().await {
                return Ok(self.protocol_error(Reason::Helo, refusal));
            }
        }
        if self.upstream.is_none() && self.shield.upstream_caps.get().is_none() {
            // The upstream's extensions are not known yet (it was down since
            // start-up): this client's own upstream session learns them. The
            // new HELO/EHLO ends what came before, and XCLIENT goes out with
            // it (`relay_helo`), not before it without one.
            self.reset_transaction();
            self.helo = None;
            self.open_upstream(false).await?;
        }
        let relayed = match self.upstream.is_some() {
            true => match self.relay_helo(&domain, extended).await? {
                Ok(reply) => Some(reply),
                Err(refused) => return Ok(self.relay(refused)),
            },
            false => None,
        };
        // A new HELO/EHLO ends any transaction, here as at the upstream (RFC 5321 §4.1.4).
        self.reset_transaction();
        self.helo = Some(domain);
        self.esmtp = extended;
        if extended {
            self.upstream_caps = match &relayed {
                Some(reply) => Capabilities::from_ehlo(reply),
                None => self.shield.upstream_caps.get().map(|c| c.as_ref().clone()).unwrap_or_default(),
            };
            // What the MTA offers this client (after XCLIENT) may be tailored
            // to it: learned for everyone only when nothing better is known.
            if self.shield.upstream_caps.get().is_none() {
                self.shield.upstream_caps.learn(&self.upstream_caps);
            }
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

    /// Relays HELO/EHLO to the open upstream session (after XCLIENT, when
    /// that is the identity mode): `Ok(reply)` if accepted, `Err(reply)` if not.
    async fn relay_helo(&mut self, domain: &str, extended: bool) -> Result<Result<Reply, Reply>, SessionError> {
        self.send_xclient(Some(domain), extended).await?;
        let domain = domain.to_owned();
        let cmd = if extended { Command::Ehlo { domain } } else { Command::Helo { domain } };
        let reply = self.connected()?.command(&cmd, Stage::Helo).await?;
        Ok(if reply.is_positive() { Ok(reply) } else { Err(reply) })
    }
}

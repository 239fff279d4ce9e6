//! HELO and EHLO: relayed to the upstream with the client's name, answered
//! with doorman's own name and filtered extension list.

use tokio::io::{AsyncRead, AsyncWrite};

use super::{Flow, Session, Step};
use crate::replies;
use crate::upstream::Stage;
use crate::wire::Command;
use crate::wire::ehlo::{Advertised, Capabilities, advertise};

impl<S: AsyncRead + AsyncWrite + Unpin> Session<S> {
    pub(super) async fn on_helo(&mut self, domain: String, extended: bool) -> Step {
        let cmd = if extended {
            Command::Ehlo { domain }
        } else {
            Command::Helo { domain }
        };
        let reply = self.upstream.command(&cmd, Stage::Helo).await?;
        if !reply.is_positive() {
            return Ok(self.relay(reply));
        }
        // A new HELO/EHLO ends any transaction, here as at the upstream (RFC 5321 §4.1.4).
        self.txn.reset();
        let (Command::Ehlo { domain } | Command::Helo { domain }) = cmd else {
            return Ok(Flow::Continue);
        };
        self.helo = Some(domain);
        if extended {
            let (ours, advertised) = advertise(
                self.host(),
                &Capabilities::from_ehlo(&reply),
                &self.ehlo_policy,
            );
            self.advertised = advertised;
            Ok(self.reply(ours))
        } else {
            self.advertised = Advertised {
                size: self.ehlo_policy.max_message_size,
                keywords: Vec::new(),
            };
            Ok(self.reply(replies::helo(self.host())))
        }
    }
}

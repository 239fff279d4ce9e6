//! VRFY, EXPN and HELP: answered by doorman by default, so they reveal
//! nothing about the upstream's users or software; configurable to pass.

use super::{Session, Step};
use crate::config::Handling;
use crate::tls::Io;
use crate::upstream::Dialer;
use crate::upstream::Stage;
use crate::wire::{Command, Reply};

impl<S: Io, D: Dialer> Session<S, D> {
    pub(super) async fn on_query(&mut self, cmd: &Command, handling: Handling, local: Reply) -> Step {
        match handling {
            Handling::Local => Ok(self.reply(local)),
            Handling::Pass => {
                // A client the rules refuse never reaches the MTA.
                if let Some(refusal) = self.refusal().await {
                    return Ok(self.protocol_error(crate::metrics::Reason::Helo, refusal));
                }
                let reply = self.upstream().await?.command(cmd, Stage::Query).await?;
                Ok(self.relay(reply))
            }
        }
    }
}

//! AUTH: relayed to the upstream, including the `334` continuation dialogue.
//! doorman's authenticated state follows the upstream's `235` exactly. The
//! continuation lines are never parsed as commands and never logged.

use super::connection::Input;
use super::{Flow, Session, Step};
use crate::metrics::Reason;
use crate::replies;
use crate::tls::Io;
use crate::upstream::Dialer;
use crate::upstream::Stage;
use crate::wire::Command;
use crate::wire::command::is_sasl_response;

impl<S: Io, D: Dialer> Session<S, D> {
    pub(super) async fn on_auth(&mut self, mechanism: String, initial: Option<String>) -> Step {
        if self.client.tls == crate::config::ListenerTls::Required && !self.conn.is_tls() {
            return Ok(self.protocol_error(Reason::TlsRequired, replies::tls_required()));
        }
        if !self.advertised.has("AUTH") {
            return Ok(self.protocol_error(Reason::Auth, replies::auth_not_enabled()));
        }
        if self.authenticated {
            return Ok(self.protocol_error(Reason::Auth, replies::already_authenticated()));
        }
        if self.txn.is_open() {
            return Ok(self.protocol_error(Reason::Auth, replies::auth_in_transaction()));
        }
        // A client the rules refuse may still authenticate (a roaming user
        // behind an address without reverse DNS): authenticated sessions
        // skip the rules, so AUTH reaches the MTA, which limits its own
        // failed attempts.
        let mut reply = self.upstream().await?.command(&Command::Auth { mechanism, initial }, Stage::Auth).await?;
        while reply.code() == 334 {
            self.conn.queue(&reply);
            self.conn.flush().await?;
            let input = tokio::time::timeout(self.idle_timeout(), self.conn.next_line()).await;
            let response = match input {
                Ok(Ok(Input::Line(line))) => line.bytes,
                Ok(Ok(Input::TooLong)) => bytes::Bytes::from_static(b"*"),
                Ok(Ok(Input::Eof)) => return Ok(Flow::Close),
                Ok(Err(e)) => return Err(e.into()),
                Err(_) => {
                    let reply = replies::idle_timeout(self.host());
                    self.conn.queue(&reply);
                    return Ok(Flow::Close);
                }
            };
            // Anything that is not a SASL response cancels the exchange.
            let valid = std::str::from_utf8(&response).is_ok_and(is_sasl_response);
            let response: &[u8] = if valid { &response } else { b"*" };
            reply = self.connected()?.line(response, Stage::Auth).await?;
        }
        if reply.code() == 235 {
            self.authenticated = true;
        }
        Ok(self.relay(reply))
    }
}

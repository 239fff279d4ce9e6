//! MAIL, RCPT and RSET: checked against the transaction state and the
//! advertised extensions, then relayed; the upstream's replies reach the
//! client verbatim, so recipient validation stays with the MTA.

use super::transaction::SequenceError;
use super::{Session, Step};
use crate::config::Utf8WithoutSmtputf8;
use crate::metrics::{Reason, metrics};
use crate::replies;
use crate::tls::Io;
use crate::upstream::Dialer;
use crate::upstream::{Stage, UpstreamError};
use crate::wire::params::{check_mail, check_rcpt};
use crate::wire::{Command, Param, Reply};

impl<S: Io, D: Dialer> Session<S, D> {
    pub(super) async fn on_mail(&mut self, path: String, params: Vec<Param>) -> Step {
        if let Err(e) = self.txn.check_mail() {
            return Ok(self.protocol_error(Reason::Sequence, sequence_reply(e)));
        }
        if self.client.tls == crate::config::ListenerTls::Required && !self.conn.is_tls() {
            return Ok(self.protocol_error(Reason::TlsRequired, replies::tls_required()));
        }
        if self.needs_ehlo() {
            return Ok(self.protocol_error(Reason::Sequence, replies::ehlo_after_starttls()));
        }
        if self.helo.is_none() && self.policy_applies() {
            let found = self.shared.helo.check_missing_helo();
            self.record(found.into_iter().collect());
        }
        if let Some(refusal) = self.early_refusal().await {
            return Ok(self.protocol_error(Reason::Helo, refusal));
        }
        let utf8 = match check_mail(&params, &self.advertised) {
            Ok(utf8) => utf8,
            Err(e) => return Ok(self.protocol_error(Reason::Parameter, replies::param_error(&e))),
        };
        if !utf8 && !path.is_ascii() && !self.takes_utf8_without_smtputf8() {
            return Ok(self.protocol_error(Reason::Utf8, replies::utf8_needs_smtputf8()));
        }
        if self.refusal().await.is_some() {
            // Refused at RCPT (`helo.delay_reject`), and the upstream never
            // sees this client: the sender is accepted here.
            self.txn.mail_accepted(utf8, path);
            return Ok(self.reply(replies::sender_ok()));
        }
        self.remember_pass().await;
        self.upstream().await?;
        self.send_xclient(None, false).await?;
        self.send_xforward().await?;
        let cmd = Command::Mail { path: path.clone(), params };
        let reply = self.connected()?.command(&cmd, Stage::Mail).await?;
        if reply.is_positive() {
            self.txn.mail_accepted(utf8, path);
            self.txn.relayed(cmd);
        }
        Ok(self.relay(reply))
    }

    pub(super) async fn on_rcpt(&mut self, path: String, params: Vec<Param>) -> Step {
        let utf8 = match self.txn.check_rcpt(self.config.limits.max_recipients) {
            Ok(utf8) => utf8,
            Err(SequenceError::TooManyRecipients) => {
                metrics().reject(Reason::TooManyRecipients);
                return Ok(self.reply(replies::too_many_recipients()));
            }
            Err(e) => return Ok(self.protocol_error(Reason::Sequence, sequence_reply(e))),
        };
        if let Some(refusal) = self.refusal().await {
            self.txn.rcpt_answered(false, path);
            return Ok(self.protocol_error(Reason::Helo, refusal));
        }
        if let Err(e) = check_rcpt(&params, &self.advertised) {
            return Ok(self.protocol_error(Reason::Parameter, replies::param_error(&e)));
        }
        if !utf8 && !path.is_ascii() && !self.takes_utf8_without_smtputf8() {
            return Ok(self.protocol_error(Reason::Utf8, replies::utf8_needs_smtputf8()));
        }
        let cmd = Command::Rcpt { path: path.clone(), params };
        let reply = self.upstream().await?.command(&cmd, Stage::Rcpt).await?;
        self.txn.rcpt_answered(reply.is_positive(), path);
        if reply.is_positive() {
            self.txn.relayed(cmd);
        }
        Ok(self.relay_rcpt(reply).await)
    }

    /// A UTF-8 address without SMTPUTF8 (msmtp sends one) is relayed as
    /// the upstream would take it from the client directly: under
    /// `commands.utf8_without_smtputf8: upstream`, when it offers SMTPUTF8.
    fn takes_utf8_without_smtputf8(&self) -> bool {
        let offered = self.upstream_caps.has("SMTPUTF8")
            || self.shield.upstream_caps.get().is_some_and(|caps| caps.has("SMTPUTF8"));
        self.config.commands.utf8_without_smtputf8 == Utf8WithoutSmtputf8::Upstream && offered
    }

    pub(super) async fn on_rset(&mut self) -> Step {
        if !self.txn.is_open() {
            return Ok(self.reply(replies::ok()));
        }
        self.reset_transaction();
        match self.upstream.as_mut() {
            Some(upstream) => {
                let reply = upstream.command(&Command::Rset, Stage::Rset).await?;
                Ok(self.relay(reply))
            }
            None => Ok(self.reply(replies::ok())),
        }
    }

    /// Ends the upstream's transaction without delivering anything.
    pub(super) async fn reset_upstream(&mut self) -> Result<(), UpstreamError> {
        self.reset_transaction();
        let Some(upstream) = self.upstream.as_mut() else {
            return Ok(());
        };
        let reply = upstream.command(&Command::Rset, Stage::Rset).await?;
        if reply.is_positive() { Ok(()) } else { Err(UpstreamError::Unexpected { stage: Stage::Rset, reply }) }
    }
}

/// The reply for a command out of sequence.
pub(super) fn sequence_reply(e: SequenceError) -> Reply {
    match e {
        SequenceError::NestedMail => replies::nested_mail(),
        SequenceError::NeedMail => replies::need_mail(),
        SequenceError::NeedRcpt => replies::need_rcpt(),
        SequenceError::NoValidRecipients => replies::no_valid_recipients(),
        SequenceError::TooManyRecipients => replies::too_many_recipients(),
        SequenceError::InChunks => replies::in_chunks(),
        SequenceError::BinaryNeedsBdat => replies::binary_needs_bdat(),
    }
}
